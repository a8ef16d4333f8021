"""The content floor (issue 42): rank items by the cosine similarity of their content
embedding to the user's recent items, so that items no one has interacted with yet (cold
items) get an honest baseline."""
from __future__ import annotations

from collections.abc import Mapping
from numbers import Real

import numpy as np

from .._validation import POSITIVE_INT, StrictInterval, check_sequences, check_targets
from ..sequences import SIDSequences, pad_histories
from ._base import BaseRecommender

__all__ = ["ContentKNN"]

# (users x items) entries scored at a time: bounds predict's working memory (float32)
_CHUNK_ENTRIES = 1 << 24


def _unit_rows(a):
    """Rows scaled to unit L2 norm; all-zero rows stay zero."""
    norm = np.linalg.norm(a, axis=1, keepdims=True)
    return np.divide(a, norm, out=np.zeros_like(a), where=norm > 0)


def _as_matrix(a, name):
    try:
        a = np.asarray(a)
    except Exception as exc:  # noqa: BLE001 - ragged lists and the like
        raise ValueError(f"{name} must be a 2-D numeric array: {exc}") from exc
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array of shape (n_items, d), got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got dtype {a.dtype}")
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)):
        bad = np.flatnonzero(~np.isfinite(a).all(axis=1))
        raise ValueError(f"{name} contains NaN or inf in {bad.size} row(s) (first: item {int(bad[0])}); "
                         "embed missing content as zeros (such items score 0) or impute it")
    return a


def content_matrix(item_features) -> np.ndarray:
    """Unit-norm content rows from an ``(n_items, d)`` array or a ``{modality: array}`` mapping.

    Each modality's rows are scaled to unit norm, the modalities concatenated and the
    result scaled to unit norm again, so the cosine of two items is the mean of their
    per-modality cosines (every modality weighs alike) when both have every modality.
    All-zero rows (no content) stay zero.

    Examples
    --------
    >>> print(content_matrix({"a": [[3., 4.], [0., 0.]], "b": [[1.], [2.]]}).round(3))
    [[0.424 0.566 0.707]
     [0.    0.    1.   ]]
    """
    if item_features is None:
        raise ValueError(
            "ContentKNN needs the items' content: fit(X, y, item_features=<(n_items, d) array or "
            "{modality: (n_items, d) array}>), e.g. sksid.features.item_features(dataset); in a Pipeline "
            "pass it as <step>__item_features=")
    if isinstance(item_features, Mapping):
        if not item_features:
            raise ValueError("item_features is an empty mapping: give at least one modality")
        mats = {m: _as_matrix(a, f"item_features[{m!r}]") for m, a in item_features.items()}
        rows = {m: a.shape[0] for m, a in mats.items()}
        if len(set(rows.values())) != 1:
            raise ValueError(f"every modality of item_features must have one row per item, got rows {rows}")
        return _unit_rows(np.concatenate([_unit_rows(a) for a in mats.values()], axis=1))
    return _unit_rows(_as_matrix(item_features, "item_features"))


