"""ContentKNN (issue 42): the content floor ranks items, cold ones included, by cosine
similarity to a recency-weighted profile of the user's last items."""
import doctest

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from sksid import ContentKNN, SIDSequences
from sksid.feature_store import FeatureStore
from sksid.model_selection import cold_item_split
from sksid.recommenders import content_knn
from sksid.testing import check_recommender

N = 30


def _emb(n=N, d=8, seed=0):
    return np.random.RandomState(seed).randn(n, d).astype(np.float32)


def test_doctests():
    result = doctest.testmod(content_knn)
    assert result.attempted > 0 and result.failed == 0


def test_contract(synthetic_sequences):
    X, y = synthetic_sequences
    check_recommender(ContentKNN(top_k=5), X, y, fit_params={"item_features": _emb()})
    check_recommender(ContentKNN(top_k=5, exclude_seen=True, n_recent=3, decay=0.5), X, y,
                      fit_params={"item_features": {"text": _emb(), "category": _emb(d=3, seed=1)}})


def _reference(emb, hist, n_recent, decay):
    """Per-user cosine scores written the slow, obvious way."""
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    recent = list(hist)[-n_recent:][::-1]  # most recent first
    prof = sum(decay ** j * e[i] for j, i in enumerate(recent))
    return e @ (prof / np.linalg.norm(prof))


@pytest.mark.parametrize("n_recent, decay", [(1, 0.8), (3, 0.5), (10, 1.0)])
def test_scores_match_a_per_user_reference(n_recent, decay):
    rng = np.random.RandomState(1)
    X = [rng.randint(0, N, size=rng.randint(1, 12)) for _ in range(25)]
    emb = _emb()
    rec = ContentKNN(top_k=N, n_recent=n_recent, decay=decay).fit(X, item_features=emb)
    ids, scores = rec.recommend(X)
    for row, hist in enumerate(X):
        ref = _reference(emb.astype(np.float64), hist, n_recent, decay)
        assert sorted(ids[row].tolist()) == list(range(N))
        # the ranking of the reference up to float32 near-ties, and its scores
        np.testing.assert_allclose(ref[ids[row]], np.sort(ref)[::-1], atol=1e-5)
        np.testing.assert_allclose(scores[row], np.sort(ref)[::-1], atol=1e-5)


def test_chunked_scoring_and_top_k_agree_with_the_full_ranking(monkeypatch):
    rng = np.random.RandomState(2)
    X = [rng.randint(0, N, size=rng.randint(1, 6)) for _ in range(17)]
    rec = ContentKNN(top_k=4).fit(X, item_features=_emb())
    full_ids, full_sc = rec.recommend(X, k=N)
    monkeypatch.setattr(content_knn, "_CHUNK_ENTRIES", 2 * 10 * 8)  # two users per block
    ids, sc = rec.recommend(X, k=4)
    np.testing.assert_array_equal(ids, full_ids[:, :4])
    np.testing.assert_allclose(sc, full_sc[:, :4], atol=1e-6)


def test_a_cold_item_is_ranked_by_its_content():
    emb = np.eye(6, dtype=np.float32)
    emb[5] = emb[2] + 0.01 * emb[3]  # item 5: never seen, content close to item 2
    emb[4] = emb[0] + 0.01 * emb[3]  # item 4: content close to item 0
    X = [np.array([0, 1]), np.array([1, 2]), np.array([0, 2])]
    rec = ContentKNN(top_k=2, exclude_seen=True).fit(X, [3, 4, 1], item_features=emb)
    assert rec.item_popularity_[5] == 0
    assert rec.predict([np.array([0, 2])])[0, 0] == 5
    assert rec.predict([np.array([2, 0])])[0].tolist() == [4, 5]  # the most recent item weighs most


