"""The tokenizer -> recommender Pipeline that also recommends: :class:`RecommenderPipeline`.

A scikit-learn :class:`~sklearn.pipeline.Pipeline` whose last step is a recommender. It
checks the histories before any step trains (a DataFrame, raw string ids or a malformed
history fail at once with what to pass, not after the tokenizer's training), accepts a
pandas Series of histories, and answers :meth:`RecommenderPipeline.recommend` like every
recommender.
"""
from __future__ import annotations

from sklearn.pipeline import Pipeline
from sklearn.pipeline import make_pipeline as _sk_make_pipeline
from sklearn.utils.metaestimators import available_if

from ._validation import FRAME_HINT, check_sequences, check_targets

__all__ = ["RecommenderPipeline", "make_pipeline", "check_histories_input"]


def check_histories_input(X, y=None, *, name: str = "X"):
    """Validate the histories (and next items) given to a recommender Pipeline, before any
    step trains.

    Parameters
    ----------
    X : list of 1-D int arrays, Histories, SIDSequences or pandas.Series of them
    y : array-like of int, optional
        Next item of each history.

    Returns
    -------
    X
        As given (a ``Histories`` keeps its catalogue size), a pandas Series as a list.

    Raises
    ------
    TypeError
        For a DataFrame (interaction rows): the message says how to turn one into
        histories (:func:`sksid.datasets.from_interactions`).
    ValueError
        For ids that are not integers (raw string ids: encode them), negative ids,
        histories that are not 1-D, or ``y`` of the wrong length.

    Examples
    --------
    >>> import pandas as pd
    >>> check_histories_input(pd.Series([[0, 1], [2]]))
    [[0, 1], [2]]
    """
    if hasattr(X, "columns") or hasattr(X, "frame"):  # a DataFrame, an SIDInteractions
        raise TypeError(f"{name} is a {type(X).__name__}: " + FRAME_HINT)
    if hasattr(X, "to_numpy") and hasattr(X, "index"):  # a pandas Series of histories
        X = list(X)
    seqs = check_sequences(X, name=name)
    if y is not None:
        check_targets(y, len(seqs))
    return X


def _final_has(attr):
    return lambda self: hasattr(self._final_estimator, attr)


class RecommenderPipeline(Pipeline):
    """A Pipeline of a tokenizer (or other steps) and a recommender, with ``recommend``.

    The same parameters, steps, ``fit`` / ``predict`` / ``score`` and nested
    ``step__param`` names as :class:`sklearn.pipeline.Pipeline`; in addition

    * ``fit``, ``predict``, ``score`` and ``recommend`` check the histories first
      (:func:`check_histories_input`): a DataFrame of interactions, raw string ids or
      ``y`` of the wrong length raise before any step trains, with what to pass; a pandas
      Series of histories is accepted.
    * ``recommend(X, k=None, exclude_seen=None)`` passes ``X`` through the transforms of
      the earlier steps (the tokenizer attaches the Semantic IDs) and returns the last
      step's ``recommend``: ``(ids, scores)``, best first.

    Parameters
    ----------
    steps : list of (str, estimator) tuples
        The last one a recommender (``fit`` / ``predict`` / ``recommend``).
    transform_input : list of str, default=None
        As in :class:`sklearn.pipeline.Pipeline`.
    memory : str or object with the joblib.Memory interface, default=None
        As in :class:`sklearn.pipeline.Pipeline`.
    verbose : bool, default=False
        As in :class:`sklearn.pipeline.Pipeline`.

    Examples
    --------
    >>> import numpy as np
    >>> from sksid import MostPopular
    >>> pipe = RecommenderPipeline([("rec", MostPopular(top_k=2))])
    >>> pipe.fit([np.array([0, 1]), np.array([1])], [2, 1]).recommend([np.array([1])])[0].tolist()
    [[1, 0]]
    """

    def fit(self, X, y=None, **params):
        """Check ``X`` / ``y``, then fit every step (see :meth:`sklearn.pipeline.Pipeline.fit`)."""
        return super().fit(check_histories_input(X, y), y, **params)

    @available_if(_final_has("predict"))
    def predict(self, X, **params):
        """Check ``X``, then the last step's ``predict`` on the transformed histories."""
        return super().predict(check_histories_input(X), **params)

    @available_if(_final_has("score"))
    def score(self, X, y=None, sample_weight=None, **params):
        """Check ``X`` / ``y``, then the last step's ``score`` (NDCG@``top_k``)."""
        return super().score(check_histories_input(X, y), y, sample_weight=sample_weight, **params)

    @available_if(_final_has("recommend"))
    def recommend(self, X, k=None, exclude_seen=None):
        """Top-``k`` items and scores for each history: ``X`` through the earlier steps'
        ``transform``, then the last step's
        :meth:`~sksid.recommenders.BaseRecommender.recommend`.

        Parameters
        ----------
        X : list of 1-D int arrays, Histories or pandas.Series of them
        k : int, optional
            Items per history (default: the recommender's ``top_k``).
        exclude_seen : bool or None, default=None
            Drop the history's items (None: the recommender's ``exclude_seen``).

        Returns
        -------
        ids : ndarray of shape (n_users, k), int64
        scores : ndarray of shape (n_users, k), float32
        """
        Xt = check_histories_input(X)
        for _, _, step in self._iter(with_final=False):
            Xt = step.transform(Xt)
        return self._final_estimator.recommend(Xt, k=k, exclude_seen=exclude_seen)


def make_pipeline(*steps, memory=None, transform_input=None, verbose=False) -> RecommenderPipeline:
    """:class:`RecommenderPipeline` from estimators, named as :func:`sklearn.pipeline.make_pipeline`
    names them (lower-cased class names).

    Examples
    --------
    >>> from sksid import MostPopular
    >>> make_pipeline(MostPopular()).steps[0][0]
    'mostpopular'
    """
    pipe = _sk_make_pipeline(*steps, memory=memory, transform_input=transform_input, verbose=verbose)
    return RecommenderPipeline(pipe.steps, memory=memory, transform_input=transform_input, verbose=verbose)
