"""Ranking metrics (single held-out item), scorers for GridSearchCV, quantisation metrics.

Ranking metrics follow the leave-one-out protocol: each user has exactly one relevant
item ``y_true[u]`` and a ranked list ``y_pred[u]`` over the whole catalogue. With a single
relevant item, at cut-off ``k`` and 0-based rank ``r`` of the target:

* Recall@k (= HitRate@k) = 1 if ``r < k``;
* NDCG@k = ``1 / log2(r + 2)`` if ``r < k`` (the ideal DCG is 1);
* MRR@k = ``1 / (r + 1)`` if ``r < k``;

all 0 when the target is not in the first ``k``, averaged over users. If an id is
repeated in ``y_pred[u]`` its first position counts. Padding ids (e.g. ``-1``) in ``y_pred``
never match: ``y_true`` must hold non-negative ids.

CTR ranking (binary labels per (user, item) row): :func:`gauc` and :data:`gauc_scorer`;
plain AUC is scikit-learn's :func:`~sklearn.metrics.roc_auc_score`.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ._validation import check_codes

__all__ = [
    "recall_at_k", "ndcg_at_k", "mrr_at_k", "ranking_report", "popularity_strata",
    "make_ranking_scorer", "ndcg10_scorer", "recall10_scorer",
    "gauc", "make_gauc_scorer", "gauc_scorer",
    "code_entropy", "codebook_utilization", "collision_rate",
]


# --------------------------------------------------------------------------- ranking
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


class _RankingScorer:
    """Callable ``scorer(estimator, X, y) -> float`` for GridSearchCV (greater is better)."""

    def __init__(self, metric: str, k: int):
        self.metric = metric
        self.k = k

    def __call__(self, estimator, X, y) -> float:
        y_pred = np.asarray(estimator.predict(X))
        if y_pred.ndim != 2 or y_pred.shape[1] < self.k:
            raise ValueError(
                f"{self!r}: estimator.predict returned shape {y_pred.shape}; a (n_users, >= {self.k}) "
                "array of ranked item ids is needed (raise the recommender's top-k setting)")
        return _METRICS[self.metric](y, y_pred, self.k)

    def __repr__(self) -> str:
        return f"make_ranking_scorer(metric={self.metric!r}, k={self.k})"


def make_ranking_scorer(metric: str = "ndcg", k: int = 10) -> Callable[..., float]:
    """Build a GridSearchCV scorer from a ranking metric.

    The scorer calls ``estimator.predict(X)``, which must return ranked item ids of
    shape ``(n_users, >= k)``, and compares them with ``y`` (one held-out item per row).

    Parameters
    ----------
    metric : {"ndcg", "recall", "mrr"}, default="ndcg"
    k : int, default=10

    Returns
    -------
    callable
        ``scorer(estimator, X, y) -> float``, greater is better; picklable.

    Examples
    --------
    >>> import numpy as np
    >>> class Fixed:
    ...     def predict(self, X):
    ...         return np.tile(np.arange(10), (len(X), 1))
    >>> make_ranking_scorer("recall", k=10)(Fixed(), [[0], [1]], [3, 42])
    0.5
    """
    if metric not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose from {sorted(_METRICS)}")
    return _RankingScorer(metric, _check_k(k))


ndcg10_scorer = make_ranking_scorer("ndcg", 10)
recall10_scorer = make_ranking_scorer("recall", 10)


# ---------------------------------------------------------------------------- CTR
def gauc(y_true, y_score, groups) -> float:
    """Group AUC: the impression-weighted mean of per-group (per-user) ROC AUC.

    ``GAUC = sum_u n_u AUC_u / sum_u n_u`` over the groups ``u`` whose rows hold both
    classes, ``n_u`` the number of rows (impressions) of group ``u``; groups with a
    single class have no AUC and are left out, as in ADC-SID's evaluation. Each
    ``AUC_u`` is :func:`sklearn.metrics.roc_auc_score` (ties count one half).

    Parameters
    ----------
    y_true : array-like of shape (n_rows,)
        Binary labels (0/1 or False/True).
    y_score : array-like of shape (n_rows,)
        Scores, greater means more likely positive.
    groups : array-like of shape (n_rows,)
        Group (user) of each row.

    Returns
    -------
    float
        NaN (with a warning) when no group holds both classes.

    Examples
    --------
    >>> gauc([1, 0, 1, 0, 1], [0.9, 0.1, 0.2, 0.8, 0.5], groups=[0, 0, 1, 1, 2])
    0.5
    """
    import warnings

    from sklearn.metrics import roc_auc_score

    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=np.float64)
    groups = np.asarray(groups)
    n = y_true.shape[0]
    if y_true.ndim != 1 or y_score.shape != (n,) or groups.shape != (n,):
        raise ValueError(f"y_true, y_score and groups must be 1-D of one length, got shapes "
                         f"{y_true.shape}, {y_score.shape}, {groups.shape}")
    if n == 0:
        raise ValueError("gauc needs at least one row")
    labels = np.unique(y_true)
    if not np.isin(labels, [0, 1]).all():
        raise ValueError(f"y_true must be binary (0/1), got the values {labels[:10].tolist()}")
    if not np.all(np.isfinite(y_score)):
        raise ValueError("y_score contains NaN or inf")
    y_true = y_true.astype(np.int64)
    _, inv = np.unique(groups, return_inverse=True)
    order = np.argsort(inv.reshape(-1), kind="stable")
    bounds = np.flatnonzero(np.diff(inv.reshape(-1)[order])) + 1
    total, weight = 0.0, 0
    for rows in np.split(order, bounds):
        yt = y_true[rows]
        if yt.min() == yt.max():
            continue
        total += rows.size * roc_auc_score(yt, y_score[rows])
        weight += rows.size
    if weight == 0:
        warnings.warn("gauc: no group holds both classes; GAUC is undefined (NaN)", UserWarning,
                      stacklevel=2)
        return float("nan")
    return float(total / weight)


class _GAUCScorer:
    """Callable ``scorer(estimator, X, y) -> float``: GAUC of ``predict_proba(X)[:, 1]``."""

    def __init__(self, group_col):
        self.group_col = group_col

    def __call__(self, estimator, X, y) -> float:
        if hasattr(X, "columns"):
            if self.group_col not in X.columns:
                raise ValueError(f"{self!r}: X has no column {self.group_col!r}")
            groups = X[self.group_col].to_numpy()
        else:
            groups = np.asarray(X)[:, 0]
        return gauc(y, np.asarray(estimator.predict_proba(X))[:, 1], groups)

    def __repr__(self) -> str:
        return f"make_gauc_scorer(group_col={self.group_col!r})"


def make_gauc_scorer(group_col: str = "user_id") -> Callable[..., float]:
    """A GridSearchCV scorer: :func:`gauc` of ``estimator.predict_proba(X)[:, 1]``.

    Parameters
    ----------
    group_col : str, default="user_id"
        Column of the DataFrame ``X`` holding the group of each row (for an array
        ``X``, its first column).

    Returns
    -------
    callable
        ``scorer(estimator, X, y) -> float``, greater is better; picklable.

    Examples
    --------
    >>> import pandas as pd
    >>> class Fixed:
    ...     def predict_proba(self, X):
    ...         p = X["item_id"].to_numpy() / 10.0
    ...         return np.stack([1 - p, p], 1)
    >>> X = pd.DataFrame({"user_id": [0, 0, 1, 1], "item_id": [9, 1, 2, 8]})
    >>> make_gauc_scorer()(Fixed(), X, [1, 0, 1, 0])
    0.5
    """
    if not isinstance(group_col, str):
        raise ValueError(f"group_col must be a str, got {group_col!r}")
    return _GAUCScorer(group_col)


gauc_scorer = make_gauc_scorer()


# ------------------------------------------------------------------------ quantisation
def _check_codes(codes) -> np.ndarray:
    return check_codes(codes)[0]


def _check_sizes(codebook_size, codes: np.ndarray) -> np.ndarray:
    sizes = np.broadcast_to(np.asarray(codebook_size, dtype=np.int64), (codes.shape[1],)).copy()
    if np.any(sizes < 1):
        raise ValueError(f"codebook_size must be >= 1, got {codebook_size}")
    too_big = codes.max(axis=0) >= sizes
    if too_big.any():
        pos = int(np.flatnonzero(too_big)[0])
        raise ValueError(f"codes at position {pos} reach {int(codes[:, pos].max())} "
                         f">= codebook_size {int(sizes[pos])}")
    return sizes


def code_entropy(codes, codebook_size=None, per_position: bool = False,
                 normalize: bool = False) -> float | np.ndarray:
    """Shannon entropy, in **bits**, of the code distribution at each position.

    For position ``l``, ``H_l = -sum_c p_l(c) log2 p_l(c)`` with ``p_l(c)`` the share of
    items whose ``l``-th code is ``c``. The maximum is ``log2(codebook_size)`` (uniform use
    of every codeword).

    Parameters
    ----------
    codes : array-like of int, shape (n_items, L)
    codebook_size : int or sequence of int, optional
        Codewords per position; used to validate ``codes`` and for ``normalize``.
    per_position : bool, default=False
        Return the ``L`` entropies instead of their mean.
    normalize : bool, default=False
        Divide by ``log2(codebook_size)`` (needs ``codebook_size``), giving [0, 1].

    Returns
    -------
    float or ndarray of shape (L,)

    Examples
    --------
    >>> code_entropy([[0, 0], [1, 0], [2, 0], [3, 0]], per_position=True).tolist()
    [2.0, 0.0]
    >>> code_entropy([[0, 0], [1, 0], [2, 0], [3, 0]])
    1.0
    """
    codes = _check_codes(codes)
    sizes = _check_sizes(codebook_size, codes) if codebook_size is not None else None
    ent = np.empty(codes.shape[1])
    for pos in range(codes.shape[1]):
        p = np.bincount(codes[:, pos]) / codes.shape[0]
        p = p[p > 0]
        ent[pos] = float(-(p * np.log2(p)).sum()) + 0.0
    if normalize:
        if sizes is None:
            raise ValueError("normalize=True needs codebook_size")
        denom = np.log2(sizes.astype(float))
        ent = np.divide(ent, denom, out=np.zeros_like(ent), where=denom > 0)
    return ent if per_position else float(ent.mean())


def codebook_utilization(codes, codebook_size, per_position: bool = False) -> float | np.ndarray:
    """Fraction of the codewords used by at least one item, at each position.

    Parameters
    ----------
    codes : array-like of int, shape (n_items, L)
    codebook_size : int or sequence of int
        Codewords per position (one value for all, or one per position).
    per_position : bool, default=False
        Return the ``L`` fractions instead of their mean.

    Returns
    -------
    float or ndarray of shape (L,), in [0, 1]

    Examples
    --------
    >>> codebook_utilization([[0, 1], [1, 1], [2, 1]], codebook_size=4, per_position=True).tolist()
    [0.75, 0.25]
    """
    codes = _check_codes(codes)
    sizes = _check_sizes(codebook_size, codes)
    used = np.array([np.unique(codes[:, pos]).size for pos in range(codes.shape[1])], dtype=float)
    util = used / sizes
    return util if per_position else float(util.mean())


def collision_rate(codes, definition: str = "excess") -> float:
    """Share of items whose full code tuple does not identify them.

    Parameters
    ----------
    codes : array-like of int, shape (n_items, L)
    definition : {"excess", "shared"}, default="excess"
        ``"excess"``: ``1 - n_unique_tuples / n_items``, the share of items that need
        an extra disambiguation code (TIGER's rule; the usual "collision rate").
        ``"shared"``: the share of items whose tuple is held by at least one other item.
        Three items with one tuple give 2/3 and 1 respectively.

    Returns
    -------
    float in [0, 1)  (``"excess"``) or [0, 1] (``"shared"``)

    Examples
    --------
    >>> codes = [[0, 0], [0, 0], [0, 0], [1, 0]]
    >>> collision_rate(codes), collision_rate(codes, definition="shared")
    (0.5, 0.75)
    """
    codes = _check_codes(codes)
    _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    n = codes.shape[0]
    if definition == "excess":
        return float(1.0 - counts.size / n)
    if definition == "shared":
        return float(np.mean(counts[inverse.reshape(-1)] > 1))
    raise ValueError(f"definition must be 'excess' or 'shared', got {definition!r}")
