"""CTR ranking metric: Group AUC over (user, item) rows with binary labels."""
from __future__ import annotations

import numpy as np


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
