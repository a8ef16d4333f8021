"""Scorers for GridSearchCV / cross_validate: ranking metrics of ``predict`` and GAUC of
``predict_proba``; greater is better, picklable."""
from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn.metrics import make_scorer

from ._ctr import gauc
from ._ranking import _METRICS, _check_k


def _ranking_score(y_true, y_pred, *, metric: str, k: int) -> float:
    """The score function of :func:`make_ranking_scorer`: ``y_pred = estimator.predict(X)``."""
    y_pred = np.asarray(y_pred)
    if y_pred.ndim != 2 or y_pred.shape[1] < k:
        raise ValueError(
            f"make_ranking_scorer(metric={metric!r}, k={k}): estimator.predict returned shape "
            f"{y_pred.shape}; a (n_users, >= {k}) array of ranked item ids is needed (raise the "
            "recommender's top-k setting)")
    return _METRICS[metric](y_true, y_pred, k)


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
        A scikit-learn scorer (:func:`sklearn.metrics.make_scorer`),
        ``scorer(estimator, X, y) -> float``, greater is better; picklable.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> class Fixed(BaseEstimator):
    ...     def predict(self, X):
    ...         return np.tile(np.arange(10), (len(X), 1))
    >>> make_ranking_scorer("recall", k=10)(Fixed(), [[0], [1]], [3, 42])
    0.5
    """
    if metric not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose from {sorted(_METRICS)}")
    return make_scorer(_ranking_score, metric=metric, k=_check_k(k))


ndcg10_scorer = make_ranking_scorer("ndcg", 10)
recall10_scorer = make_ranking_scorer("recall", 10)


# Not a make_scorer: a sklearn scorer calls score_func(y_true, y_pred, **kwargs) and never
# passes X, but GAUC needs each row's group, which is a column of X.
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
