"""One recommend API on every recommender (issue 10): ``recommend(X, k, exclude_seen)`` returns
``(ids, scores)`` with the same meaning everywhere, and ``exclude_seen`` is correct when fewer
unseen items than ``k`` remain (padding with id -1 and score -inf)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sksid import ContentKNN, IntRRRecommender, MostPopular, RPGRecommender, SASRecRecommender, TIGERRecommender
from sksid.recommenders._base import drop_seen

N_ITEMS = 12
TINY = dict(d_model=8, n_layers=1, n_heads=2, d_ff=16, max_epochs=2, batch_size=32, device="cpu",
            random_state=0)
CODES = np.stack([np.arange(N_ITEMS) % 3, np.arange(N_ITEMS) // 3 % 4], 1)


def _data():
    rng = np.random.RandomState(0)
    X = [rng.randint(0, N_ITEMS, size=rng.randint(2, 9)) for _ in range(40)]
    return X, rng.randint(0, N_ITEMS, size=40)


def _fitted(cls, **kw):
    X, y = _data()
    if cls is MostPopular:
        return MostPopular(**kw).fit(X, y)
    if cls is ContentKNN:
        return ContentKNN(**kw).fit(X, y, item_features=np.random.RandomState(1).randn(N_ITEMS, 5))
    if cls is SASRecRecommender:
        return SASRecRecommender(**TINY, **kw).fit(X, y)
    if cls is RPGRecommender:
        return RPGRecommender(**TINY, **kw).fit(X, y, codes=CODES)
    return cls(**TINY, head_dim=4, **kw).fit(X, y, codes=CODES)


RECOMMENDERS = [MostPopular, ContentKNN, SASRecRecommender, IntRRRecommender, TIGERRecommender, RPGRecommender]


@pytest.mark.parametrize("cls", RECOMMENDERS)
def test_recommend_is_predict_with_scores(cls):
    rec = _fitted(cls, top_k=5)
    X, _ = _data()
    ids, scores = rec.recommend(X[:7])
    assert ids.shape == scores.shape == (7, 5) and ids.dtype == np.int64 and scores.dtype == np.float32
    np.testing.assert_array_equal(ids, rec.predict(X[:7]))
    assert (np.diff(scores, axis=1) <= 1e-5).all()  # best first
    ids8, _ = rec.recommend(X[:7], k=8)  # k above top_k (and above the SID beam width)
    assert ids8.shape == (7, 8) and all(len(set(r)) == 8 for r in ids8.tolist())
    with pytest.raises(ValueError, match="exceeds the number of catalogue items"):
        rec.recommend(X[:2], k=N_ITEMS + 1)
    with pytest.raises(ValueError, match="k must be"):
        rec.recommend(X[:2], k=0)


@pytest.mark.parametrize("cls", RECOMMENDERS)
def test_exclude_seen_on_every_recommender(cls):
    rec = _fitted(cls, top_k=4, exclude_seen=True)
    X, _ = _data()
    pred = rec.predict(X[:10])
    for row, hist in zip(pred, X[:10]):
        assert not set(row.tolist()) & set(hist.tolist())
    # a history that covers all but two items: two real ids, then -1 / -inf padding
    hist = np.arange(N_ITEMS - 2)
    ids, scores = rec.recommend([hist], k=4, exclude_seen=True)
    assert sorted(ids[0, :2].tolist()) == [N_ITEMS - 2, N_ITEMS - 1]
    assert ids[0, 2:].tolist() == [-1, -1] and np.isneginf(scores[0, 2:]).all()
    assert rec.predict([hist])[0, 2:].tolist() == [-1, -1]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_drop_seen_matches_brute_force(data):
    n_users = data.draw(st.integers(1, 6))
    m = data.draw(st.integers(1, 8))
    k = data.draw(st.integers(1, 8))
    ids = np.array([data.draw(st.permutations(range(10)))[:m] for _ in range(n_users)])
    scores = np.sort(np.random.RandomState(0).rand(n_users, m), axis=1)[:, ::-1]  # best first
    seqs = [np.array(data.draw(st.lists(st.integers(0, 9), max_size=12)), dtype=np.int64)
            for _ in range(n_users)]
    got_ids, got_sc = drop_seen(ids, scores, seqs, k)
    for u in range(n_users):
        keep = [(i, s) for i, s in zip(ids[u], scores[u]) if i not in set(seqs[u].tolist())][:k]
        want_ids = [i for i, _ in keep] + [-1] * (k - len(keep))
        assert got_ids[u].tolist() == want_ids
        np.testing.assert_allclose(got_sc[u, : len(keep)], [s for _, s in keep], rtol=1e-6)
        assert np.isneginf(got_sc[u, len(keep):]).all()


_FITTED = {}


def _once(cls):
    if cls not in _FITTED:
        _FITTED[cls] = _fitted(cls, top_k=3)
    return _FITTED[cls]


bad_ids = st.one_of(
    st.integers(-10**6, -1), st.integers(N_ITEMS, 10**6),  # outside the catalogue
    st.floats(allow_nan=True).filter(lambda v: not float(v).is_integer()),  # NaN, inf, fractions
)


@pytest.mark.parametrize("cls", RECOMMENDERS)
@settings(max_examples=40, deadline=None)
@given(good=st.lists(st.integers(0, N_ITEMS - 1), max_size=5), bad=bad_ids, pos=st.integers(0, 5))
def test_fuzz_bad_histories_raise_value_error(cls, good, bad, pos):
    """Hypothesis fuzz (issue 10): a history with any one bad id gets a ValueError from
    predict and recommend on every recommender, never an answer or another exception."""
    rec = _once(cls)
    hist = list(good)
    hist.insert(min(pos, len(hist)), bad)
    dtype = np.float64 if isinstance(bad, float) else np.int64
    for call in (rec.predict, rec.recommend):
        with pytest.raises(ValueError):
            call([np.array(hist, dtype=dtype)])
