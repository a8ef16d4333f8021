"""ItemEncoder and the sparse-id / sparse-code guards (issue 10: raw ids never silently blow
a model up)."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.utils.estimator_checks import check_get_params_invariance, check_no_attributes_set_in_init

from sksid import IntRRRecommender, ItemEncoder, MostPopular, SASRecRecommender, TIGERRecommender


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(-10**9, 10**9), max_size=6), min_size=1, max_size=6))
def test_round_trip(histories):
    X = [np.array(h, dtype=np.int64) for h in histories]
    if not any(len(h) for h in histories):
        with pytest.raises(ValueError, match="no item id"):
            ItemEncoder().fit(X)
        return
    enc = ItemEncoder().fit(X)
    Z = enc.transform(X)
    assert all(z.dtype == np.int64 and (z >= 0).all() and (z < enc.n_items_).all() for z in Z)
    for x, z in zip(X, Z):
        np.testing.assert_array_equal(enc.inverse_transform(z), x)
    assert enc.n_items_ == len({i for h in histories for i in h})


def test_raw_ids_in_a_recommender_pipeline():
    rng = np.random.RandomState(0)
    raw = rng.choice(np.arange(0, 87_001, 3000), size=30, replace=False)  # 30 items, ids up to 87,000
    X = [rng.choice(raw, size=6) for _ in range(40)]
    y = rng.choice(raw, size=40)
    with pytest.raises(ValueError, match="item ids look raw.*ItemEncoder"):
        MostPopular().fit(X, y)
    enc = ItemEncoder().fit(X, y)
    rec = MostPopular(top_k=3, exclude_seen=True).fit(enc.transform(X), enc.transform_targets(y))
    pred = enc.inverse_transform(rec.predict(enc.transform(X[:5])))
    assert set(pred.ravel().tolist()) <= set(raw.tolist())
    # a large catalogue that really is that large: n_items= overrides the guess
    assert MostPopular(n_items=87_001).fit(X, y).n_items_ == 87_001


def test_strings_frames_unknown_and_padding():
    df = pd.DataFrame({"user_id": [0, 0, 1], "item_id": ["b", "a", "c"], "label": [1, 0, 1]})
    enc = ItemEncoder().fit(df)
    out = enc.transform(df)
    assert out["item_id"].tolist() == [1, 0, 2] and df["item_id"].tolist() == ["b", "a", "c"]
    assert enc.inverse_transform(np.array([[2, -1]])).tolist() == [["c", -1]]
    with pytest.raises(ValueError, match=r"unknown raw item ids \['z'\]"):
        enc.transform(pd.DataFrame({"user_id": [0], "item_id": ["z"]}))
    hist = ItemEncoder(handle_unknown="drop").fit([np.array([5, 7])]).transform([np.array([5, 9, 7])])
    assert hist[0].tolist() == [0, 1]
    with pytest.raises(ValueError, match="no 'item' column"):
        ItemEncoder(column="item").fit(df)
    with pytest.raises(ValueError, match="NaN"):
        ItemEncoder().fit([np.array([1.0, np.nan])])
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\)"):
        enc.inverse_transform(np.array([3]))


def test_sklearn_conventions():
    enc = ItemEncoder(handle_unknown="drop")
    check_no_attributes_set_in_init("ItemEncoder", enc)
    check_get_params_invariance("ItemEncoder", enc)
    assert clone(enc).get_params() == enc.get_params()


@pytest.mark.parametrize("cls", [IntRRRecommender, TIGERRecommender])
def test_sparse_code_values_raise(cls):
    codes = np.stack([np.arange(6) % 2, np.arange(6) * 174_000], 1)  # level 1 up to 870,000
    with pytest.raises(ValueError, match="codes level 1 has 6 distinct values but a maximum of 870000"):
        cls(max_epochs=1, device="cpu").fit([np.array([0, 1, 2])], [3], codes=codes)


def test_sasrec_raw_ids_raise():
    X = [np.array([0, 50_000]), np.array([50_000, 99_999])]
    with pytest.raises(ValueError, match="item ids look raw"):
        SASRecRecommender(max_epochs=1, device="cpu").fit(X, [0, 1])
