"""ADC-SID's alignment pieces (Eq. 15-20), numpy / torch only: the reliability normalisation
N_norm, the alignment strength w (computed once over the catalogue by the estimator) and the
in-batch InfoNCE loss of :meth:`~sksid.nn.adcsid.ADCSIDModule.alignment_loss`."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["normalized_norm", "alignment_strength", "info_nce"]


def normalized_norm(norms, n_min, n_max):
    """Eq. 15-16: N_norm = (||e_b|| - N_min) / (N_max - N_min), clipped to [0, 1].

    When ``N_max == N_min`` every item gets N_norm = 1 (so w = 1 in Eq. 17).
    """
    norms = np.asarray(norms, dtype=np.float64)
    if n_max - n_min <= 0:
        return np.ones_like(norms)
    return np.clip((norms - n_min) / (n_max - n_min), 0.0, 1.0)


def alignment_strength(n_norm, alpha=10.0, beta=9.0):
    """Eq. 17: w = sigma(alpha * N_norm - beta) / sigma(alpha - beta); w(N_norm = 1) = 1.

    Examples
    --------
    >>> alignment_strength(np.array([0.0, 1.0])).round(4).tolist()
    [0.0002, 1.0]
    """
    n_norm = np.asarray(n_norm, dtype=np.float64)

    def sig(v):
        return 1.0 / (1.0 + np.exp(-v))

    return sig(alpha * n_norm - beta) / sig(alpha - beta)


def info_nce(anchor, positive, temperature):
    """Per-row in-batch InfoNCE with cosine similarity (Eq. 18-20): the row's own positive
    against the other rows of the batch as negatives. Returns a (B,) loss."""
    a = F.normalize(anchor.float(), dim=-1)
    p = F.normalize(positive.float(), dim=-1)
    logits = a @ p.T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return F.cross_entropy(logits, target, reduction="none")
