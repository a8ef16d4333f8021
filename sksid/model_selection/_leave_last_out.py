"""Leave-last-out (next-item recommendation, docs/protocol.md): per user, the last item is
the test target, the second to last the validation target, everything before is training
data; histories fed to the model for validation and test are capped at ``max_len`` items."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from sklearn.model_selection import BaseCrossValidator

from .._validation import POSITIVE_INT, check_sequences
from ..sequences import Histories

__all__ = ["LeaveLastOutSplit", "LeaveLastOutCV", "leave_last_out", "train_item_counts"]


class LeaveLastOutCV(BaseCrossValidator):
    """One predefined split: the first ``n_train`` rows train, the next ``n_valid`` validate.

    Built by :meth:`LeaveLastOutSplit.search_data`, whose ``X`` stacks the training rows
    and then the validation rows. A search therefore fits on training prefixes, scores
    on validation targets, and never sees a test item.

    Parameters
    ----------
    n_train : int
        Number of training rows (at the start of ``X``).
    n_valid : int
        Number of validation rows (right after them).

    Examples
    --------
    >>> cv = LeaveLastOutCV(n_train=3, n_valid=2)
    >>> [(tr.tolist(), va.tolist()) for tr, va in cv.split(list(range(5)))]
    [([0, 1, 2], [3, 4])]
    """

    def __init__(self, n_train: int, n_valid: int):
        # checked here, as scikit-learn's splitters (KFold) check theirs
        for name, value in (("n_train", n_train), ("n_valid", n_valid)):
            if not POSITIVE_INT.is_satisfied_by(value):
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.n_train = n_train
        self.n_valid = n_valid

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Always 1."""
        return 1

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield the single ``(train_rows, valid_rows)`` pair."""
        n = len(X)
        if n != self.n_train + self.n_valid:
            raise ValueError(
                f"LeaveLastOutCV expects X with n_train + n_valid = {self.n_train + self.n_valid} rows "
                f"(training rows then validation rows, as returned by search_data()), got {n}")
        yield (np.arange(self.n_train, dtype=np.int64),
               np.arange(self.n_train, self.n_train + self.n_valid, dtype=np.int64))

    def _iter_test_indices(self, X=None, y=None, groups=None):  # required by the ABC
        yield np.arange(self.n_train, self.n_train + self.n_valid, dtype=np.int64)


@dataclass(eq=False)
class LeaveLastOutSplit:
    """The three leave-last-out parts, one row per kept user (same order in every part).

    ``X_train``, ``X_valid`` and ``X_test`` are :class:`~sksid.sequences.Histories`: lists
    that carry ``n_items``, so ``fit(split.X_train, split.y_train)`` (a recommender alone or
    a tokenizer -> recommender Pipeline) fits the whole catalogue and
    ``predict(split.X_test)`` accepts items that occur only in validation or test histories.

    Attributes
    ----------
    X_train : Histories (list of ndarray of int64)
        ``s[:-3]``, the **full, uncapped** training history. Models train on every
        prefix of it (and slice their own ``max_len`` windows), with ``y_train`` as the
        target after the last one. It is empty when ``len(s) == 3``: the row is kept,
        ``y_train`` is still a valid target and models treat the empty history as a
        cold start.
    y_train : ndarray of int64
        ``s[-3]``.
    X_valid : Histories
        ``s[:-2][-max_len:]``.
    y_valid : ndarray of int64
        ``s[-2]``.
    X_test : Histories
        ``s[:-1][-max_len:]``.
    y_test : ndarray of int64
        ``s[-1]``.
    max_len : int
        History cap used for validation and test histories.
    users : ndarray of int64
        Position of each row's user in the input sequences.
    n_items : int
        Catalogue size: the dataset's (or ``leave_last_out(..., n_items=)``), else the
        largest id in the sequences + 1; carried by the three history parts.
    """

    X_train: list
    y_train: np.ndarray
    X_valid: list
    y_valid: np.ndarray
    X_test: list
    y_test: np.ndarray
    max_len: int
    users: np.ndarray
    n_items: int | None = None

    @property
    def n_users(self) -> int:
        """Number of rows (users with at least 3 interactions)."""
        return len(self.y_test)

    def search_data(self) -> tuple[list, np.ndarray, LeaveLastOutCV]:
        """``(X, y, cv)`` for ``GridSearchCV(..., cv=cv).fit(X, y)``.

        ``X = X_train + X_valid`` and ``y = concat(y_train, y_valid)``; ``cv`` trains on
        the first block and validates on the second, so the test items never enter a
        search. With ``refit=True`` the best model is refitted on both blocks, i.e. on
        ``s[:-1]``, which still excludes the test item.

        Examples
        --------
        >>> import numpy as np
        >>> split = leave_last_out([np.arange(5), np.arange(4)])
        >>> X, y, cv = split.search_data()
        >>> len(X), y.tolist(), cv.get_n_splits()
        (4, [2, 1, 3, 2], 1)
        """
        X = list(self.X_train) + list(self.X_valid)
        y = np.concatenate([self.y_train, self.y_valid]).astype(np.int64)
        return X, y, LeaveLastOutCV(len(self.y_train), len(self.y_valid))

    def test_data(self) -> tuple[list, np.ndarray]:
        """``(X_test, y_test)``: histories (capped) and the held-out last items."""
        return self.X_test, self.y_test

    def __repr__(self) -> str:
        return f"LeaveLastOutSplit(n_users={self.n_users}, max_len={self.max_len})"


def leave_last_out(sequences, max_len: int = 20, *, n_items: int | None = None) -> LeaveLastOutSplit:
    """Split chronological sequences into leave-last-out train / valid / test parts.

    Parameters
    ----------
    sequences : list of 1-D int arrays or SequenceDataset
        One chronological item-id sequence per user (oldest first).
    max_len : int, default=20
        Cap on the validation and test histories (the most recent items are kept).
        Training histories are not capped; see :class:`LeaveLastOutSplit`.
    n_items : int, optional
        Catalogue size; ids outside ``[0, n_items)`` raise. Taken from the dataset
        when a :class:`~sksid.datasets.SequenceDataset` is passed.

    Returns
    -------
    LeaveLastOutSplit

    Warns
    -----
    UserWarning
        With the count of users dropped for having fewer than 3 interactions
        (they cannot provide a training, a validation and a test target).

    Examples
    --------
    >>> import numpy as np
    >>> split = leave_last_out([np.array([4, 3, 2, 1, 0])], max_len=2)
    >>> split.X_train[0].tolist(), int(split.y_train[0])
    ([4, 3], 2)
    >>> split.X_valid[0].tolist(), int(split.y_valid[0])
    ([3, 2], 1)
    >>> split.X_test[0].tolist(), int(split.y_test[0])
    ([2, 1], 0)
    """
    seqs, max_len, n_items = _check_split_input(sequences, max_len, n_items)
    lengths = np.array([len(s) for s in seqs])
    users = np.flatnonzero(lengths >= 3).astype(np.int64)
    n_short = len(seqs) - len(users)
    if n_short:
        warnings.warn(f"leave_last_out: dropped {n_short} user(s) with fewer than 3 interactions "
                      f"(kept {len(users)})", UserWarning, stacklevel=2)
    if len(users) == 0:
        raise ValueError("no sequence has at least 3 interactions; nothing to split")
    return LeaveLastOutSplit(**_parts([seqs[u] for u in users], max_len, n_items), max_len=max_len,
                             users=users, n_items=n_items)


def _check_split_input(sequences, max_len, n_items):
    """``(validated sequences, max_len, catalogue size)`` of a split: the dataset's (or the
    given) ``n_items``, else the largest id + 1."""
    if hasattr(sequences, "sequences") and hasattr(sequences, "n_items"):
        n_items = sequences.n_items if n_items is None else n_items
        sequences = sequences.sequences
    if not isinstance(max_len, (int, np.integer)) or isinstance(max_len, bool) or max_len < 1:
        raise ValueError(f"max_len must be a positive int, got {max_len!r}")
    seqs = check_sequences(sequences, n_items=n_items, name="sequences")
    n_items = (int(n_items) if n_items is not None else
               max((int(s.max()) + 1 for s in seqs if s.size), default=0))
    return seqs, int(max_len), n_items


def _parts(kept, max_len, n_items):
    """The six leave-last-out parts of sequences of at least 3 items (histories carry ``n_items``)."""
    return dict(
        X_train=Histories([s[:-3].copy() for s in kept], n_items),
        y_train=np.array([s[-3] for s in kept], dtype=np.int64),
        X_valid=Histories([s[:-2][-max_len:].copy() for s in kept], n_items),
        y_valid=np.array([s[-2] for s in kept], dtype=np.int64),
        X_test=Histories([s[:-1][-max_len:].copy() for s in kept], n_items),
        y_test=np.array([s[-1] for s in kept], dtype=np.int64),
    )


def train_item_counts(split: LeaveLastOutSplit, n_items: int) -> np.ndarray:
    """Interaction counts of every item in the training part only (``X_train`` + ``y_train``).

    Used for the head / tail popularity strata (:func:`sksid.metrics.popularity_strata`)
    without looking at validation or test items.

    Parameters
    ----------
    split : LeaveLastOutSplit
    n_items : int
        Catalogue size.

    Returns
    -------
    ndarray of int64, shape (n_items,)

    Examples
    --------
    >>> import numpy as np
    >>> split = leave_last_out([np.array([0, 0, 1, 2, 3])])
    >>> train_item_counts(split, 4).tolist()
    [2, 1, 0, 0]
    """
    parts = [np.asarray(s, dtype=np.int64) for s in split.X_train] + [np.asarray(split.y_train, dtype=np.int64)]
    ids = np.concatenate(parts)
    if ids.size and (ids.min() < 0 or ids.max() >= n_items):
        raise ValueError(f"training ids fall outside [0, n_items={n_items})")
    return np.bincount(ids, minlength=n_items).astype(np.int64)
