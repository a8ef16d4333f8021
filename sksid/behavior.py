"""The behaviour step of a tokenizer fitted on histories: a behaviour model (by default
:class:`~sksid.recommenders.SASRecRecommender`) is fitted on the training histories and
its item table becomes the behavioural modality the tokenizer quantises.

A step of its own, called by :class:`~sksid.tokenizers.BaseTokenizer` on histories input,
so the layers read data -> models (recommenders, this step) -> tokenizers -> pipelines.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import clone

from .recommenders.sasrec import SASRecRecommender
from .sequences import SIDSequences

__all__ = ["BehaviorFit", "fit_behavior_model"]


class BehaviorFit:
    """What the behaviour step returns: the fitted ``estimator``, its ``item_embeddings``
    (float32, ``(n_items, d)``) and the catalogue's interaction ``counts`` (int64,
    ``(n_items,)``: history items and targets)."""

    __slots__ = ("estimator", "item_embeddings", "counts")

    def __init__(self, estimator, item_embeddings, counts):
        self.estimator = estimator
        self.item_embeddings = item_embeddings
        self.counts = counts


def fit_behavior_model(seqs, y, n_items, estimator=None, *, seed=0, device="auto", verbose=0):
    """Fit a behaviour model on validated histories ``seqs`` and next items ``y`` over a
    catalogue of ``n_items`` items.

    Parameters
    ----------
    seqs : list of 1-D int64 arrays
    y : ndarray of shape (len(seqs),), int64
    n_items : int
        Catalogue size: the model gets one item row per catalogue item, also for items
        the histories never show.
    estimator : estimator with ``item_embeddings_``, optional
        Cloned and fitted; default ``SASRecRecommender(random_state=seed, device=device,
        verbose=verbose)`` (the tokenizer's verbosity reaches it: minutes of SASRec
        training would otherwise print nothing).
    seed, device, verbose
        The calling tokenizer's.

    Returns
    -------
    BehaviorFit
    """
    est = (SASRecRecommender(random_state=seed, device=device, verbose=verbose) if estimator is None
           else clone(estimator))
    # an SIDSequences sizes the recommender's catalogue to all n_items items
    est.fit(SIDSequences(seqs, codes=np.zeros((n_items, 1), dtype=np.int64)), y)
    emb = np.asarray(est.item_embeddings_, dtype=np.float32)
    if emb.shape[0] != n_items:
        raise ValueError(f"behavior_estimator returned {emb.shape[0]} item embeddings, expected {n_items}")
    items = np.concatenate([np.concatenate(seqs) if seqs else np.zeros(0, np.int64), y])
    return BehaviorFit(est, emb, np.bincount(items, minlength=n_items).astype(np.int64))
