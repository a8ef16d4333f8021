"""Optimised product quantisation tokenizer (OPQ)."""
from __future__ import annotations

import numpy as np
import torch

from .._validation import POSITIVE_INT
from ..nn.codebook import kmeans
from ._base import BaseTokenizer, tokenizer_docstring

__all__ = ["OPQTokenizer"]


@tokenizer_docstring
class OPQTokenizer(BaseTokenizer):
    """Optimised product quantisation (Ge et al., non-parametric OPQ).

    The standardised, concatenated features (zero-padded to a multiple of ``n_levels``
    columns) are rotated by an orthogonal ``R`` and split into ``n_levels`` subspaces, each
    quantised by k-means; ``n_iter`` alternations update the per-subspace k-means (warm
    started) and ``R`` by orthogonal Procrustes (SVD of ``X^T Y``). Codes are product
    codes (one per subspace, not hierarchical); all weights are 1. Input forms and the
    Pipeline path are those of every sksid tokenizer (:mod:`sksid.tokenizers._base`).

    Parameters
    ----------
    codebook_size : int, default=100
        K, centroids per subspace (the catalogue needs at least K items).
    n_levels : int, default=3
        Number of subspaces = code length L.
    n_iter : int, default=10
        Rotation / k-means alternations.
    kmeans_iter : int, default=10
        Lloyd iterations per subspace and alternation.
    {tokenizer_common}

    Attributes
    ----------
    rotation_ : ndarray (D, D)
    centroids_ : list of ndarray (codebook_size, D / n_levels)
    codes_, weights_, codebook_sizes_, collisions_, collision_rate_, recon_loss_

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.RandomState(0).randn(40, 6)
    >>> codes, weights = OPQTokenizer(codebook_size=4, n_levels=3, random_state=0,
    ...                               device="cpu").fit_transform(X)
    >>> codes.shape
    (40, 3)
    """

    _parameter_constraints: dict = {
        **BaseTokenizer._parameter_constraints,
        "n_levels": [POSITIVE_INT],
        "n_iter": [POSITIVE_INT],
        "kmeans_iter": [POSITIVE_INT],
    }

    def __init__(self, codebook_size=100, n_levels=3, n_iter=10, kmeans_iter=10, device="auto",
                 random_state=None, verbose=0, modality_dims=None, behavior_modality="collab",
                 disambiguate=False, behavior_estimator=None, n_items=None):
        self.codebook_size = codebook_size
        self.n_levels = n_levels
        self.n_iter = n_iter
        self.kmeans_iter = kmeans_iter
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.modality_dims = modality_dims
        self.behavior_modality = behavior_modality
        self.disambiguate = disambiguate
        self.behavior_estimator = behavior_estimator
        self.n_items = n_items

    def _pad(self, x):
        M = int(self.n_levels)
        D = x.shape[1]
        Dp = max(M, -(-D // M) * M)
        if Dp > D:
            x = torch.cat([x, x.new_zeros(x.shape[0], Dp - D)], 1)
        return x

    def _quantize(self, xr, cents):
        M = len(cents)
        sub = xr.shape[1] // M
        codes, parts = [], []
        for j, c in enumerate(cents):
            s = xr[:, j * sub:(j + 1) * sub]
            lab = torch.cdist(s, c).argmin(1)
            codes.append(lab)
            parts.append(c[lab])
        return torch.stack(codes, 1), torch.cat(parts, 1)

    def _fit_features(self, std, raw, seed, resume):
        device = self.device_
        g = torch.Generator().manual_seed(seed)
        x = self._pad(torch.as_tensor(self._balanced_concat(std), device=device).double())
        M, K = int(self.n_levels), int(self.codebook_size)
        sub = x.shape[1] // M
        R = torch.eye(x.shape[1], dtype=x.dtype, device=device)
        cents = [None] * M
        for it in range(int(self.n_iter)):
            xr = x @ R
            for j in range(M):
                c, _ = kmeans(xr[:, j * sub:(j + 1) * sub].float(), K, n_iter=int(self.kmeans_iter),
                              generator=g, init_centroids=cents[j])
                cents[j] = c
            _, y = self._quantize(xr.float(), cents)
            # orthogonal Procrustes: R = argmin ||X R - Y||, R = U V^T with U S V^T = X^T Y
            U, _, Vh = torch.linalg.svd(x.T @ y.double())
            R = U @ Vh
        self.rotation_ = R.float().cpu().numpy()
        self.centroids_ = [c.float().cpu().numpy() for c in cents]

    def _encode(self, std, raw, rows=None, n_rows=None):
        x = torch.as_tensor(self._balanced_concat(std))
        D = x.shape[1]
        xp = self._pad(x)
        R = torch.as_tensor(self.rotation_)
        codes, y = self._quantize(xp @ R, [torch.as_tensor(c) for c in self.centroids_])
        recon = (y @ R.T)[:, :D]
        err = ((x - recon) ** 2).sum(1).numpy()
        return codes.numpy(), np.ones(codes.shape, np.float32), err

    def _code_length(self):
        return int(self.n_levels)
