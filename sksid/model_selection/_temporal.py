"""Temporal split (CTR ranking, docs/ranking.md): interaction rows sorted by time, the first
``1 - test_size`` of them train, the rest test (:func:`temporal_split`, :class:`TemporalSplitCV`)."""
from __future__ import annotations

from typing import Iterator

import numpy as np
from sklearn.model_selection import BaseCrossValidator

__all__ = ["temporal_split", "TemporalSplitCV"]


def _temporal_cut(times: np.ndarray, test_size) -> tuple[np.ndarray, int]:
    """Stable time order of the rows and the number of training rows in it.

    Rows sharing the timestamp of the last training row stay in training, so every
    test row is strictly later than every training row."""
    n = times.shape[0]
    if isinstance(test_size, (bool, np.bool_)):
        raise ValueError(f"test_size must be a float in (0, 1) or an int >= 1, got {test_size!r}")
    if isinstance(test_size, (int, np.integer)):
        if not 1 <= test_size < n:
            raise ValueError(f"test_size={test_size} rows must lie in [1, {n}) for {n} rows")
        n_test = int(test_size)
    elif isinstance(test_size, (float, np.floating)) and 0 < test_size < 1:
        n_test = max(1, int(np.ceil(test_size * n)))
    else:
        raise ValueError(f"test_size must be a float in (0, 1) or an int >= 1, got {test_size!r}")
    order = np.argsort(times, kind="stable")
    t_sorted = times[order]
    cut = int(np.searchsorted(t_sorted, t_sorted[n - n_test - 1], side="right")) if n - n_test > 0 else 0
    if cut == 0 or cut == n:
        raise ValueError("cannot split in time: every row shares one timestamp at the cut "
                         f"(n_rows={n}, test_size={test_size}); pass a larger or smaller test_size")
    return order, cut


def _frame_times(df, time_col: str) -> np.ndarray:
    if not (hasattr(df, "columns") and hasattr(df, "iloc")):
        raise TypeError(f"expected a pandas DataFrame with a {time_col!r} column, got {type(df).__name__}")
    if time_col not in df.columns:
        raise ValueError(f"the DataFrame has no {time_col!r} column (columns: {list(df.columns)}); "
                         "pass time_col=<the name of its time column>")
    times = df[time_col].to_numpy()
    if len(times) < 2:
        raise ValueError(f"need at least 2 rows to split, got {len(times)}")
    if times.dtype.kind not in "iufM" or (times.dtype.kind == "f" and not np.all(np.isfinite(times))):
        raise ValueError(f"column {time_col!r} must hold finite numbers or datetimes, got dtype {times.dtype}")
    return times


def temporal_split(df, test_size=0.1, *, time_col: str = "timestamp"):
    """Split interaction rows in time: the earliest rows train, the latest test.

    The protocol of ADC-SID's ranking experiments: rows sorted by time (a stable sort:
    ties keep their order), the first ``1 - test_size`` train and the rest test. Rows
    sharing the timestamp of the last training row are kept in training, so **every
    test row is strictly later than every training row** (the test part can be a few
    rows smaller than ``test_size``).

    Parameters
    ----------
    df : pandas.DataFrame
        Interaction rows, e.g. ``load_movielens_100k().interactions``.
    test_size : float in (0, 1) or int, default=0.1
        Share (or number) of rows in the test part.
    time_col : str, default="timestamp"

    Returns
    -------
    train_df, test_df : pandas.DataFrame
        Both sorted by time; the original index is kept.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"user_id": [0, 1, 0, 1, 2], "timestamp": [5, 1, 3, 3, 9]})
    >>> train, test = temporal_split(df, test_size=0.2)
    >>> train["timestamp"].tolist(), test["timestamp"].tolist()
    ([1, 3, 3, 5], [9])
    """
    order, cut = _temporal_cut(_frame_times(df, time_col), test_size)
    return df.iloc[order[:cut]], df.iloc[order[cut:]]


class TemporalSplitCV(BaseCrossValidator):
    """One time-ordered split of a DataFrame, for GridSearchCV on interaction rows.

    The rows of ``X`` (in any order) are split as :func:`temporal_split` does: the
    latest ``test_size`` of them validate, the earlier ones train; a validation row is
    never earlier than a training row. Use it on the *training* part of a
    :func:`temporal_split`, so the search never sees a test row.

    Parameters
    ----------
    test_size : float in (0, 1) or int, default=0.1
    time_col : str, default="timestamp"

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"timestamp": [4, 1, 3, 2]})
    >>> [(tr.tolist(), va.tolist()) for tr, va in TemporalSplitCV(test_size=0.25).split(df)]
    [([1, 3, 2], [0])]
    """

    def __init__(self, test_size=0.1, time_col: str = "timestamp"):
        self.test_size = test_size
        self.time_col = time_col

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Always 1."""
        return 1

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield the single ``(train_rows, valid_rows)`` pair of row positions."""
        order, cut = _temporal_cut(_frame_times(X, self.time_col), self.test_size)
        yield order[:cut].astype(np.int64), order[cut:].astype(np.int64)

    def _iter_test_indices(self, X=None, y=None, groups=None):  # required by the ABC
        yield next(self.split(X))[1]
