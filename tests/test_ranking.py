"""CTR ranking: interactions frame, temporal split, GAUC, SIDRanker, the tokenizer -> ranker Pipeline."""
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

import sksid.tokenizers._base as tok_base
from sksid import ADCSIDTokenizer, RQKMeansTokenizer, SASRecRecommender, SIDRanker
from sksid.interactions import SIDInteractions, interactions_to_histories
from sksid.metrics import gauc, gauc_scorer
from sksid.model_selection import TemporalSplitCV, temporal_split

COLS = ["user_id", "item_id", "timestamp"]
TINY = dict(embedding_dim=8, hidden_dims=(16,), gate_hidden_dim=8, max_epochs=3, batch_size=256,
            device="cpu", random_state=0)


@pytest.fixture(scope="module")
def ml_frames(ml100k):
    df = ml100k.interactions.assign(label=(ml100k.interactions["rating"] > 3).astype(int))
    train, test = temporal_split(df, test_size=0.1)
    return df, train, test


@pytest.fixture(scope="module")
def ml_slice(ml_frames):
    """Rows of the first 120 users: time-split, labels from rating > 3."""
    df = ml_frames[0]
    df = df[df["user_id"] < 120]
    return temporal_split(df, test_size=0.2)


def synthetic(n=600, n_users=30, n_items=40, seed=0):
    rng = np.random.RandomState(seed)
    X = pd.DataFrame({"user_id": rng.randint(0, n_users, n), "item_id": rng.randint(0, n_items, n),
                      "timestamp": np.arange(n)})
    y = ((X["item_id"] % 2 == 0) ^ (X["user_id"] % 3 == 0)).astype(int).to_numpy()
    codes = np.stack([np.arange(n_items) % 2, np.arange(n_items) // 2 % 4], 1)
    weights = np.tile([1.0, 0.5], (n_items, 1)).astype(np.float32)
    return X, y, codes, weights


# ------------------------------------------------------------------ data and split
def test_interactions_frame_matches_sequences(ml100k):
    df = ml100k.interactions
    assert list(df.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert len(df) == ml100k.n_interactions == 100_000
    assert df["item_id"].max() == ml100k.n_items - 1 and df["user_id"].max() == ml100k.n_users - 1
    for u in (0, 17, 942):
        rows = df[df["user_id"] == u].sort_values("timestamp", kind="stable")
        assert sorted(rows["item_id"]) == sorted(ml100k.sequences[u].tolist())


def test_temporal_split_is_leakage_free(ml_frames):
    df, train, test = ml_frames
    assert len(train) + len(test) == len(df)
    assert train["timestamp"].max() < test["timestamp"].min()
    assert 0.09 <= len(test) / len(df) <= 0.1
    assert set(train.index).isdisjoint(test.index)


def test_temporal_split_ties_stay_in_train_and_errors():
    df = pd.DataFrame({"timestamp": [1, 2, 2, 2, 3]})
    train, test = temporal_split(df, test_size=0.4)
    assert train["timestamp"].tolist() == [1, 2, 2, 2] and test["timestamp"].tolist() == [3]
    with pytest.raises(ValueError, match="test_size"):
        temporal_split(df, test_size=1.5)
    with pytest.raises(ValueError, match="no 'time'"):
        temporal_split(df, time_col="time")
    with pytest.raises(ValueError, match="one timestamp"):
        temporal_split(pd.DataFrame({"timestamp": [1, 1, 1]}), test_size=0.5)


def test_interactions_to_histories_uses_positive_rows_in_time_order():
    df = pd.DataFrame({"user_id": [1, 0, 0, 0, 1], "item_id": [4, 3, 2, 1, 9], "timestamp": [5, 3, 1, 2, 0]})
    hist, nxt, n_seen = interactions_to_histories(df, [1, 1, 1, 0, 0])
    assert [h.tolist() for h in hist] == [[2], []] and nxt.tolist() == [3, 4] and n_seen == 10


# --------------------------------------------------------------------------- GAUC
def brute_gauc(y, s, g):
    num = den = 0.0
    for u in set(g):
        rows = [i for i in range(len(y)) if g[i] == u]
        pos = [s[i] for i in rows if y[i] == 1]
        neg = [s[i] for i in rows if y[i] == 0]
        if not pos or not neg:
            continue
        pairs = [1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg]
        num += len(rows) * sum(pairs) / len(pairs)
        den += len(rows)
    return num / den if den else float("nan")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 4), st.integers(0, 3)), min_size=1, max_size=40))
