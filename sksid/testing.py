"""Reusable contract checks for sksid recommenders (as implicit and lenskit ship theirs).

Each ``check_*`` function takes an unfitted estimator and small data, and raises an
``AssertionError`` naming the broken contract. Third-party recommenders built on
:class:`sksid.recommenders.BaseRecommender` can run them in their own test suites::

    from sksid.testing import check_recommender
    check_recommender(MyRecommender(max_epochs=1), X, y)
"""
from __future__ import annotations

import io
import pickle

import joblib
import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from .sequences import SIDSequences

__all__ = [
    "check_recommender",
    "check_params_roundtrip",
    "check_not_fitted",
    "check_fit_returns_self",
    "check_predict_contract",
    "check_pickle_roundtrip",
    "check_unknown_items",
    "check_reproducible",
    "check_recommend_api",
    "check_bad_input",
    "BAD_HISTORIES",
]


def check_params_roundtrip(est):
    """get_params/set_params/clone agree and ``__init__`` stored parameters as given."""
    params = est.get_params(deep=False)
    c = clone(est)
    assert type(c) is type(est)
    cparams = c.get_params(deep=False)
    assert set(cparams) == set(params), "clone changed the parameter names"
    for k, v in params.items():
        assert cparams[k] is v or cparams[k] == v, f"clone changed parameter {k!r}"
    est2 = clone(est).set_params(**params)
    assert est2.get_params(deep=False).keys() == params.keys()
    fitted_attrs = [a for a in vars(c) if a.endswith("_") and not a.startswith("_")]
    assert not fitted_attrs, f"__init__ set fitted-looking attributes {fitted_attrs}"


def check_not_fitted(est, X):
    """predict before fit raises sklearn's NotFittedError."""
    try:
        clone(est).predict(X)
    except NotFittedError:
        return
    raise AssertionError("predict before fit did not raise NotFittedError")


def check_fit_returns_self(est, X, y, fit_params=None):
    e = clone(est)
    assert e.fit(X, y, **(fit_params or {})) is e, "fit must return self"
    return e


def check_predict_contract(fitted, X):
    """(n_users, top_k) int ids inside the catalogue, distinct within each row."""
    pred = fitted.predict(X)
    k = fitted.top_k
    assert pred.shape == (len(X), k), f"predict shape {pred.shape} != {(len(X), k)}"
    assert np.issubdtype(pred.dtype, np.integer)
    assert pred.min() >= 0 and pred.max() < fitted.n_items_, "predicted ids outside the catalogue"
    for row in pred:
        assert len(np.unique(row)) == k, f"duplicate ids in a ranking: {row}"
    return pred


def check_pickle_roundtrip(fitted, X):
    """pickle and joblib copies predict exactly what the original predicts."""
    ref = fitted.predict(X)
    for dump, load in ((pickle.dumps, pickle.loads), (_joblib_dumps, _joblib_loads)):
        other = load(dump(fitted))
        np.testing.assert_array_equal(other.predict(X), ref)


def _joblib_dumps(obj):
    buf = io.BytesIO()
    joblib.dump(obj, buf)
    return buf.getvalue()


def _joblib_loads(data):
    return joblib.load(io.BytesIO(data))


def check_unknown_items(fitted, X):
    """A history holding an id outside the fitted catalogue raises a ValueError."""
    bad = [np.array([fitted.n_items_ + 5])] + list(X[:1])
    try:
        fitted.predict(bad)
    except ValueError as exc:
        assert "unknown" in str(exc).lower(), f"unclear error message: {exc}"
        return
    raise AssertionError("unknown item ids were accepted silently")


def check_reproducible(est, X, y, fit_params=None):
    """Two fits with the same integer random_state give the same predictions (CPU)."""
    a = clone(est).fit(X, y, **(fit_params or {})).predict(X)
    b = clone(est).fit(X, y, **(fit_params or {})).predict(X)
    np.testing.assert_array_equal(a, b)


