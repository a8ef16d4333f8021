"""Ranking metrics with one held-out item per user (Recall/NDCG/MRR@k), popularity strata
and the multi-cut-off report; the protocol is described in :mod:`sksid.metrics`."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


def _check_k(k, name: str = "k") -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {k!r}")
    if k < 1:
        raise ValueError(f"{name} must be >= 1, got {k}")
    return int(k)


def _check_ranking(y_true, y_pred, k: int) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim != 1:
        raise ValueError(f"y_true must be 1-D (one held-out item per user), got shape {y_true.shape}")
    if y_pred.ndim != 2:
        raise ValueError(f"y_pred must be 2-D (n_users, n_ranked) ranked item ids, got shape {y_pred.shape}")
    if y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(f"y_true has {y_true.shape[0]} users but y_pred has {y_pred.shape[0]} rows")
    if y_true.shape[0] == 0:
        raise ValueError("empty input: at least one user is required")
    k = _check_k(k)
    if k > y_pred.shape[1]:
        raise ValueError(f"k={k} exceeds the {y_pred.shape[1]} ranked items per user in y_pred; "
                         "ask the recommender for at least k items")
    for name, a in (("y_true", y_true), ("y_pred", y_pred)):
        if a.dtype.kind not in "iu":
            if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
                continue
            raise ValueError(f"{name} must hold integer item ids, got dtype {a.dtype}")
    if y_true.min() < 0:
        raise ValueError(f"y_true contains negative item ids (min {int(y_true.min())}); a padding "
                         "id such as -1 is never a relevant item")
    return y_true.astype(np.int64), y_pred.astype(np.int64)


def _ranks(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """0-based rank of the target within the first k, or -1 when absent."""
    hits = y_pred[:, :k] == y_true[:, None]
    found = hits.any(axis=1)
    return np.where(found, hits.argmax(axis=1), -1)


def recall_at_k(y_true, y_pred, k: int = 10) -> float:
    """Recall@k (hit rate) with one held-out item per user, averaged over users.

    Parameters
    ----------
    y_true : array-like of int, shape (n_users,)
        The held-out item of each user.
    y_pred : array-like of int, shape (n_users, n_ranked)
        Ranked recommendations, best first; ``n_ranked >= k``.
    k : int, default=10
        Cut-off, ``1 <= k <= n_ranked``.

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> recall_at_k([1, 2], [[1, 0], [0, 3]], k=2)
    0.5
    """
    y_true, y_pred = _check_ranking(y_true, y_pred, k)
    return float(np.mean(_ranks(y_true, y_pred, k) >= 0))


def ndcg_at_k(y_true, y_pred, k: int = 10) -> float:
    """NDCG@k with one held-out item per user: ``1/log2(rank + 2)`` when ranked in the top k.

    Parameters
    ----------
    y_true : array-like of int, shape (n_users,)
    y_pred : array-like of int, shape (n_users, n_ranked)
    k : int, default=10

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> round(ndcg_at_k([1, 2], [[1, 0], [0, 2]], k=2), 4)  # (1 + 1/log2(3)) / 2
    0.8155
    """
    y_true, y_pred = _check_ranking(y_true, y_pred, k)
    r = _ranks(y_true, y_pred, k)
    return float(np.mean(np.where(r >= 0, 1.0 / np.log2(np.maximum(r, 0) + 2.0), 0.0)))


def mrr_at_k(y_true, y_pred, k: int = 10) -> float:
    """Mean reciprocal rank truncated at k: ``1/(rank + 1)`` when ranked in the top k.

    Parameters
    ----------
    y_true : array-like of int, shape (n_users,)
    y_pred : array-like of int, shape (n_users, n_ranked)
    k : int, default=10

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> mrr_at_k([1, 2], [[1, 0], [0, 2]], k=2)
    0.75
    """
    y_true, y_pred = _check_ranking(y_true, y_pred, k)
    r = _ranks(y_true, y_pred, k)
    return float(np.mean(np.where(r >= 0, 1.0 / (np.maximum(r, 0) + 1.0), 0.0)))


_METRICS: dict[str, Callable[..., float]] = {"recall": recall_at_k, "ndcg": ndcg_at_k, "mrr": mrr_at_k}


def popularity_strata(item_counts, fraction: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Head and tail item masks by (training) popularity, as in ADC-SID §4.5.

    Items are ranked by count; ``round(fraction * n_items)`` (at least 1) items form the
    head (most popular) and as many the tail (least popular). Ties are broken by item
    id (a lower id counts as more popular), so the strata have exactly that size and
    never overlap (in a catalogue of fewer than ``2 / fraction`` items the tail may be
    smaller or empty).

    Parameters
    ----------
    item_counts : array-like of int, shape (n_items,)
        Interaction counts, e.g. :func:`sksid.model_selection.train_item_counts`.
    fraction : float, default=0.25
        Share of the catalogue in each stratum, in ``(0, 0.5]``.

    Returns
    -------
    head, tail : ndarray of bool, shape (n_items,)

    Examples
    --------
    >>> head, tail = popularity_strata([5, 0, 9, 1, 3, 7, 2, 4])
    >>> head.nonzero()[0].tolist(), tail.nonzero()[0].tolist()
    ([2, 5], [1, 3])
    """
    counts = np.asarray(item_counts)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"item_counts must be a non-empty 1-D array, got shape {counts.shape}")
    if np.any(counts < 0):
        raise ValueError("item_counts must be non-negative")
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must lie in (0, 0.5], got {fraction}")
    n = counts.size
    m = max(1, int(round(fraction * n)))
    head = np.zeros(n, dtype=bool)
    tail = np.zeros(n, dtype=bool)
    order = np.argsort(-counts, kind="stable")  # most popular first, ties by increasing id
    head[order[:m]] = True
    tail[order[n - m:]] = True
    tail &= ~head  # only matters for catalogues of fewer than 2 / fraction items
    return head, tail


