"""The recommender contract: ``fit(X, y)``, ``predict(X)``, ``recommend(X, k)``,
``score(X, y)`` on item-id histories (:class:`BaseRecommender`), and the catalogue-size
rules every recommender shares."""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import validate_parameter_constraints
from sklearn.utils.validation import check_is_fitted

from .._validation import POSITIVE_INT, TRAINING_CONSTRAINTS, UNKNOWN_ITEMS_HINT, check_sequences
from ..metrics import _check_k
from ..sequences import SIDSequences, catalogue_of

__all__ = ["BaseRecommender", "drop_seen", "EXCLUDE_SEEN_DOC"]


#: numpydoc entry of ``exclude_seen`` (recommenders that have the parameter)
EXCLUDE_SEEN_DOC = """    exclude_seen : bool, default=False
        ``predict`` (and ``recommend`` unless its ``exclude_seen`` says otherwise) drops the
        items of the history from each row
        (:meth:`~sksid.recommenders.BaseRecommender.recommend`; off: the papers' protocol keeps
        them); a row left with fewer than ``top_k`` unseen items is padded with -1.
        Training and early stopping ignore it.
"""


def drop_seen(ids, scores, seqs, k):
    """Remove each row's history items from a ranking and keep its first ``k`` entries.

    Parameters
    ----------
    ids : ndarray (n_users, m), int
        Ranked item ids, best first (-1: no item).
    scores : ndarray (n_users, m), float
    seqs : list of 1-D int arrays
        The histories as passed (every item counts as seen, not only the last ``max_len``).
    k : int

    Returns
    -------
    (ids, scores) of shape (n_users, k). A row left with fewer than ``k`` unseen items is
    padded with id -1 and score -inf.

    Examples
    --------
    >>> ids, sc = drop_seen(np.array([[3, 1, 2]]), np.array([[4., 2., 1.]]), [np.array([1])], 3)
    >>> ids.tolist(), sc.tolist()
    ([[3, 2, -1]], [[4.0, 1.0, -inf]])
    """
    ids = np.asarray(ids, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float32)
    n, m = ids.shape
    lengths = np.fromiter((s.size for s in seqs), dtype=np.int64, count=n)
    H = max(int(lengths.max(initial=0)), 1)
    hist = np.full((n, H), -2, dtype=np.int64)  # -2 never matches an id or the -1 padding
    if lengths.sum():
        rows = np.repeat(np.arange(n), lengths)
        cols = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        hist[rows, cols] = np.concatenate([s for s in seqs if s.size])
    out_ids = np.full((n, k), -1, dtype=np.int64)
    out_sc = np.full((n, k), -np.inf, dtype=np.float32)
    step = max(1, (1 << 24) // max(m * H, 1))  # bound the (rows, m, H) comparison
    for a in range(0, n, step):
        b = min(n, a + step)
        keep = (ids[a:b] >= 0) & ~(ids[a:b, :, None] == hist[a:b, None, :]).any(-1)
        order = np.argsort(~keep, axis=1, kind="stable")[:, :k]  # kept entries first, in rank order
        take_ids = np.take_along_axis(ids[a:b], order, 1)
        take_sc = np.take_along_axis(scores[a:b], order, 1)
        valid = np.arange(order.shape[1])[None, :] < keep.sum(1, keepdims=True)
        out_ids[a:b, : order.shape[1]] = np.where(valid, take_ids, -1)
        out_sc[a:b, : order.shape[1]] = np.where(valid, take_sc, -np.inf)
    return out_ids, out_sc


class BaseRecommender(BaseEstimator):
    """Common API of sksid recommenders: ``fit(X, y)``, ``predict(X)``, ``score(X, y)``.

    ``X`` is a list of 1-D int arrays (histories, oldest first); ``y`` holds the next item
    of each history. ``predict`` returns an ``(n_users, top_k)`` array of item ids, best
    first.

    Parameters are declared in ``_parameter_constraints`` (subclasses extend the dict)
    and validated by ``fit``; those read again at predict time (``top_k``) are
    re-validated there, since ``set_params`` may have changed them after fit.
    """

    _parameter_constraints: dict = {
        "top_k": [POSITIVE_INT],
        "n_items": [POSITIVE_INT, None],
        "device": TRAINING_CONSTRAINTS["device"],
        "random_state": ["random_state"],
    }

    def recommend(self, X, k=None, exclude_seen=None):
        """Top-``k`` items and their scores for each history, best first.

        The same call on every recommender. Scores are the model's own: interaction
        counts (MostPopular), logits (SASRec), summed level log-probabilities (IntRR,
        TIGER; NaN for an empty history, answered by the popularity ranking).

        Parameters
        ----------
        X : list of 1-D int arrays or SIDSequences
            Histories (oldest first).
        k : int, optional
            Items per history (default: ``top_k``); at most the catalogue size. SID models
            widen the beam to ``k`` when ``k > beam_width``.
        exclude_seen : bool or None, default=None
            Drop every item of the history from its row (all of the history as passed,
            not only the last ``max_len``). A row left with fewer than ``k`` unseen items
            is padded with id -1 and score -inf. None: the estimator's ``exclude_seen``
            parameter (what ``predict`` uses; False for an estimator without one).

        Returns
        -------
        ids : ndarray of shape (n_users, k), int64
        scores : ndarray of shape (n_users, k), float32
        """
        seqs = self._check_predict_input(X)
        if exclude_seen is None:
            exclude_seen = bool(getattr(self, "exclude_seen", False))
        k = self.top_k if k is None else _check_k(k)
        if k > self.n_items_:
            raise ValueError(f"k={k} exceeds the number of catalogue items ({self.n_items_})")
        wide = k
        if exclude_seen:  # enough candidates that k survive once the history is removed
            wide = min(self.n_items_, k + max((np.unique(s).size for s in seqs), default=0))
        ids, scores = self._top_items(X, seqs, wide)
        if exclude_seen:
            return drop_seen(ids, scores, seqs, k)
        return ids.astype(np.int64, copy=False), scores.astype(np.float32, copy=False)

    def predict(self, X):
        """Top-``top_k`` next-item ids for each history, best first:
        ``recommend(X, top_k, exclude_seen)[0]``.

        Histories longer than ``max_len`` are truncated to their most recent items; an
        empty history gets the training popularity ranking; unknown item ids raise.

        Returns
        -------
        ndarray of shape (n_users, top_k), int64
        """
        return self.recommend(X, self.top_k, bool(getattr(self, "exclude_seen", False)))[0]

    #: the fitted attribute whose absence means "not fitted" (``check_is_fitted``)
    _fitted_attr = "n_items_"

    def _check_predict_input(self, X):
        """Validated histories of a predict / recommend call (fitted, ``top_k`` still valid,
        ids inside the fitted catalogue)."""
        check_is_fitted(self, self._fitted_attr)
        self._check_top_k(self.n_items_)
        return check_sequences(X, n_items=self.n_items_, unknown_hint=UNKNOWN_ITEMS_HINT)

    def _top_items(self, X, seqs, k):  # pragma: no cover - abstract
        """``(ids, scores)`` of the ``k`` best items per validated history ``seqs``."""
        raise NotImplementedError

    def score(self, X, y):
        """NDCG@``top_k`` of the predictions for ``X`` against the next items ``y``."""
        from ..metrics import ndcg_at_k

        pred = self.predict(X)
        return float(ndcg_at_k(np.asarray(y), pred, pred.shape[1]))

    def _revalidate_params(self, *names):
        """Validate the named parameters against their declared constraints (predict time)."""
        validate_parameter_constraints(
            {n: self._parameter_constraints[n] for n in names},
            {n: getattr(self, n) for n in names}, caller_name=type(self).__name__)

    def _catalogue_size(self, X, seqs, y):
        """Catalogue size of a fit: the ``n_items`` parameter, else the coded catalogue of
        an ``SIDSequences``, else the catalogue size of :class:`~sksid.sequences.Histories`
        (``leave_last_out``'s parts), else the largest id in ``X``/``y`` + 1. Ids outside it raise;
        items of the catalogue that training never saw are legal at predict time."""
        given = getattr(self, "n_items", None)
        if isinstance(X, SIDSequences):
            return self._check_n_items_matches_codes(X.n_items)
        carried = catalogue_of(X)  # Histories: the split's catalogue
        if given is None and carried is None:
            return _infer_n_items(seqs, y)
        n = int(given) if given is not None else carried
        hi = _max_id(seqs, y)
        if hi >= n:
            where = f"n_items={n}" if given is not None else f"the histories carry n_items={n}"
            raise ValueError(f"X/y contain item id {hi} but {where}; ids must lie in [0, n_items)")
        return n

    def _check_n_items_matches_codes(self, coded):
        """The catalogue of coded items (``coded`` rows); an ``n_items`` that disagrees raises."""
        given = getattr(self, "n_items", None)
        if given is not None and int(given) != coded:
            raise ValueError(f"n_items={given} but the codes cover {coded} items; drop n_items "
                             "(the codes define the catalogue) or code the whole catalogue")
        return int(coded)

    def _check_top_k(self, n_items):
        self._revalidate_params("top_k")
        if self.top_k > n_items:
            raise ValueError(f"top_k={self.top_k} exceeds the number of catalogue items ({n_items})")

    def _fit_popularity(self, X, y, n_items):
        counts = np.zeros(n_items, dtype=np.int64)
        for s in X:
            np.add.at(counts, s, 1)
        if y is not None:
            np.add.at(counts, y, 1)
        self.item_popularity_ = counts
        # stable: ties broken by the smaller id
        self.popular_items_ = np.argsort(-counts, kind="stable")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.requires_fit = True
        return tags


# ids are "sparse" (raw, never remapped) when a catalogue inferred from the largest id
# would hold more than this many rows and under SPARSE_IDS_MAX_USE of them occur
SPARSE_IDS_MIN_ROWS = 10_000
SPARSE_IDS_MAX_USE = 0.1
# such a catalogue with under SPARSE_IDS_WARN_USE of its ids occurring warns
SPARSE_IDS_WARN_USE = 0.5


def _max_id(X, y):
    """Largest item id in histories ``X`` and targets ``y`` (-1 when there is none)."""
    hi = max((int(s.max()) for s in X if s.size), default=-1)
    if y is not None and len(y):
        hi = max(hi, int(np.max(y)))
    return hi


def _infer_n_items(X, y):
    hi = _max_id(X, y)
    if hi < 0:
        raise ValueError("cannot infer the catalogue size: X and y contain no item at all")
    if hi + 1 > SPARSE_IDS_MIN_ROWS:
        parts = [s for s in X if s.size] + ([np.asarray(y)] if y is not None and len(y) else [])
        used = np.unique(np.concatenate(parts)).size
        if used < SPARSE_IDS_MAX_USE * (hi + 1):
            raise ValueError(
                f"item ids look raw: {used} distinct ids but the largest is {hi}, so the model "
                f"would hold {hi + 1} item rows; remap them to 0..{used - 1} with "
                "sksid.preprocessing.ItemEncoder, or pass n_items= if the catalogue really "
                "has that many items")
        if used < SPARSE_IDS_WARN_USE * (hi + 1):
            warnings.warn(
                f"item ids may be raw: {used} distinct ids but the largest is {hi}, so the model "
                f"holds {hi + 1} item rows, {hi + 1 - used} of them never seen; remap the ids to "
                f"0..{used - 1} with sksid.preprocessing.ItemEncoder, or pass n_items= if the "
                "catalogue really has that many items", UserWarning, stacklevel=4)
    return hi + 1