def test_empty_or_contentless_history_gets_popularity_with_nan_scores():
    emb = _emb(6, 3)
    emb[4] = 0  # no content
    rec = ContentKNN(top_k=3).fit([np.array([1, 1, 2]), np.array([1])], [3, 2], item_features=emb)
    ids, scores = rec.recommend([np.array([], dtype=np.int64), np.array([4, 4]), np.array([0])])
    assert ids[0].tolist() == ids[1].tolist() == [1, 2, 3]
    assert np.isnan(scores[:2]).all() and np.isfinite(scores[2]).all()
    assert rec.content_embeddings_[4].tolist() == [0, 0, 0]


def test_modalities_weigh_alike_and_a_feature_store_works(tmp_path):
    feats = {"text": _emb(d=8) * 50, "category": _emb(d=3, seed=1)}
    unit = [a / np.linalg.norm(a, axis=1, keepdims=True) for a in feats.values()]
    want = np.concatenate(unit, axis=1) / np.sqrt(2)
    X = [np.array([0, 3])]
    rec = ContentKNN().fit(X, item_features=feats)
    np.testing.assert_allclose(rec.content_embeddings_, want, atol=1e-6)
    store = FeatureStore.save(tmp_path / "f", feats)
    np.testing.assert_array_equal(ContentKNN().fit(X, item_features=store).predict(X), rec.predict(X))


def test_pipeline_routes_item_features(synthetic_sequences):
    X, y = synthetic_sequences
    emb = _emb()
    pipe = Pipeline([("rec", ContentKNN(top_k=5))]).fit(X, y, rec__item_features=emb)
    np.testing.assert_array_equal(pipe.predict(X), ContentKNN(top_k=5).fit(X, y, item_features=emb).predict(X))


@pytest.mark.filterwarnings("ignore:cold_item_split. dropped")
def test_ranks_the_cold_items_of_a_cold_split():
    rng = np.random.RandomState(3)
    seqs = [rng.randint(0, N, size=rng.randint(4, 15)) for _ in range(60)]
    split = cold_item_split(seqs, cold_fraction=0.2, random_state=0, n_items=N)
    rec = ContentKNN(top_k=N, n_items=split.n_items).fit(split.X_train, split.y_train, item_features=_emb())
    assert (rec.item_popularity_[split.cold_items] == 0).all()
    pred = rec.predict(split.X_test)
    assert all(set(split.cold_items.tolist()) <= set(row.tolist()) for row in pred)
    rep = split.report(pred, ks=(5, N))
    assert rep["recall@30"] == rep["recall@30/cold"] == 1.0


@pytest.mark.parametrize("features, match", [
    (None, "needs the items' content"),
    (np.ones(N), "2-D"),
    (np.ones((N, 0)), "2-D"),
    (np.array([["a"] * 3] * N), "numbers"),
    (np.where(np.arange(N)[:, None] == 7, np.nan, np.ones((N, 2))), "NaN or inf in 1 row.*item 7"),
    (np.ones((N - 5, 4)), "unknown item ids"),
    ({}, "empty mapping"),
    ({"a": np.ones((N, 2)), "b": np.ones((N + 1, 2))}, "one row per item"),
    ({"a": np.full((N, 2), np.inf)}, r"item_features\['a'\] contains NaN"),
])
def test_bad_item_features_raise(features, match):
    X = [np.arange(N)]
    with pytest.raises(ValueError, match=match):
        ContentKNN().fit(X, item_features=features)


def test_catalogue_checks():
    emb = _emb()
    with pytest.raises(ValueError, match="n_items=40 but item_features has 30 rows"):
        ContentKNN(n_items=40).fit([np.array([0])], item_features=emb)
    with pytest.raises(ValueError, match="y contains item id 30"):
        ContentKNN().fit([np.array([0])], [30], item_features=emb)
    codes = np.arange(20)[:, None] % 4
    with pytest.raises(ValueError, match="codes cover 20 items"):
        ContentKNN().fit(SIDSequences([np.array([0])], codes=codes), item_features=emb)
    rec = ContentKNN().fit([np.array([0])], item_features=emb).set_params(n_recent=0)
    with pytest.raises(ValueError, match="n_recent"):
        rec.predict([np.array([1])])
