"""The popularity floor every model must beat."""
from __future__ import annotations

import numpy as np

from .._validation import check_sequences, check_targets
from ._base import BaseRecommender
from ..sequences import SIDSequences

__all__ = ["MostPopular"]


class MostPopular(BaseRecommender):
    """Recommend the items with most training interactions, to every user.

    Parameters
    ----------
    top_k : int, default=10
        Number of ids returned per user.
    exclude_seen : bool, default=False
        Skip items already in the user's history (the benchmark protocol keeps them, as
        RecBole does). When fewer than ``top_k`` unseen items remain, the row is padded
        with -1.
    random_state : None, default=None
        Unused; kept so every recommender shares the same parameters.
    device : str, default="auto"
        Unused (numpy only); kept for a uniform API.
    n_items : int or None, default=None
        Catalogue size. None: the coded catalogue of an ``SIDSequences``, else the largest
        id in ``X``/``y`` + 1. Give it (e.g. ``split.n_items``) when some items occur only
        in validation or test histories: they are then part of the catalogue (popularity
        0) instead of raising at predict.

    Attributes
    ----------
    item_popularity_ : ndarray of shape (n_items,)
    popular_items_ : ndarray of shape (n_items,), ids by decreasing popularity
    n_items_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rec = MostPopular(top_k=2).fit([np.array([0, 1]), np.array([1])], [2, 1])
    >>> rec.predict([np.array([0])]).tolist()
    [[1, 0]]
    """

    _parameter_constraints: dict = {**BaseRecommender._parameter_constraints, "exclude_seen": ["boolean"]}
    _fitted_attr = "popular_items_"

    def __init__(self, top_k=10, exclude_seen=False, random_state=None, device="auto", n_items=None):
        self.top_k = top_k
        self.n_items = n_items
        self.exclude_seen = exclude_seen
        self.random_state = random_state
        self.device = device

    def fit(self, X, y=None):
        """Count interactions in histories ``X`` and targets ``y``; returns self."""
        self._validate_params()
        seqs = check_sequences(X, n_items=X.n_items if isinstance(X, SIDSequences) else None)
        y = None if y is None else check_targets(y, len(seqs))
        self.n_items_ = self._catalogue_size(X, seqs, y)
        self._check_top_k(self.n_items_)
        self._fit_popularity(seqs, y, self.n_items_)
        return self

    def _top_items(self, X, seqs, k):
        ids = np.tile(self.popular_items_[:k], (len(seqs), 1))
        return ids, self.item_popularity_[ids].astype(np.float32)