def ranking_report(y_true, y_pred, ks: Sequence[int] = (5, 10), item_counts=None,
                   metrics: Sequence[str] = ("recall", "ndcg", "mrr")) -> dict[str, float]:
    """All ranking metrics at several cut-offs, optionally per popularity stratum.

    Parameters
    ----------
    y_true : array-like of int, shape (n_users,)
    y_pred : array-like of int, shape (n_users, n_ranked)
    ks : sequence of int, default=(5, 10)
    item_counts : array-like of int, shape (n_items,), optional
        Training popularity. When given, every metric is also computed over the users
        whose target is a head item (``"<metric>@<k>/head"``) and a tail item
        (``"<metric>@<k>/tail"``), see :func:`popularity_strata`; NaN when a stratum
        has no user. ``"n_users/head"`` and ``"n_users/tail"`` give the counts.
    metrics : sequence of {"recall", "ndcg", "mrr"}

    Returns
    -------
    dict of str to float
        Keys ``"recall@5"``, ``"ndcg@5"``, ..., ``"n_users"``.

    Examples
    --------
    >>> rep = ranking_report([1, 2], [[1, 0], [0, 2]], ks=(1, 2))
    >>> rep["recall@1"], rep["recall@2"], rep["n_users"]
    (0.5, 1.0, 2)
    """
    ks = [_check_k(k, "every k in ks") for k in ks]
    if not ks:
        raise ValueError("ks must hold at least one cut-off")
    y_true, y_pred = _check_ranking(y_true, y_pred, max(ks))
    for m in metrics:
        if m not in _METRICS:
            raise ValueError(f"unknown metric {m!r}; choose from {sorted(_METRICS)}")
    report: dict[str, float] = {"n_users": int(y_true.shape[0])}
    for k in ks:
        for m in metrics:
            report[f"{m}@{k}"] = _METRICS[m](y_true, y_pred, k)
    if item_counts is not None:
        counts = np.asarray(item_counts)
        if y_true.min() < 0 or y_true.max() >= counts.shape[0]:
            raise ValueError(f"y_true holds ids outside [0, len(item_counts)={counts.shape[0]})")
        for name, mask in zip(("head", "tail"), popularity_strata(counts)):
            users = mask[y_true]
            report[f"n_users/{name}"] = int(users.sum())
            for k in ks:
                for m in metrics:
                    report[f"{m}@{k}/{name}"] = (_METRICS[m](y_true[users], y_pred[users], k)
                                                 if users.any() else float("nan"))
    return report


def cold_start_report(y_true, y_pred, cold_items, ks: Sequence[int] = (5, 10), item_counts=None,
                      metrics: Sequence[str] = ("recall", "ndcg", "mrr")) -> dict[str, float]:
    """:func:`ranking_report` overall and over the users whose target is warm or cold.

    The report of the cold-item protocol (:func:`sksid.model_selection.cold_item_split`):
    a user counts as **cold** when their target is one of ``cold_items`` (items no
    training or validation row contains), **warm** otherwise.

    Parameters
    ----------
    y_true : array-like of int, shape (n_users,)
    y_pred : array-like of int, shape (n_users, n_ranked)
    cold_items : array-like of int
        Ids of the cold items (``split.cold_items``).
    ks : sequence of int, default=(5, 10)
    item_counts : array-like of int, shape (n_items,), optional
        Training popularity: adds the head / tail strata of :func:`ranking_report` to
        the overall numbers.
    metrics : sequence of {"recall", "ndcg", "mrr"}

    Returns
    -------
    dict of str to float
        The keys of :func:`ranking_report` (overall), the same metric keys with a
        ``"/warm"`` and a ``"/cold"`` suffix (NaN when no user is in the group), and
        ``"n_users/warm"``, ``"n_users/cold"``.

    Examples
    --------
    >>> rep = cold_start_report([1, 7], [[1, 0], [7, 2]], cold_items=[7], ks=(1,))
    >>> rep["recall@1"], rep["recall@1/cold"], rep["n_users/cold"], rep["n_users/warm"]
    (1.0, 1.0, 1, 1)
    """
    ks = list(ks)
    report = ranking_report(y_true, y_pred, ks, item_counts=item_counts, metrics=metrics)
    y_true, y_pred = _check_ranking(y_true, y_pred, max(ks))
    cold = np.asarray(cold_items)
    if cold.ndim != 1 or (cold.size and cold.dtype.kind not in "iu"):
        raise ValueError(f"cold_items must be a 1-D array of int item ids, got {cold.dtype} of shape {cold.shape}")
    is_cold = np.isin(y_true, cold)
    for name, users in (("warm", ~is_cold), ("cold", is_cold)):
        report[f"n_users/{name}"] = int(users.sum())
        for k in ks:
            for m in metrics:
                report[f"{m}@{k}/{name}"] = (_METRICS[m](y_true[users], y_pred[users], k)
                                             if users.any() else float("nan"))
    return report
