"""Residual k-means tokenizer (RQ-KMeans)."""
from __future__ import annotations

import numpy as np
import torch

from .._validation import POSITIVE_INT
from ..nn.codebook import residual_kmeans
from ._base import BaseTokenizer, tokenizer_docstring

__all__ = ["RQKMeansTokenizer"]


@tokenizer_docstring
class RQKMeansTokenizer(BaseTokenizer):
    """Residual k-means on the standardised, concatenated features.

    Level ``l`` runs k-means (k-means++ init, on the device) on the residual left by
    levels ``< l``; an item's code is its cluster at each level. All weights are 1.
    Input forms and the Pipeline path are those of every sksid tokenizer
    (:mod:`sksid.tokenizers._base`).

    Parameters
    ----------
    codebook_size : int, default=100
        K, centroids per level (the catalogue needs at least K items).
    n_levels : int, default=3
        Code length L: k-means runs on the residual of the previous levels.
    n_iter : int, default=50
        Lloyd iterations per level.
    {tokenizer_common}

    Attributes
    ----------
    centroids_ : list of ndarray (codebook_size, d), one per level
    codes_, weights_, codebook_sizes_, collisions_, collision_rate_, recon_loss_

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.RandomState(0).randn(40, 5)
    >>> codes, weights = RQKMeansTokenizer(codebook_size=4, n_levels=2, random_state=0,
    ...                                    device="cpu").fit_transform(X)
    >>> codes.shape
    (40, 2)
    """

    _parameter_constraints: dict = {
        **BaseTokenizer._parameter_constraints,
        "n_levels": [POSITIVE_INT],
        "n_iter": [POSITIVE_INT],
    }

    def __init__(self, codebook_size=100, n_levels=3, n_iter=50, device="auto", random_state=None,
                 verbose=0, modality_dims=None, behavior_modality="collab", disambiguate=False,
                 behavior_estimator=None, n_items=None):
        self.codebook_size = codebook_size
        self.n_levels = n_levels
        self.n_iter = n_iter
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.modality_dims = modality_dims
        self.behavior_modality = behavior_modality
        self.disambiguate = disambiguate
        self.behavior_estimator = behavior_estimator
        self.n_items = n_items

    def _fit_features(self, std, raw, seed, resume):
        device = self.device_
        x = torch.as_tensor(self._balanced_concat(std), device=device)
        cents, _, _ = residual_kmeans(x, int(self.codebook_size), int(self.n_levels),
                                      n_iter=int(self.n_iter), generator=torch.Generator().manual_seed(seed))
        self.centroids_ = [c.cpu().numpy() for c in cents]

    def _encode(self, std, raw, rows=None, n_rows=None):
        res = torch.as_tensor(self._balanced_concat(std))
        x = res.clone()
        codes = []
        for c in self.centroids_:
            c = torch.as_tensor(c)
            lab = torch.cdist(res, c).argmin(1)
            codes.append(lab)
            res = res - c[lab]
        codes = torch.stack(codes, 1).numpy()
        recon = (res ** 2).sum(1).numpy()
        del x
        return codes, np.ones(codes.shape, np.float32), recon

    def _code_length(self):
        return int(self.n_levels)
