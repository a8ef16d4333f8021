"""Item tokenizers (Semantic IDs): ADC-SID, the RQ-VAE, RQ-KMeans and OPQ baselines and the
behaviour-content aligned LETTER and MM-RQ-VAE.

All of them share one contract (:mod:`sksid.tokenizers._base`): ``fit_transform(features)``
returns ``(codes, weights)``; on interaction histories inside a Pipeline they learn the
behavioural embeddings from the training fold and return an
:class:`~sksid.sequences.SIDSequences`.
"""
from .adcsid import ADCSIDTokenizer
from .letter import LETTERTokenizer
from .mmrqvae import MMRQVAETokenizer
from .opq import OPQTokenizer
from .rqkmeans import RQKMeansTokenizer
from .rqvae import RQVAETokenizer

__all__ = ["ADCSIDTokenizer", "RQVAETokenizer", "RQKMeansTokenizer", "OPQTokenizer", "LETTERTokenizer", "MMRQVAETokenizer"]
