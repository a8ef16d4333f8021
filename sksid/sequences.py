"""Sequence containers and the batching rules shared by every sequential model.

Layout convention used throughout sksid: histories are **right-padded** with ``-1``
(oldest item at position 0, padding after the last real item). With causal attention a
real position never attends to padding, so no key-padding mask is needed and fused
(flash) attention kernels apply.
"""
from __future__ import annotations

from numbers import Integral

import numpy as np

from ._validation import check_codes

__all__ = ["Histories", "SIDSequences", "catalogue_of", "pad_histories", "training_windows", "as_plain_sequences"]

PAD = -1


class Histories(list):
    """A list of item-id histories that carries the catalogue size.

    :func:`~sksid.model_selection.leave_last_out` returns its parts as ``Histories``, so a
    recommender (or a tokenizer in a Pipeline) fitted on ``split.X_train`` knows the whole
    catalogue, including items that occur only in validation or test histories, and
    ``predict(split.X_test)`` needs no ``n_items=``. Any consumer that does not know about
    it sees a plain list of 1-D int arrays (slicing returns a plain list).

    Parameters
    ----------
    sequences : iterable of 1-D int arrays
        Histories, oldest first, ids in ``[0, n_items)``.
    n_items : int
        Catalogue size.

    Examples
    --------
    >>> import numpy as np
    >>> h = Histories([np.array([0, 1])], n_items=5)
    >>> len(h), h.n_items
    (1, 5)
    """

    def __init__(self, sequences, n_items):
        super().__init__(sequences)
        if not isinstance(n_items, Integral) or isinstance(n_items, (bool, np.bool_)) or n_items < 1:
            raise ValueError(f"n_items must be a positive int, got {n_items!r}")
        self.n_items = int(n_items)
        hi = max((int(np.max(s)) for s in self if np.size(s)), default=-1)
        if hi >= self.n_items:
            raise ValueError(f"histories contain item id {hi} but n_items={self.n_items}")

    def __reduce__(self):
        return (Histories, (list(self), self.n_items))


def catalogue_of(X):
    """The catalogue size ``X`` carries: that of an :class:`SIDSequences` (its coded items) or
    of :class:`Histories`; None for a plain list."""
    return X.n_items if isinstance(X, (SIDSequences, Histories)) else None


class SIDSequences(list):
    """A list of item-id histories that carries the catalogue's Semantic IDs.

    Tokenizers return it from ``transform`` on interaction data, so that the next step
    of a :class:`~sklearn.pipeline.Pipeline` receives both the histories and the code
    table. It behaves exactly like a list of 1-D int arrays for any consumer that does
    not know about codes (SASRec, MostPopular).

    Parameters
    ----------
    sequences : iterable of 1-D int arrays
        Histories, oldest first.
    codes : ndarray of shape (n_items, L), int
        Code tuple of every catalogue item: a non-empty table of non-negative integers
        (an integer dtype; float codes raise instead of being truncated).
    weights : ndarray of shape (n_items, L), float, optional
        Importance weight of every code (ADC-SID), finite and non-negative; ones when
        absent.
    codebook_sizes : sequence of int, optional
        Number of codewords at each position (defaults to ``codes.max(0) + 1``).
    item_embeddings : ndarray of shape (n_items, d), float, optional
        The behaviour model's item table, when the tokenizer learned one (IntRR's
        ``anchor_init="behavior"`` starts its UID anchors from it).

    Examples
    --------
    >>> import numpy as np
    >>> s = SIDSequences([np.array([0, 1])], codes=np.array([[0, 1], [1, 0]]))
    >>> len(s), s.n_items, s.code_length
    (1, 2, 2)
    """

    def __init__(self, sequences, codes, weights=None, codebook_sizes=None, item_embeddings=None):
        super().__init__(sequences)
        codes, weights = check_codes(codes, weights)
        if weights is None:
            weights = np.ones(codes.shape, dtype=np.float32)
        if codebook_sizes is None:
            codebook_sizes = tuple(int(c) + 1 for c in codes.max(axis=0))
        self.codes = codes
        self.weights = weights
        self.codebook_sizes = tuple(int(k) for k in codebook_sizes)
        if item_embeddings is not None:
            item_embeddings = np.asarray(item_embeddings, dtype=np.float32)
            if item_embeddings.ndim != 2 or item_embeddings.shape[0] != codes.shape[0]:
                raise ValueError(f"item_embeddings must have shape (n_items={codes.shape[0]}, d), "
                                 f"got {item_embeddings.shape}")
            if not np.all(np.isfinite(item_embeddings)):
                raise ValueError("item_embeddings contain NaN or inf")
        self.item_embeddings = item_embeddings

    @property
    def n_items(self) -> int:
        return int(self.codes.shape[0])

    @property
    def code_length(self) -> int:
        return int(self.codes.shape[1])

    def __reduce__(self):
        return (SIDSequences, (list(self), self.codes, self.weights, self.codebook_sizes,
                               self.item_embeddings))


