"""Interaction rows (user, item, label) for CTR ranking, and their bridge to the tokenizers.

* :func:`check_interactions` validates a DataFrame (or array) of rows: integer user and
  item ids, an optional time column, numeric extra columns without NaN.
* :func:`interactions_to_histories` is the documented conversion a tokenizer applies to
  such a frame: the **positive** rows, ordered by time, become one history per user
  (its last positive item is the next-item target), exactly the input of the tokenizers'
  history path. Negative rows do not enter the behaviour model.
* :class:`SIDInteractions` is what a fitted tokenizer's ``transform`` returns for a frame
  (the rows unchanged plus the catalogue's codes and weights); :class:`sksid.SIDRanker`
  reads both, so ``Pipeline([("tok", ADCSIDTokenizer()), ("rank", SIDRanker())])`` fits on
  ``(frame, labels)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import _integer_ids, check_codes

__all__ = ["check_interactions", "interactions_to_histories", "is_interaction_frame",
           "SIDInteractions", "Interactions"]

USER_COL, ITEM_COL, TIME_COL = "user_id", "item_id", "timestamp"


@dataclass(eq=False)
class Interactions:
    """Validated interaction rows (the output of :func:`check_interactions`).

    Attributes
    ----------
    users, items : ndarray of int64, shape (n_rows,)
    times : ndarray of shape (n_rows,) or None
        None when the input has no time column: row order is time order.
    extra : ndarray of float32, shape (n_rows, n_extra)
    extra_names : list of str
    """

    users: np.ndarray
    items: np.ndarray
    times: np.ndarray | None
    extra: np.ndarray
    extra_names: list

    def __len__(self):
        return self.users.shape[0]

    def time_order(self) -> np.ndarray:
        """Row positions in time order (stable: ties keep the row order)."""
        if self.times is None:
            return np.arange(len(self))
        return np.argsort(self.times, kind="stable")


def is_interaction_frame(X) -> bool:
    """True for a DataFrame with ``user_id`` and ``item_id`` columns, or a SIDInteractions."""
    if isinstance(X, SIDInteractions):
        return True
    return hasattr(X, "columns") and USER_COL in X.columns and ITEM_COL in X.columns


def check_interactions(X, *, user_col: str = USER_COL, item_col: str = ITEM_COL,
                       time_col: str | None = TIME_COL, name: str = "X") -> Interactions:
    """Validate interaction rows.

    Parameters
    ----------
    X : DataFrame, SIDInteractions or 2-D array
        A DataFrame needs ``user_col`` and ``item_col``; ``time_col`` (when present)
        orders the rows in time and is not a feature; every other column is a numeric
        extra feature. A 2-D array holds the user id, the item id, then extra columns
        (row order is time order).

    Returns
    -------
    Interactions

    Examples
    --------
    >>> import pandas as pd
    >>> rows = check_interactions(pd.DataFrame({"user_id": [0, 1], "item_id": [3, 2],
    ...                                         "timestamp": [7, 5], "price": [1.0, 2.0]}))
    >>> rows.items.tolist(), rows.extra_names, rows.time_order().tolist()
    ([3, 2], ['price'], [1, 0])
    """
    if isinstance(X, SIDInteractions):
        X = X.frame
    if hasattr(X, "columns"):
        missing = [c for c in (user_col, item_col) if c not in X.columns]
        if missing:
            raise ValueError(f"{name} has no column(s) {missing} (columns: {list(X.columns)}); "
                             f"interaction rows need {user_col!r} and {item_col!r} columns")
        if len(X) == 0:
            raise ValueError(f"{name} has no rows")
        users = _integer_ids(X[user_col].to_numpy(), f"{name}[{user_col!r}]")
        items = _integer_ids(X[item_col].to_numpy(), f"{name}[{item_col!r}]")
        times = None
        if time_col is not None and time_col in X.columns:
            times = X[time_col].to_numpy()
            if times.dtype.kind not in "iufM" or (times.dtype.kind == "f" and not np.all(np.isfinite(times))):
                raise ValueError(f"{name}[{time_col!r}] must hold finite numbers or datetimes")
        names = [str(c) for c in X.columns if c not in (user_col, item_col, time_col)]
        extra_cols = [c for c in X.columns if c not in (user_col, item_col, time_col)]
        extra = X[extra_cols].to_numpy() if extra_cols else np.zeros((len(X), 0))
    else:
        arr = np.asarray(X)
        if arr.ndim != 2 or arr.shape[1] < 2:
            raise ValueError(f"{name} must be a DataFrame with {user_col!r} and {item_col!r} columns "
                             f"or a 2-D array (user id, item id, extras...), got shape {arr.shape}")
        if arr.shape[0] == 0:
            raise ValueError(f"{name} has no rows")
        users = _integer_ids(arr[:, 0], f"{name} column 0 (user ids)")
        items = _integer_ids(arr[:, 1], f"{name} column 1 (item ids)")
        times, names = None, [f"x{j}" for j in range(2, arr.shape[1])]
        extra = arr[:, 2:]
    if users.min() < 0 or items.min() < 0:
        raise ValueError(f"{name} contains negative user or item ids; ids must be >= 0")
    if extra.dtype.kind not in "fiub":
        try:
            extra = extra.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: the extra columns {names} must be numeric (encode categories "
                             "as numbers or drop them)") from None
    extra = extra.astype(np.float32)
    if not np.all(np.isfinite(extra)):
        bad = [n for n, col in zip(names, extra.T) if not np.all(np.isfinite(col))]
        raise ValueError(f"{name}: extra column(s) {bad} contain NaN or inf; impute them first "
                         "(e.g. sklearn.impute.SimpleImputer or DataFrame.fillna)")
    return Interactions(users, items, times, extra, names)


def _check_labels(y, n: int, name: str = "y") -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{name} must be 1-D with one label per row ({n}), got shape {y.shape}")
    vals = np.unique(y)
    if not np.isin(vals, [0, 1]).all():
        raise ValueError(f"{name} must hold binary labels 0/1 (e.g. (rating > 3).astype(int)), got "
                         f"the values {vals[:10].tolist()}")
    return y.astype(np.int64)


def interactions_to_histories(X, y=None, **columns) -> tuple[list, np.ndarray, int]:
    """Positive rows of an interaction frame as next-item histories (the tokenizer input).

    The rows with ``y == 1`` (every row when ``y`` is None) are ordered by time (stable)
    and grouped by user; a user with positive items ``i_1 .. i_m`` gives the history
    ``[i_1 .. i_{m-1}]`` and the target ``i_m``. Users without a positive row give
    nothing.

    Parameters
    ----------
    X : DataFrame or 2-D array
        See :func:`check_interactions`.
    y : array-like of 0/1, optional
    **columns
        ``user_col``, ``item_col``, ``time_col`` for :func:`check_interactions`.

    Returns
    -------
    histories : list of ndarray of int64
    next_items : ndarray of int64
    n_items_seen : int
        One more than the largest item id among **all** rows (positive or not).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"user_id": [0, 0, 1, 0], "item_id": [5, 6, 7, 8],
    ...                    "timestamp": [3, 1, 2, 2]})
    >>> h, t, n = interactions_to_histories(df, [1, 1, 1, 0])
    >>> [x.tolist() for x in h], t.tolist(), n
    ([[6], []], [5, 7], 9)
    """
    rows = check_interactions(X, **columns)
    keep = np.ones(len(rows), bool) if y is None else _check_labels(y, len(rows)) == 1
    order = rows.time_order()
    order = order[keep[order]]
    if order.size == 0:
        raise ValueError("no positive row (y == 1): the tokenizer learns behaviour from positive rows")
    users, items = rows.users[order], rows.items[order]
    by_user = np.argsort(users, kind="stable")  # time order kept within each user
    bounds = np.flatnonzero(np.diff(users[by_user])) + 1
    seqs = np.split(items[by_user], bounds)
    return [s[:-1] for s in seqs], np.array([s[-1] for s in seqs], dtype=np.int64), int(rows.items.max()) + 1


@dataclass(eq=False)
class SIDInteractions:
    """Interaction rows with the catalogue's Semantic IDs attached (a tokenizer's output).

    Attributes
    ----------
    frame : DataFrame or ndarray
        The rows, unchanged.
    codes : ndarray of int64, shape (n_items, L)
    weights : ndarray of float32, shape (n_items, L), or None
    codebook_sizes : tuple of int, optional

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> X = SIDInteractions(pd.DataFrame({"user_id": [0], "item_id": [1]}), codes=np.array([[0], [1]]))
    >>> len(X), X.n_items
    (1, 2)
    """

    frame: object
    codes: np.ndarray
    weights: np.ndarray | None = None
    codebook_sizes: tuple | None = None

    def __post_init__(self):
        self.codes, self.weights = check_codes(self.codes, self.weights)
        if self.codebook_sizes is None:
            self.codebook_sizes = tuple(int(c) + 1 for c in self.codes.max(0))

    def __len__(self):
        return len(self.frame)

    @property
    def n_items(self) -> int:
        return self.codes.shape[0]
