"""Code-assignment diversity (LETTER): the codewords of a codebook grouped by size-constrained
k-means, and the contrastive loss that pulls each selected codeword towards another codeword
of its group and away from the codewords of the other groups; plus the Sinkhorn balanced
assignment LETTER uses to separate items that share a whole code tuple. torch + scipy only."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .codebook import kmeans

__all__ = ["cluster_sizes", "constrained_kmeans", "code_diversity_loss", "sinkhorn_assign"]


def cluster_sizes(codebook_size: int, n_clusters: int):
    """``(C, size_min, size_max)`` of the codeword grouping.

    ``C = min(n_clusters, K // 2)`` (every group can hold two codewords, so every codeword
    has a positive), ``size_min = min(K // (2 C), 10)`` and ``size_max = max(6 C, ceil(2 K /
    C))``: for K = 256, C = 10 these are the released LETTER code's 12 ... 60 (its bounds
    ``min(K // 2C, 10)`` and ``6 C``); the second term of ``size_max`` keeps large codebooks
    feasible (``C size_max >= K``).

    Examples
    --------
    >>> cluster_sizes(256, 10), cluster_sizes(4, 10)
    ((10, 10, 60), (2, 1, 12))
    """
    K = int(codebook_size)
    C = max(1, min(int(n_clusters), K // 2))
    size_min = max(1, min(K // (2 * C), 10))
    size_max = max(6 * C, -(-2 * K // C))
    return C, size_min, size_max


def constrained_kmeans(x: torch.Tensor, n_clusters: int, size_min: int, size_max: int,
                       n_iter: int = 10, generator: torch.Generator | None = None):
    """k-means of the rows of ``x`` with every cluster holding ``size_min`` to ``size_max``
    rows (the released LETTER code clusters its codewords with ``k_means_constrained``).

    Lloyd iterations from a k-means++ start (:func:`~sksid.nn.codebook.kmeans`); each
    assignment step is the exact constrained one, a linear assignment of the rows to
    ``size_max`` slots per cluster whose first ``size_min`` slots are mandatory.

    Returns
    -------
    centroids : Tensor (n_clusters, d)
    labels : Tensor (n,) int64

    Examples
    --------
    >>> x = torch.cat([torch.zeros(6, 2), torch.ones(2, 2)])
    >>> _, lab = constrained_kmeans(x, 2, size_min=3, size_max=5)
    >>> sorted(torch.bincount(lab).tolist())
    [3, 5]
    """
    from scipy.optimize import linear_sum_assignment

    x = x.detach().float().cpu()
    n, C = x.shape[0], int(n_clusters)
    if not (C * size_min <= n <= C * size_max):
        raise ValueError(f"{n} rows cannot form {C} clusters of {size_min} to {size_max} rows")
    cent, _ = kmeans(x, C, n_iter=n_iter, generator=generator)
    slot_cluster = np.repeat(np.arange(C), size_max)
    mandatory = np.tile(np.arange(size_max) < size_min, C)
    xd = x.double().numpy()
    labels = None
    for _ in range(max(int(n_iter), 1)):
        d = ((xd[:, None, :] - cent.double().numpy()[None]) ** 2).sum(-1)  # (n, C)
        big = float(d.max()) * n + 1.0
        cost = d[:, slot_cluster] - big * mandatory[None, :]
        rows, cols = linear_sum_assignment(cost)
        new = np.empty(n, dtype=np.int64)
        new[rows] = slot_cluster[cols]
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        lab = torch.as_tensor(labels)
        sums = torch.zeros_like(cent).index_add_(0, lab, x)
        counts = torch.bincount(lab, minlength=C).float()
        cent = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], cent)
    return cent, torch.as_tensor(labels)


def code_diversity_loss(selected, codewords, codes, labels):
    """LETTER's diversity regulariser at one code level.

    ``selected`` (B, d) are the chosen codewords (gradient to the codebook), ``codewords``
    (K, d) the codebook, ``codes`` (B,) the choices, ``labels`` (K,) the group of every
    codeword. For each item a positive is drawn uniformly among the other codewords of its
    codeword's group; the loss is the cross-entropy of that positive against every codeword
    but the item's own, with dot-product logits (temperature 1), as in the released code.
    Items whose group has no other codeword are left out; 0 when none remains.
    """
    B = codes.shape[0]
    same = labels[None, :] == labels[codes][:, None]
    same[torch.arange(B, device=codes.device), codes] = False
    ok = same.any(1)
    if not bool(ok.any()):
        return selected.new_zeros(())
    pos = torch.multinomial(same[ok].float(), 1).squeeze(1)
    logits = selected[ok] @ codewords.T
    own = F.one_hot(codes[ok], codewords.shape[0]).bool()
    return F.cross_entropy(logits.masked_fill(own, float("-inf")), pos)


def sinkhorn_assign(distances, epsilon=0.003, n_iter=50):
    """Balanced assignment of the rows of ``distances`` (B, K) to the K columns: Sinkhorn
    iterations on ``exp(-d / epsilon)`` with ``d`` rescaled to [-1, 1] (rows sum to 1/B,
    columns to 1/K), then the argmax of each row. In the log domain, float64.

    Examples
    --------
    >>> d = torch.tensor([[0.0, 1.0], [0.0, 2.0]])
    >>> sinkhorn_assign(d).tolist()  # code 0 is nearest for both; balanced, they part
    [1, 0]
    """
    d = distances.detach().double()
    B, K = d.shape
    lo, hi = d.min(), d.max()
    mid = (hi + lo) / 2
    d = (d - mid) / (hi - mid + 1e-5)
    logq = -d / float(epsilon)
    for _ in range(int(n_iter)):
        logq = logq - torch.logsumexp(logq, 1, keepdim=True) - np.log(B)
        logq = logq - torch.logsumexp(logq, 0, keepdim=True) - np.log(K)
    return logq.argmax(1)