class ContentKNN(BaseRecommender):
    """Rank items by content similarity to the user's most recent items.

    The content floor of the cold-item protocol
    (:func:`sksid.model_selection.cold_item_split`): an item's score is the cosine
    similarity of its content embedding (e.g. the MiniLM text embedding of
    :func:`sksid.features.item_features`) to the user's **profile**, the recency-weighted
    mean of the unit-norm embeddings of the last ``n_recent`` items of the history (the
    ``j``-th most recent, ``j = 0, 1, ...``, weighs ``decay ** j``). It needs no
    interaction with an item to rank it, so new items are ranked like any other; the
    interactions only give the popularity ranking of an empty history (or of a history
    whose items all have zero content), answered with NaN scores, as the SID models do.
    No training: ``fit`` normalises the content and counts the training popularity.

    The content is a fit argument, like a tokenizer's ``item_features``:
    ``fit(X, y, item_features=...)`` with an ``(n_items, d)`` array or a
    ``{modality: (n_items, d_m) array}`` mapping (a dict, a
    :class:`~sksid.feature_store.FeatureStore`); with several modalities every modality
    weighs alike (:func:`content_matrix`). Its rows are the catalogue: ``n_items_`` is
    their number. In a Pipeline, ``pipe.fit(X, y, rec__item_features=feats)``.

    Parameters
    ----------
    top_k : int, default=10
        Number of ids returned per user.
    n_recent : int, default=10
        Number of most recent history items in the profile.
    decay : float in (0, 1], default=0.8
        Recency weight ratio: the ``j``-th most recent item weighs ``decay ** j``
        (1: a plain mean of the last ``n_recent`` items).
    exclude_seen : bool, default=False
        ``predict`` (and ``recommend`` unless its ``exclude_seen`` says otherwise) drops
        the items of the history from each row; a row left with fewer than ``top_k``
        unseen items is padded with -1.
    random_state : None, default=None
        Unused (deterministic); kept so every recommender shares the same parameters.
    device : str, default="auto"
        Unused (numpy only); kept for a uniform API.
    n_items : int or None, default=None
        Catalogue size; None: the rows of ``item_features``. When given it must equal
        them.

    Attributes
    ----------
    content_embeddings_ : ndarray of shape (n_items, d), float32
        Unit-norm content rows (zero for an item without content).
    item_popularity_ : ndarray of shape (n_items,)
        Training interactions (``X`` and ``y``) of every item.
    popular_items_ : ndarray of shape (n_items,)
        Ids by decreasing popularity (the empty-history ranking).
    n_items_ : int

    Examples
    --------
    >>> import numpy as np
    >>> emb = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]])
    >>> rec = ContentKNN(top_k=2, exclude_seen=True).fit([np.array([0, 2])], [3], item_features=emb)
    >>> rec.predict([np.array([0]), np.array([2]), np.array([], dtype=int)]).tolist()
    [[1, 3], [3, 1], [0, 2]]
    """

    _parameter_constraints: dict = {
        **BaseRecommender._parameter_constraints,
        "n_recent": [POSITIVE_INT],
        "decay": [StrictInterval(Real, 0, 1, closed="right")],
        "exclude_seen": ["boolean"],
    }
    _fitted_attr = "content_embeddings_"

    def __init__(self, top_k=10, n_recent=10, decay=0.8, exclude_seen=False, random_state=None, device="auto",
                 n_items=None):
        self.top_k = top_k
        self.n_recent = n_recent
        self.decay = decay
        self.exclude_seen = exclude_seen
        self.random_state = random_state
        self.device = device
        self.n_items = n_items

    def fit(self, X, y=None, item_features=None):
        """Normalise the content of every item and count the training popularity.

        Parameters
        ----------
        X : list of 1-D int arrays or SIDSequences
            Training histories (their items count towards the popularity fallback).
        y : array-like of int, optional
            Next items of ``X`` (counted too).
        item_features : ndarray of shape (n_items, d) or mapping {modality: array}
            Content of every catalogue item, cold items included.

        Returns
        -------
        self
        """
        self._validate_params()
        emb = content_matrix(item_features)
        n = emb.shape[0]
        if self.n_items is not None and int(self.n_items) != n:
            raise ValueError(f"n_items={self.n_items} but item_features has {n} rows; the content "
                             "must give one row per catalogue item")
        if isinstance(X, SIDSequences) and X.n_items != n:
            raise ValueError(f"the codes cover {X.n_items} items but item_features has {n} rows")
        seqs = check_sequences(X, n_items=n)
        y = None if y is None else check_targets(y, len(seqs))
        if y is not None and y.size and int(y.max()) >= n:
            raise ValueError(f"y contains item id {int(y.max())} but item_features has {n} rows "
                             "(one per catalogue item)")
        self._check_top_k(n)
        self._fit_popularity(seqs, y, n)
        self.content_embeddings_ = emb
        self.n_items_ = n
        return self

    def _profiles(self, seqs):
        """Unit-norm recency-weighted profiles ``(n, d)`` and whether each one exists."""
        items, lengths = pad_histories(seqs, self.n_recent)
        age = lengths[:, None] - 1 - np.arange(items.shape[1])[None, :]  # 0: the most recent
        w = np.where(age >= 0, float(self.decay) ** np.maximum(age, 0), 0.0).astype(np.float32)
        prof = np.einsum("nr,nrd->nd", w, self.content_embeddings_[np.maximum(items, 0)])
        return _unit_rows(prof), np.linalg.norm(prof, axis=1) > 1e-12

    def _top_items(self, X, seqs, k):
        self._revalidate_params("n_recent", "decay")
        n, emb = len(seqs), self.content_embeddings_
        ids = np.empty((n, k), dtype=np.int64)
        scores = np.empty((n, k), dtype=np.float32)
        # users per block: the (users, n_items) scores and the gathered (users, n_recent, d)
        # embeddings stay under _CHUNK_ENTRIES entries each
        step = max(1, _CHUNK_ENTRIES // max(self.n_items_, self.n_recent * emb.shape[1]))
        for a in range(0, n, step):
            b = min(n, a + step)
            prof, has = self._profiles(seqs[a:b])
            block_ids, block_sc = ids[a:b], scores[a:b]  # views
            block_ids[~has] = self.popular_items_[:k]
            block_sc[~has] = np.nan
            sc = prof[has] @ emb.T  # (users, n_items) cosines
            if k < self.n_items_:
                top = np.argpartition(-sc, k - 1, axis=1)[:, :k]
            else:
                top = np.broadcast_to(np.arange(self.n_items_), sc.shape)
            top_sc = np.take_along_axis(sc, top, 1)
            order = np.lexsort((top, -top_sc), axis=1)  # best first, ties by the smaller id
            block_ids[has] = np.take_along_axis(top, order, 1)
            block_sc[has] = np.take_along_axis(top_sc, order, 1)
        return ids, scores