def test_gauc_matches_brute_force(rows):
    y = [r[0] for r in rows]
    s = [float(r[1]) for r in rows]  # few distinct scores: ties are exercised
    g = [r[2] for r in rows]
    expected = brute_gauc(y, s, g)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = gauc(y, s, g)
    if np.isnan(expected):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(expected)


def test_gauc_one_group_is_auc_and_bad_input():
    rng = np.random.RandomState(0)
    y, s = rng.randint(0, 2, 50), rng.rand(50)
    assert gauc(y, s, np.zeros(50)) == pytest.approx(roc_auc_score(y, s))
    with pytest.raises(ValueError, match="binary"):
        gauc([0, 2], [0.1, 0.2], [0, 0])
    with pytest.raises(ValueError, match="one length"):
        gauc([0, 1], [0.1], [0, 0])
    with pytest.warns(UserWarning, match="no group"):
        assert np.isnan(gauc([1, 0], [0.1, 0.2], [0, 1]))


# ---------------------------------------------------------------------- SIDRanker
def test_ranker_classifier_api_and_representations():
    X, y, codes, weights = synthetic()
    for kw, rep in (({}, "id"), ({"codes": codes}, "id+sid"), ({"codes": codes, "weights": weights},
                                                                 "id+sid+weights")):
        clf = SIDRanker(**TINY).fit(X, y, **kw)
        assert clf.item_representation_ == rep
        proba = clf.predict_proba(X)
        assert proba.shape == (len(X), 2) and np.allclose(proba.sum(1), 1)
        assert set(np.unique(clf.predict(X))) <= {0, 1}
        np.testing.assert_array_equal(clf.classes_, [0, 1])
        np.testing.assert_allclose(clf.decision_function(X) > 0, proba[:, 1] > 0.5)
    sid = SIDRanker(item_id=False, **TINY).fit(X, y, codes=codes, weights=weights)
    assert sid.item_representation_ == "sid+weights"
    assert SIDRanker(code_weights=False, **TINY).fit(X, y, codes=codes, weights=weights).item_representation_ == "id+sid"
    with pytest.raises(ValueError, match="item_id=False needs codes"):
        SIDRanker(item_id=False, **TINY).fit(X, y)
    for mode in ("gate",):
        assert SIDRanker(weight_mode=mode, backbone="mlp", **TINY).fit(X, y, codes=codes, weights=weights)


def test_ranker_learns_and_is_reproducible_and_picklable():
    X, y, codes, weights = synthetic(n=1500)
    clf = SIDRanker(**{**TINY, "max_epochs": 20, "lr": 1e-2, "validation_fraction": 0.0}).fit(X, y, codes=codes)
    assert roc_auc_score(y, clf.decision_function(X)) > 0.9  # a user x item interaction pattern
    again = clone(clf).fit(X, y, codes=codes)
    np.testing.assert_array_equal(clf.decision_function(X), again.decision_function(X))
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.decision_function(X), clf.decision_function(X))
    # string labels: classes_ keeps them, the positive class is classes_[1]
    labels = np.where(y == 1, "click", "skip")
    s = SIDRanker(**TINY).fit(X, labels)
    assert s.classes_.tolist() == ["click", "skip"] and set(s.predict(X)) <= {"click", "skip"}
    # an array input: user, item, extras (row order = time)
    arr = SIDRanker(**TINY).fit(X[["user_id", "item_id"]].to_numpy(), y)
    assert arr.predict_proba(X[["user_id", "item_id"]].to_numpy()).shape == (len(X), 2)


def test_ranker_history_feature_has_no_leakage():
    # user 0: positive item 5 at t=1, then rows at t=1 (same time) and t=2
    from sksid.ranker import _positive_histories
    users = np.array([0, 0, 0, 1])
    items = np.array([5, 6, 7, 8])
    times = np.array([1, 1, 2, 0])
    labels = np.array([1, 1, 0, 1])
    hist, last = _positive_histories(users, items, times, labels, np.argsort(times, kind="stable"), 3)
    assert hist.tolist() == [[0, 0, 0], [0, 0, 0], [0, 6, 7], [0, 0, 0]]  # 1-based ids
    assert last[0].tolist() == [6, 7] and last[1].tolist() == [9]


def test_ranker_sklearn_checks():
    est = SIDRanker()
    check_parameters_default_constructible("SIDRanker", est)
    check_no_attributes_set_in_init("SIDRanker", est)
    check_get_params_invariance("SIDRanker", est)
    check_set_params("SIDRanker", est)
    assert clone(SIDRanker(module__dim=4)).get_params()["module__dim"] == 4


