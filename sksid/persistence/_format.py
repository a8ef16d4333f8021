"""The file format's constants and the allow-lists of classes :func:`sksid.load` may build."""
from __future__ import annotations

import re

FORMAT = "sksid"
FORMAT_VERSION = 1
_META, _ARRAYS, _WEIGHTS = "meta.json", "arrays.safetensors", "weights.safetensors"
_TAG = "@"
# numpy dtypes the safetensors numpy backend stores (kinds: bool, int, uint, float)
_ARRAY_KINDS = "biuf"
_ATTR_NAME = re.compile(r"^_?[A-Za-z][A-Za-z0-9_]*$")


def _estimator_classes() -> dict:
    """The allow-list of estimator classes :func:`sksid.load` may instantiate, by name."""
    from sklearn.pipeline import Pipeline

    from ..pipeline import RecommenderPipeline
    from ..ranker import SIDRanker
    from ..recommenders import (ContentKNN, IntRRRecommender, MostPopular, RPGRecommender, SASRecRecommender,
                                 TIGERRecommender)
    from ..tokenizers import (ADCSIDTokenizer, LETTERTokenizer, MMRQVAETokenizer, OPQTokenizer, RQKMeansTokenizer,
                              RQVAETokenizer)

    classes = (MostPopular, SASRecRecommender, IntRRRecommender, TIGERRecommender, RPGRecommender, ContentKNN,
               ADCSIDTokenizer, RQVAETokenizer, RQKMeansTokenizer, OPQTokenizer, LETTERTokenizer, MMRQVAETokenizer,
               SIDRanker, Pipeline, RecommenderPipeline)
    return {c.__name__: c for c in classes}


def _module_classes() -> dict:
    """The allow-list of torch module classes :func:`sksid.load` may instantiate, by name."""
    from ..nn.adcsid import ADCSIDModule
    from ..nn.intrr import IntRRModule
    from ..nn.letter import LETTERModule
    from ..nn.mmrqvae import MMRQVAEModule
    from ..nn.ranker import PPNetRanker
    from ..nn.rpg import RPGModule
    from ..nn.rqvae import RQVAEModule
    from ..nn.sasrec import SASRecModule
    from ..nn.tiger import TIGERModule

    return {c.__name__: c for c in (SASRecModule, IntRRModule, TIGERModule, RPGModule, ADCSIDModule,
                                    RQVAEModule, LETTERModule, MMRQVAEModule, PPNetRanker)}
