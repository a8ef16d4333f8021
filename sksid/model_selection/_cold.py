"""Cold items (issue 42): leave-last-out on a catalogue where a seeded share of the items is
new, so that no training or validation row holds them while they stay in the catalogue
with their content features (docs/protocol.md, "Cold items")."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from numbers import Real

import numpy as np
from sklearn.utils import check_random_state

from ._leave_last_out import LeaveLastOutSplit, _check_split_input, _parts

__all__ = ["ColdItemSplit", "cold_item_split"]


@dataclass(eq=False, repr=False)
class ColdItemSplit(LeaveLastOutSplit):
    """A :class:`LeaveLastOutSplit` in which some catalogue items are new (cold).

    Built by :func:`cold_item_split`; every part is that of :func:`leave_last_out` on the
    sequences with the cold items removed from everything but the last position, so
    ``X_train``, ``y_train``, ``X_valid``, ``y_valid`` and ``X_test`` hold no cold item and
    ``y_test`` may be one.

    Attributes
    ----------
    cold_items : ndarray of int64
        Sorted ids of the cold items.
    test_cold : ndarray of bool, shape (n_users,)
        Whether each row's test target ``y_test`` is a cold item.
    cold_fraction : float
        The share of the items occurring in the data that was made cold.

    Every attribute of :class:`LeaveLastOutSplit` too; ``n_items`` is the catalogue of the
    data (cold items included).
    """

    cold_items: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    test_cold: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    cold_fraction: float = 0.0

    @property
    def cold_mask(self) -> np.ndarray:
        """Boolean mask of length ``n_items``: True at the cold items."""
        mask = np.zeros(self.n_items, dtype=bool)
        mask[self.cold_items] = True
        return mask

    def report(self, y_pred, ks=(5, 10), item_counts=None, metrics=("recall", "ndcg", "mrr")) -> dict:
        """Test metrics overall, on warm and on cold targets:
        :func:`sksid.metrics.cold_start_report` of ``(y_test, y_pred, cold_items)``.

        Parameters
        ----------
        y_pred : array-like of int, shape (n_users, n_ranked)
            Rankings of ``X_test``, e.g. ``rec.predict(split.X_test)``.
        ks, item_counts, metrics
            As in :func:`sksid.metrics.ranking_report`.

        Examples
        --------
        >>> import numpy as np
        >>> seqs = [np.array([0, 1, 2, 3]), np.array([2, 3, 1, 0])]
        >>> split = cold_item_split(seqs, cold_fraction=0.25, random_state=0)
        >>> rep = split.report(np.tile(np.arange(4), (split.n_users, 1)), ks=(4,))
        >>> rep["recall@4"], rep["n_users/cold"] + rep["n_users/warm"] == split.n_users
        (1.0, True)
        """
        from ..metrics import cold_start_report

        return cold_start_report(self.y_test, y_pred, self.cold_items, ks=ks, item_counts=item_counts,
                                 metrics=metrics)

    def __repr__(self) -> str:
        return (f"ColdItemSplit(n_users={self.n_users}, max_len={self.max_len}, "
                f"n_cold_items={len(self.cold_items)}, n_cold_test_users={int(self.test_cold.sum())})")


def cold_item_split(sequences, cold_fraction: float = 0.1, max_len: int = 20, random_state=None, *,
                    n_items: int | None = None) -> ColdItemSplit:
    """Leave-last-out with a seeded share of new items that no training row contains.

    The rule, per user sequence ``s`` (oldest first):

    1. ``round(cold_fraction * m)`` items (at least 1, at most ``m - 1``) are drawn
       without replacement, with ``random_state``, among the ``m`` distinct items that
       occur in ``sequences``: the **cold items**;
    2. every occurrence of a cold item is removed from ``s[:-1]``; the last item ``s[-1]``
       is kept whatever it is: ``s' = [x for x in s[:-1] if x not cold] + [s[-1]]``;
    3. :func:`leave_last_out` on ``s'``: users with ``len(s') < 3`` are dropped; the test
       target is ``s[-1]`` (cold or warm) with history ``s'[:-1][-max_len:]``, the
       validation and training parts come from ``s'[:-1]``.

    So no row of ``X_train``, ``X_valid``, ``X_test`` and no entry of ``y_train``,
    ``y_valid`` holds a cold item; a cold item appears only as a test target. The catalogue
    is unchanged (``n_items`` counts the cold items): a model sized by ``split.n_items``
    (or by the codes of a tokenizer fitted on every item's content) can rank them.

    Parameters
    ----------
    sequences : list of 1-D int arrays or SequenceDataset
        One chronological item-id sequence per user (oldest first).
    cold_fraction : float in (0, 1), default=0.1
        Share of the occurring items made cold.
    max_len : int, default=20
        Cap on the validation and test histories, as in :func:`leave_last_out`.
    random_state : int, RandomState or None, default=None
        Draw of the cold items; an int gives the same split every time.
    n_items : int, optional
        Catalogue size; ids outside ``[0, n_items)`` raise. Taken from the dataset when a
        :class:`~sksid.datasets.SequenceDataset` is passed; else the largest id + 1.

    Returns
    -------
    ColdItemSplit

    Warns
    -----
    UserWarning
        With the count of users dropped (fewer than 3 interactions once the cold items
        are removed) and how many of them had fewer than 3 to begin with.

    Examples
    --------
    >>> import numpy as np
    >>> seqs = [np.array([0, 1, 2, 3, 4]), np.array([4, 3, 2, 1, 0])]
    >>> split = cold_item_split(seqs, cold_fraction=0.2, random_state=0)
    >>> split.cold_items.tolist()
    [2]
    >>> split.X_test[0].tolist(), int(split.y_test[0]), split.X_train[1].tolist()
    ([0, 1, 3], 4, [4])
    >>> split.n_items, split.test_cold.tolist()
    (5, [False, False])
    """
    if (not isinstance(cold_fraction, Real) or isinstance(cold_fraction, (bool, np.bool_))
            or not 0 < cold_fraction < 1):
        raise ValueError(f"cold_fraction must be a float in (0, 1), got {cold_fraction!r}")
    seqs, max_len, n_items = _check_split_input(sequences, max_len, n_items)
    present = np.unique(np.concatenate([s for s in seqs if s.size] or [np.zeros(0, dtype=np.int64)]))
    if present.size < 2:
        raise ValueError(f"cold_item_split needs at least 2 distinct items (a cold and a warm one), "
                         f"got {present.size}")
    n_cold = int(min(max(round(cold_fraction * present.size), 1), present.size - 1))
    rng = check_random_state(random_state)
    cold = np.sort(rng.choice(present, size=n_cold, replace=False)).astype(np.int64)
    is_cold = np.zeros(n_items, dtype=bool)
    is_cold[cold] = True
    kept, users, n_short = [], [], 0
    for u, s in enumerate(seqs):
        if s.size < 3:
            n_short += 1
            continue
        body = s[:-1]
        s2 = np.concatenate([body[~is_cold[body]], s[-1:]])
        if s2.size >= 3:
            kept.append(s2)
            users.append(u)
    n_dropped = len(seqs) - len(users)
    if n_dropped:
        warnings.warn(f"cold_item_split: dropped {n_dropped} user(s) with fewer than 3 interactions once "
                      f"the {n_cold} cold item(s) were removed ({n_short} of them had fewer than 3 "
                      f"to begin with); kept {len(users)}", UserWarning, stacklevel=2)
    if not users:
        raise ValueError("no sequence keeps at least 3 interactions once the cold items are removed; "
                         "nothing to split")
    parts = _parts(kept, max_len, n_items)
    return ColdItemSplit(**parts, max_len=max_len, users=np.asarray(users, dtype=np.int64), n_items=n_items,
                         cold_items=cold, test_cold=is_cold[parts["y_test"]], cold_fraction=float(cold_fraction))
