"""Reusable contract checks for sksid recommenders (as implicit and lenskit ship theirs).

Each ``check_*`` function takes an unfitted estimator and small data, and raises an
``AssertionError`` naming the broken contract. Third-party recommenders built on
:class:`sksid.base.BaseRecommender` can run them in their own test suites::

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

__all__ = [
    "check_recommender",
    "check_params_roundtrip",
    "check_not_fitted",
    "check_fit_returns_self",
    "check_predict_contract",
    "check_pickle_roundtrip",
    "check_unknown_items",
    "check_reproducible",
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


def check_fit_returns_self(est, X, y):
    e = clone(est)
    assert e.fit(X, y) is e, "fit must return self"
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


def check_reproducible(est, X, y):
    """Two fits with the same integer random_state give the same predictions (CPU)."""
    a = clone(est).fit(X, y).predict(X)
    b = clone(est).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)


def check_recommender(est, X, y, *, reproducible=True):
    """Run every contract check; returns the fitted estimator."""
    check_params_roundtrip(est)
    check_not_fitted(est, X)
    fitted = check_fit_returns_self(est, X, y)
    check_predict_contract(fitted, X)
    check_pickle_roundtrip(fitted, X)
    check_unknown_items(fitted, X)
    if reproducible:
        check_reproducible(est, X, y)
    return fitted