def check_recommend_api(fitted, X):
    """``recommend(X, k, exclude_seen)``: (ids, scores) of shape (n, k), scores best first,
    ids equal to ``predict`` at ``k=top_k``; ``exclude_seen`` removes the history and pads a
    row with -1 / -inf when too few unseen items remain."""
    ids, scores = fitted.recommend(X)
    assert ids.shape == scores.shape == (len(X), fitted.top_k), "recommend shape"
    assert ids.dtype == np.int64 and scores.dtype == np.float32, "recommend dtypes"
    finite = np.where(np.isnan(scores), 0.0, scores)
    assert (np.diff(finite, axis=1) <= 1e-5).all(), "recommend scores are not best first"
    if not getattr(fitted, "exclude_seen", False):
        np.testing.assert_array_equal(ids, fitted.predict(X))
    ids, _ = fitted.recommend(X, exclude_seen=True)
    for row, hist in zip(ids, X):
        assert not set(row.tolist()) & set(np.asarray(hist).tolist()), "exclude_seen kept a seen item"
    n = fitted.n_items_
    almost_all = np.arange(n - 1)  # one unseen item left
    k = min(fitted.top_k, n)
    ids, scores = fitted.recommend([almost_all], k=k, exclude_seen=True)
    assert ids[0, 0] == n - 1 and (ids[0, 1:] == -1).all() and np.isneginf(scores[0, 1:]).all(), \
        "exclude_seen with fewer unseen items than k must pad with -1 / -inf"


#: histories a recommender must refuse with a ValueError (``{n}`` = catalogue size)
BAD_HISTORIES = {
    "negative id": lambda n: [np.array([0, -3])],
    "id past the catalogue": lambda n: [np.array([0, n + 5])],
    "float ids": lambda n: [np.array([0.5, 1.0])],
    "NaN id": lambda n: [np.array([0.0, np.nan])],
    "2-D history": lambda n: [np.zeros((2, 2), dtype=np.int64)],
    "string ids": lambda n: [np.array(["a", "b"])],
}


def _like(X, seqs):
    """``seqs`` in the container of ``X`` (an SIDSequences keeps its codes)."""
    if isinstance(X, SIDSequences):
        return SIDSequences(seqs, X.codes, X.weights, X.codebook_sizes)
    return seqs


def check_bad_input(est, fitted, X, y, fit_params=None):
    """Bad data gets a ValueError (naming the problem), never an answer or another error.

    Fit-time: mismatched ``X``/``y`` lengths, a NaN / negative target, each entry of
    :data:`BAD_HISTORIES` as training data. Predict-time: each entry of
    :data:`BAD_HISTORIES` against the fitted model."""
    n = fitted.n_items_
    fp = fit_params or {}
    cases = [("fit: X and y of different lengths", lambda: clone(est).fit(X, y[:-1], **fp)),
             ("fit: negative target", lambda: clone(est).fit(X, np.r_[y[:-1], -1], **fp)),
             ("fit: NaN target", lambda: clone(est).fit(X, np.r_[y[:-1].astype(float), np.nan], **fp))]
    coded = isinstance(X, SIDSequences)
    cases += [(f"fit: {name}", lambda make=make: clone(est).fit(_like(X, make(n) + list(X)[1:]), y, **fp))
              for name, make in BAD_HISTORIES.items()
              # an id past the largest one only grows an inferred catalogue: legal unless coded
              if coded or name != "id past the catalogue"]
    cases += [(f"predict: {name}", lambda make=make: fitted.predict(make(n)))
              for name, make in BAD_HISTORIES.items()]
    for name, call in cases:
        try:
            call()
        except ValueError:
            continue
        except Exception as exc:  # noqa: BLE001 - the point: any other error is a bug
            raise AssertionError(f"{name}: raised {type(exc).__name__} ({exc}) instead of a "
                                 "ValueError") from exc
        raise AssertionError(f"{name}: accepted silently")


def check_recommender(est, X, y, *, reproducible=True, fit_params=None):
    """Run every contract check; returns the fitted estimator.

    ``X`` may be an :class:`~sksid.sequences.SIDSequences` (SID models: the codes travel
    with the histories). ``fit_params`` go to every ``fit`` of the checks (e.g.
    ``{"item_features": emb}`` for :class:`~sksid.recommenders.ContentKNN`)."""
    check_params_roundtrip(est)
    check_not_fitted(est, X)
    fitted = check_fit_returns_self(est, X, y, fit_params)
    check_predict_contract(fitted, X)
    check_recommend_api(fitted, X)
    check_pickle_roundtrip(fitted, X)
    check_unknown_items(fitted, X)
    check_bad_input(est, fitted, X, y, fit_params)
    if reproducible:
        check_reproducible(est, X, y, fit_params)
    return fitted
