"""The cold-item protocol (issue 42): cold items never reach a training or validation row,
stay in the catalogue, and are reported apart from the warm ones."""
import doctest
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sksid.datasets import SequenceDataset
from sksid.metrics import cold_start_report, ranking_report
from sksid.model_selection import (ColdItemSplit, LeaveLastOutSplit, _cold, cold_item_split, leave_last_out,
                                   train_item_counts)


def test_doctests():
    result = doctest.testmod(_cold)
    assert result.attempted > 0 and result.failed == 0


def _split(seqs, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return cold_item_split(seqs, **kw)


sequences = st.lists(st.lists(st.integers(0, 14), max_size=12), min_size=1, max_size=15)


@settings(max_examples=150, deadline=None)
@given(raw=sequences, frac=st.floats(0.01, 0.99), seed=st.integers(0, 2**31 - 1),
       max_len=st.integers(1, 6))
def test_no_cold_item_outside_the_test_targets(raw, frac, seed, max_len):
    seqs = [np.array(s, dtype=np.int64) for s in raw]
    present = np.unique(np.concatenate(seqs)) if sum(map(len, seqs)) else np.zeros(0, int)
    assume(present.size >= 2)
    try:
        split = _split(seqs, cold_fraction=frac, max_len=max_len, random_state=seed)
    except ValueError as exc:  # every user fell below 3 interactions
        assert "nothing to split" in str(exc)
        return
    assert isinstance(split, ColdItemSplit) and isinstance(split, LeaveLastOutSplit)
    cold = set(split.cold_items.tolist())
    # the fraction of the occurring items, at least one cold and one warm
    assert len(cold) == min(max(round(frac * present.size), 1), present.size - 1)
    assert cold <= set(present.tolist()) and split.cold_items.tolist() == sorted(cold)
    for part in (split.X_train, split.X_valid, split.X_test):
        for row in part:
            assert not cold & set(row.tolist())
    assert not cold & (set(split.y_train.tolist()) | set(split.y_valid.tolist()))
    # the catalogue keeps every item
    assert split.n_items == int(present.max()) + 1
    assert split.cold_mask.sum() == len(cold) and split.cold_mask.shape == (split.n_items,)
    np.testing.assert_array_equal(split.test_cold, np.isin(split.y_test, split.cold_items))
    # the definition: leave-last-out of the sequence with cold items removed before its last
    for row, u in enumerate(split.users):
        s = seqs[u]
        s2 = np.array([x for x in s[:-1] if x not in cold] + [s[-1]])
        ref = leave_last_out([s2], max_len=max_len)
        assert int(split.y_test[row]) == s[-1] and split.X_test[row].tolist() == ref.X_test[0].tolist()
        assert split.X_train[row].tolist() == ref.X_train[0].tolist()
        assert split.X_valid[row].tolist() == ref.X_valid[0].tolist()
        assert int(split.y_valid[row]) == int(ref.y_valid[0]) and int(split.y_train[row]) == int(ref.y_train[0])
    dropped = [u for u in range(len(seqs)) if u not in set(split.users.tolist())]
    for u in dropped:
        assert sum(x not in cold for x in seqs[u][:-1]) + 1 < 3 or len(seqs[u]) < 3


@settings(max_examples=40, deadline=None)
@given(raw=sequences, frac=st.floats(0.05, 0.95), seed=st.integers(0, 1000))
def test_seeded_reproducibility(raw, frac, seed):
    seqs = [np.array(s, dtype=np.int64) for s in raw]
    assume(sum(len(s) >= 3 for s in seqs) and len(np.unique(np.concatenate(seqs))) >= 2)
    try:
        a = _split(seqs, cold_fraction=frac, random_state=seed)
    except ValueError:
        return
    b = _split(seqs, cold_fraction=frac, random_state=np.random.RandomState(seed))
    np.testing.assert_array_equal(a.cold_items, b.cold_items)
    for name in ("y_train", "y_valid", "y_test", "users", "test_cold"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert [x.tolist() for x in a.X_train] == [x.tolist() for x in b.X_train]


def test_cold_targets_present_on_movielens(ml100k):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every user has at least 20 ratings: none is dropped
        split = cold_item_split(ml100k, cold_fraction=0.1, random_state=0)
    assert split.n_users == ml100k.n_users
    assert split.n_items == ml100k.n_items
    n_present = len(np.unique(np.concatenate(ml100k.sequences)))
    assert len(split.cold_items) == round(0.1 * n_present)
    assert 0 < split.test_cold.sum() < split.n_users
    assert train_item_counts(split, split.n_items)[split.cold_items].sum() == 0
    X, y, _ = split.search_data()
    assert not np.isin(y, split.cold_items).any()
    assert not np.isin(np.concatenate(X), split.cold_items).any()
    assert "n_cold_items=" in repr(split)


def _seed_making(seqs, frac, cold):
    for seed in range(200):
        if _split(seqs, cold_fraction=frac, random_state=seed).cold_items.tolist() == cold:
            return seed
    pytest.fail(f"no seed made {cold} cold")


def test_dropped_users_are_counted():
    seqs = [np.array([0, 1, 2, 3]), np.array([3, 3, 0]), np.array([1, 2])]
    seed = _seed_making(seqs, 0.25, [3])
    with pytest.warns(UserWarning, match=r"dropped 2 user\(s\).*\(1 of them had fewer than 3 to begin with\)"):
        split = cold_item_split(seqs, cold_fraction=0.25, random_state=seed)
    assert split.users.tolist() == [0] and split.test_cold.tolist() == [True]


def test_the_last_item_is_the_cold_target():
    seqs = [np.array([0, 1, 2, 5, 3]), np.array([4, 5, 1, 2, 0])]
    split = _split(seqs, cold_fraction=1 / 6, random_state=_seed_making(seqs, 1 / 6, [5]))
    assert split.y_test.tolist() == [3, 0] and split.test_cold.tolist() == [False, False]
    assert split.X_test[0].tolist() == [0, 1, 2] and split.X_test[1].tolist() == [4, 1, 2]
    split = _split(seqs, cold_fraction=1 / 6, random_state=_seed_making(seqs, 1 / 6, [3]))
    assert split.y_test.tolist() == [3, 0] and split.test_cold.tolist() == [True, False]
    assert split.X_test[0].tolist() == [0, 1, 2, 5]


@pytest.mark.parametrize("frac", [0, 1, 1.5, -0.1, True, "0.1", float("nan")])
def test_bad_cold_fraction(frac):
    with pytest.raises(ValueError, match="cold_fraction"):
        cold_item_split([np.arange(5)], cold_fraction=frac)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="at least 2 distinct items"):
        cold_item_split([np.array([1, 1, 1])])
    with pytest.raises(ValueError, match="unknown item ids"):
        cold_item_split([np.array([0, 1, 9])], n_items=5)
    with pytest.raises(ValueError, match="max_len"):
        cold_item_split([np.arange(5)], max_len=0)


def test_accepts_dataset_and_keeps_its_catalogue():
    ds = SequenceDataset(sequences=[np.array([0, 1, 2, 3]), np.array([3, 2, 1, 0])], n_items=10, n_users=2,
                         item_text=[""] * 10, item_popularity=np.ones(10, dtype=np.int64),
                         item_categories=[[] for _ in range(10)], raw_item_ids=np.arange(10).astype(object))
    split = _split(ds, cold_fraction=0.5, random_state=0)
    assert split.n_items == 10 and split.cold_mask.shape == (10,)


def test_cold_start_report_subsets_match_ranking_report():
    y = np.array([1, 7, 2, 8])
    pred = np.array([[1, 0], [0, 7], [3, 4], [8, 1]])
    rep = cold_start_report(y, pred, cold_items=[7, 8], ks=(1, 2))
    assert rep == {**ranking_report(y, pred, ks=(1, 2)), **{
        f"{k}/{g}": v for g, sel in (("warm", [0, 2]), ("cold", [1, 3]))
        for k, v in ranking_report(y[sel], pred[sel], ks=(1, 2)).items()}}
    assert rep["n_users/cold"] == 2 and rep["recall@1/cold"] == 0.5
    none = cold_start_report(y, pred, cold_items=[9], ks=(1,))
    assert none["n_users/cold"] == 0 and np.isnan(none["ndcg@1/cold"]) and none["ndcg@1/warm"] == none["ndcg@1"]
    with pytest.raises(ValueError, match="cold_items"):
        cold_start_report(y, pred, cold_items=[[7]], ks=(1,))
    with pytest.raises(ValueError, match="cold_items"):
        cold_start_report(y, pred, cold_items=[7.5], ks=(1,))