def test_ranker_bad_input():
    X, y, codes, weights = synthetic()
    clf = SIDRanker(**TINY)
    with pytest.raises(ValueError, match="binary classifier"):
        clf.fit(X, np.arange(len(X)) % 3)
    with pytest.raises(ValueError, match="single class"):
        clf.fit(X, np.ones(len(X)))
    with pytest.raises(ValueError, match="codes has 10 rows"):
        clf.fit(X, y, codes=codes[:10])
    with pytest.raises(ValueError, match="without codes"):
        clf.fit(X, y, weights=weights)
    with pytest.raises(ValueError, match="weights shape"):
        clf.fit(X, y, codes=codes, weights=weights[:5])
    with pytest.raises(ValueError, match=r"\['price'\] contain NaN"):
        clf.fit(X.assign(price=np.where(np.arange(len(X)) == 3, np.nan, 1.0)), y)
    with pytest.raises(ValueError, match="no column"):
        clf.fit(X.drop(columns="item_id"), y)
    fitted = SIDRanker(**TINY).fit(X, y, codes=codes, weights=weights)
    new = pd.DataFrame({"user_id": [0, 999], "item_id": [1, 2], "timestamp": [0, 0]})
    with pytest.warns(UserWarning, match="1 row"):
        assert fitted.predict_proba(new).shape == (2, 2)
    with pytest.raises(ValueError, match="codes cover 40 items"):
        fitted.predict_proba(new.assign(item_id=[1, 40]))
    idonly = SIDRanker(**TINY).fit(X, y)
    with pytest.warns(UserWarning, match="zero item embedding"):
        idonly.predict_proba(new.assign(user_id=[0, 1], item_id=[1, 40]))
    with pytest.raises(ValueError, match="extra columns"):
        fitted.predict_proba(new.assign(price=1.0))


# ------------------------------------------------------------------------ Pipeline
def tiny_tokenizer(cls=ADCSIDTokenizer, **kw):
    sas = SASRecRecommender(d_model=16, n_layers=1, n_heads=2, d_ff=32, max_epochs=1, device="cpu",
                            random_state=0)
    base = dict(codebook_size=8, random_state=0, device="cpu", behavior_estimator=sas, n_items=1682)
    if cls is ADCSIDTokenizer:
        base.update(max_epochs=1, n_behavior=2, hidden_dim=16, latent_dim=8)
    return cls(**{**base, **kw})


def test_pipeline_on_movielens_slice_no_test_row_reaches_the_tokenizer(ml_slice, monkeypatch):
    train, test = ml_slice
    seen = []
    real = tok_base.interactions_to_histories

    def spy(X, y=None, **kw):
        seen.append(set(X.index))
        return real(X, y, **kw)

    monkeypatch.setattr(tok_base, "interactions_to_histories", spy)
    pipe = Pipeline([("tok", tiny_tokenizer()), ("rank", SIDRanker(**TINY))])
    pipe.fit(train[COLS], train["label"])
    assert len(seen) == 1 and seen[0] == set(train.index) and seen[0].isdisjoint(test.index)
    tok = pipe.named_steps["tok"]
    assert tok.input_kind_ == "interactions" and tok.codes_.shape[0] == 1682
    # the behaviour model saw the positive training rows only
    assert tok.item_popularity_.sum() == int(train["label"].sum())
    assert pipe.named_steps["rank"].item_representation_ == "id+sid+weights"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cold users / items in the later rows
        proba = pipe.predict_proba(test[COLS])
    assert proba.shape == (len(test), 2)
    assert isinstance(tok.transform(test[COLS]), SIDInteractions)
    with pytest.raises(ValueError, match="no codes for it"):
        tok.transform(test[COLS].assign(item_id=5000))
    assert 0.0 <= gauc_scorer(pipe, test[COLS], test["label"]) <= 1.0


def test_gridsearch_on_pipeline_with_temporal_cv(ml_slice):
    train, _ = ml_slice
    pipe = Pipeline([("tok", tiny_tokenizer(RQKMeansTokenizer)), ("rank", SIDRanker(**TINY))])
    search = GridSearchCV(pipe, {"rank__backbone": ["ppnet", "mlp"]}, cv=TemporalSplitCV(test_size=0.2),
                          scoring=gauc_scorer, error_score="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(train[COLS], train["label"])
    assert set(search.cv_results_["param_rank__backbone"]) == {"ppnet", "mlp"}
    tr, va = next(TemporalSplitCV(test_size=0.2).split(train))
    assert train["timestamp"].to_numpy()[tr].max() < train["timestamp"].to_numpy()[va].min()