def as_plain_sequences(X):
    """Return ``X`` as a plain list (drops codes of an :class:`SIDSequences`)."""
    return list(X)


def _check_max_len(max_len) -> int:
    """``max_len`` as an int; anything but a positive integer raises."""
    if not isinstance(max_len, Integral) or isinstance(max_len, (bool, np.bool_)) or max_len < 1:
        raise ValueError(f"max_len must be a positive int, got {max_len!r}")
    return int(max_len)


def pad_histories(X, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad histories, keeping the ``max_len`` most recent items.

    Returns
    -------
    items : ndarray of shape (n, max_len), int64, padded with -1
    lengths : ndarray of shape (n,), int64 (0 for an empty history)

    Examples
    --------
    >>> items, lengths = pad_histories([[1, 2, 3], [4]], max_len=2)
    >>> items.tolist(), lengths.tolist()
    ([[2, 3], [4, -1]], [2, 1])
    """
    max_len = _check_max_len(max_len)
    n = len(X)
    items = np.full((n, max_len), PAD, dtype=np.int64)
    lengths = np.zeros(n, dtype=np.int64)
    for i, s in enumerate(X):
        s = np.asarray(s, dtype=np.int64)[-max_len:]
        items[i, : s.size] = s
        lengths[i] = s.size
    return items, lengths


def training_windows(X, y, max_len: int, stride: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cut each full sequence ``X[i] + [y[i]]`` into causal training windows.

    Every item after the first one of a sequence is the target of exactly one window
    position (teacher forcing on all positions, as SASRec trains). Windows overlap by
    ``max_len - stride`` items so that, apart from the sequence start, each target sees at
    least ``max_len - stride`` items of context, close to RecBole's "every prefix truncated
    to ``max_len``" protocol at a fraction of its cost.

    Parameters
    ----------
    X : list of 1-D int arrays
        Histories (may be empty).
    y : array-like of int or None
        The next item of each history; appended to the history when given.
    max_len : int
        Window length (model history length).
    stride : int, optional
        Step between window ends; default ``max(1, max_len // 2)``.

    Returns
    -------
    inputs : ndarray (n_windows, max_len), int64, right-padded with -1
    targets : ndarray (n_windows, max_len), int64, -1 where no loss is taken

    Examples
    --------
    >>> inp, tgt = training_windows([[1, 2]], [3], max_len=4)
    >>> inp.tolist(), tgt.tolist()
    ([[1, 2, -1, -1]], [[2, 3, -1, -1]])
    """
    max_len = _check_max_len(max_len)  # max_len=0 looped forever
    if stride is None:
        stride = max(1, max_len // 2)
    stride = int(min(max(stride, 1), max_len))
    ins, tgs = [], []
    for i, s in enumerate(X):
        full = np.asarray(s, dtype=np.int64)
        if y is not None:
            full = np.append(full, np.int64(y[i]))
        n_t = full.size - 1  # number of (context, target) pairs
        if n_t <= 0:
            continue
        # window ends (target indices), earliest first: the first window starts at the
        # sequence start and claims all its targets; each later window moves ``stride``
        # items on and claims only the targets it adds (its last ``stride`` positions).
        ends = [min(max_len, n_t)]
        while ends[-1] < n_t:
            ends.append(min(ends[-1] + stride, n_t))
        prev_end = 0
        for end in ends:  # inputs full[start:end], targets full[start+1:end+1]
            start = max(0, end - max_len)
            inp = full[start:end]
            tgt = full[start + 1 : end + 1].copy()
            tgt[np.arange(start + 1, end + 1) <= prev_end] = PAD
            prev_end = end
            row_i = np.full(max_len, PAD, dtype=np.int64)
            row_t = np.full(max_len, PAD, dtype=np.int64)
            row_i[: inp.size] = inp
            row_t[: tgt.size] = tgt
            ins.append(row_i)
            tgs.append(row_t)
    if not ins:
        return np.zeros((0, max_len), np.int64), np.zeros((0, max_len), np.int64)
    return np.stack(ins), np.stack(tgs)
