"""The shared dataset container and the filtering helpers used by every loader."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._validation import NON_NEGATIVE_INT, POSITIVE_INT, check_sequences

__all__ = ["SequenceDataset", "k_core_filter"]


@dataclass(eq=False)
class SequenceDataset:
    """Chronological interaction sequences plus item side information.

    Every loader in :mod:`sksid.datasets` and :func:`~sksid.datasets.from_interactions`
    return one. Item ids are contiguous, ``0 .. n_items - 1``; the original ids are kept in
    :attr:`raw_item_ids`, and :meth:`encode` / :meth:`decode` translate raw-id histories to
    indices and recommended indices back to raw ids. Users are numbered by their position
    in :attr:`sequences` (original ids in :attr:`raw_user_ids`).

    Attributes
    ----------
    sequences : list of ndarray of int64
        One 1-D array per user, oldest interaction first, ids in ``[0, n_items)``.
    n_items : int
        Catalogue size (every item has at least one interaction).
    n_users : int
        Number of users, ``len(sequences)``.
    item_text : list of str
        One text per item (title and other metadata); ``''`` where nothing is known.
    item_popularity : ndarray of int64, shape (n_items,)
        Number of interactions of each item over **all** sequences. Use
        :func:`sksid.model_selection.train_item_counts` for training-only counts.
    item_categories : list of list of str
        Categorical metadata of each item: genres (MovieLens) or category-path
        elements plus the brand (Amazon); an empty list where nothing is known.
    raw_item_ids : ndarray of object
        Original item id (MovieLens item id, Amazon ASIN) of each item.
    raw_user_ids : ndarray of object
        Original user id of each user.
    name : str
        Short dataset name, e.g. ``"ml-100k"``.
    interactions : pandas.DataFrame or None
        The raw interaction rows where the loader has them (MovieLens-100k): columns
        ``user_id``, ``item_id``, ``rating``, ``timestamp``, ids in the same space as
        :attr:`sequences` (user ``u`` is ``sequences[u]``), in file order. ``None`` for
        data sets shipped as sequences only (Amazon Beauty has no ratings nor timestamps).

    Examples
    --------
    >>> import numpy as np
    >>> ds = SequenceDataset(
    ...     sequences=[np.array([0, 1]), np.array([1])], n_items=2, n_users=2,
    ...     item_text=["a", "b"], item_popularity=np.array([1, 2]),
    ...     item_categories=[["x"], []], raw_item_ids=np.array(["i0", "i1"], dtype=object),
    ...     name="toy")
    >>> ds.n_interactions
    3
    >>> [h.tolist() for h in ds.encode([["i1", "i0"]])], ds.decode([[1, -1]]).tolist()
    ([[1, 0]], [['i1', -1]])
    """

    sequences: list
    n_items: int
    n_users: int
    item_text: list
    item_popularity: np.ndarray
    item_categories: list
    raw_item_ids: np.ndarray
    name: str = ""
    raw_user_ids: np.ndarray = field(default=None)
    interactions: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.raw_user_ids is None:
            self.raw_user_ids = np.arange(len(self.sequences)).astype(object)
        if len(self.sequences) != self.n_users:
            raise ValueError(f"n_users={self.n_users} but {len(self.sequences)} sequences were given")
        for attr in ("item_text", "item_popularity", "item_categories", "raw_item_ids"):
            if len(getattr(self, attr)) != self.n_items:
                raise ValueError(f"{attr} has {len(getattr(self, attr))} entries, expected n_items={self.n_items}")

    @property
    def n_interactions(self) -> int:
        """Total number of interactions."""
        return int(sum(len(s) for s in self.sequences))

    def encode(self, histories, unknown: str = "error") -> list:
        """Raw-id histories (lists of raw item ids, oldest first) as dataset indices, the
        input of ``fit`` / ``predict`` / ``recommend``.

        Parameters
        ----------
        histories : iterable of iterables of raw item ids
        unknown : {"error", "drop"}, default="error"
            A raw id that is not an item of the dataset raises (naming it), or is dropped
            from its history (new items the models cannot score).

        Returns
        -------
        list of ndarray of int64
        """
        if unknown not in ("error", "drop"):
            raise ValueError(f"unknown must be 'error' or 'drop', got {unknown!r}")
        if isinstance(histories, (str, bytes)) or not hasattr(histories, "__iter__"):
            raise TypeError("histories must be a list of raw-id histories, e.g. [['tea', 'jam']]")
        index = pd.Index(self.raw_item_ids)
        out = []
        for h in histories:
            h = [h] if isinstance(h, (str, bytes)) else list(h)
            pos = index.get_indexer(h) if h else np.zeros(0, dtype=np.int64)
            if (pos < 0).any():
                if unknown == "error":
                    bad = [x for x, p in zip(h, pos) if p < 0][:5]
                    raise ValueError(
                        f"raw item id(s) {bad} are not items of dataset {self.name!r} (its ids look "
                        f"like {self.raw_item_ids[:3].tolist()}); use the same id type, or "
                        "encode(..., unknown='drop') to leave new items out")
                pos = pos[pos >= 0]
            out.append(np.asarray(pos, dtype=np.int64))
        return out

    def decode(self, ids) -> np.ndarray:
        """Raw item ids of dataset indices (any shape, e.g. ``predict``'s output); the -1
        padding of ``exclude_seen`` stays -1.

        Returns
        -------
        ndarray of object, same shape as ``ids``
        """
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise ValueError(f"ids must be integer dataset indices, got dtype {ids.dtype}")
        if ids.size and (ids.max() >= self.n_items or ids.min() < -1):
            raise ValueError(f"ids must lie in [0, {self.n_items}) (or be -1), got "
                             f"[{ids.min()}, {ids.max()}]")
        out = np.asarray(self.raw_item_ids, dtype=object)[np.clip(ids, 0, None)]
        return np.where(ids == -1, -1, out).astype(object)

    def __repr__(self) -> str:
        return (f"SequenceDataset(name={self.name!r}, n_users={self.n_users}, "
                f"n_items={self.n_items}, n_interactions={self.n_interactions})")


def k_core_filter(sequences: list[np.ndarray], k: int | None, n_items: int,
                  *, name: str = "dataset") -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Iteratively drop users and items with fewer than ``k`` interactions.

    Users are removed first, then items, and the two steps repeat until no user or
    item falls below ``k`` (the usual "k-core"). What was removed is reported in one
    :class:`UserWarning` with counts; nothing is dropped silently.

    Parameters
    ----------
    sequences : list of ndarray of int64
        Chronological sequences with ids in ``[0, n_items)``.
    k : int or None
        Minimum number of interactions; ``None`` or ``0`` disables filtering.
    n_items : int
        Size of the id space of ``sequences``.
    name : str
        Dataset name used in the warning.

    Returns
    -------
    sequences : list of ndarray of int64
        Kept sequences, **still in the original id space** (order preserved).
    kept_users : ndarray of int64
        Positions (in the input list) of the kept users.
    kept_items : ndarray of bool, shape (n_items,)
        Mask of the kept items.

    Examples
    --------
    >>> import numpy as np
    >>> seqs = [np.array([0, 1]), np.array([0, 1]), np.array([2])]
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     kept, users, items = k_core_filter(seqs, 2, 3)
    >>> users.tolist(), items.tolist()
    ([0, 1], [True, True, False])
    """
    if k is not None and not NON_NEGATIVE_INT.is_satisfied_by(k):
        raise ValueError(f"min_interactions must be a non-negative int or None, got {k!r}")
    if not POSITIVE_INT.is_satisfied_by(n_items):
        raise ValueError(f"n_items must be a positive int, got {n_items!r}")
    seqs = (check_sequences(sequences, n_items=n_items, name="sequences")
            if len(sequences) else [])
    users = np.arange(len(seqs))
    items = np.ones(n_items, dtype=bool)
    if not k:
        return seqs, users, items
    n_inter0 = sum(len(s) for s in seqs)
    n_items0 = int(np.count_nonzero(np.bincount(np.concatenate(seqs), minlength=n_items))) if seqs else 0
    while True:
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        keep_u = lengths >= k
        seqs = [s for s, keep in zip(seqs, keep_u) if keep]
        users = users[keep_u]
        counts = (np.bincount(np.concatenate(seqs), minlength=n_items)
                  if seqs else np.zeros(n_items, dtype=np.int64))
        bad_items = items & (counts < k)
        if not bad_items.any() and keep_u.all():
            break
        items &= ~bad_items
        if bad_items.any():
            seqs = [s[items[s]] for s in seqs]
    n_inter = sum(len(s) for s in seqs)
    dropped_users = len(sequences) - len(seqs)
    dropped_items = n_items0 - int(items.sum() if seqs else 0)
    if dropped_users or n_inter != n_inter0:
        warnings.warn(
            f"{name}: {k}-core filtering dropped {dropped_users} user(s), "
            f"{dropped_items} item(s) and {n_inter0 - n_inter} interaction(s); "
            f"kept {len(seqs)} users, {int(items.sum())} items, {n_inter} interactions.",
            UserWarning, stacklevel=3)
    return seqs, users, items


def _remap(sequences: list[np.ndarray], keep: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Map the kept ids of ``keep`` (bool mask) to ``0 .. keep.sum()-1`` in id order."""
    new_id = np.full(keep.shape[0], -1, dtype=np.int64)
    new_id[keep] = np.arange(int(keep.sum()), dtype=np.int64)
    return [new_id[s] for s in sequences], np.flatnonzero(keep)
