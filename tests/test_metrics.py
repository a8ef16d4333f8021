import doctest
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.base import BaseEstimator

from sksid.metrics import _codes, _ctr, _ranking, _scorers
from sksid.metrics import (code_entropy, codebook_utilization, collision_rate, make_ranking_scorer,
                           mrr_at_k, ndcg10_scorer, ndcg_at_k, popularity_strata, ranking_report,
                           recall10_scorer, recall_at_k)


@pytest.mark.parametrize("module", [_ranking, _scorers, _ctr, _codes])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


# ------------------------------------------------------------------ hand-computed cases
Y_TRUE = np.array([3, 7, 1, 9])
Y_PRED = np.array([
    [3, 0, 1, 2],   # rank 0
    [0, 1, 7, 2],   # rank 2
    [5, 1, 1, 2],   # rank 1 (first occurrence of a duplicate)
    [0, 1, 2, 4],   # absent
])


def test_recall_hand():
    assert recall_at_k(Y_TRUE, Y_PRED, 1) == 0.25
    assert recall_at_k(Y_TRUE, Y_PRED, 2) == 0.5
    assert recall_at_k(Y_TRUE, Y_PRED, 4) == 0.75


def test_ndcg_hand():
    expected = (1 + 1 / math.log2(4) + 1 / math.log2(3) + 0) / 4
    assert ndcg_at_k(Y_TRUE, Y_PRED, 4) == pytest.approx(expected)
    assert ndcg_at_k(Y_TRUE, Y_PRED, 2) == pytest.approx((1 + 1 / math.log2(3)) / 4)


def test_mrr_hand():
    assert mrr_at_k(Y_TRUE, Y_PRED, 4) == pytest.approx((1 + 1 / 3 + 1 / 2) / 4)
    assert mrr_at_k(Y_TRUE, Y_PRED, 1) == pytest.approx(0.25)


def test_padding_never_matches():
    assert recall_at_k([0], [[-1, -1]], 2) == 0.0


def test_float_ids_accepted_when_integral():
    assert recall_at_k(np.array([1.0]), np.array([[1.0, 2.0]]), 1) == 1.0


@pytest.mark.parametrize("fn", [recall_at_k, ndcg_at_k, mrr_at_k])
def test_bad_inputs(fn):
    with pytest.raises(ValueError, match="k=5 exceeds"):
        fn([0], [[0, 1]], 5)
    with pytest.raises(ValueError, match="k must be >= 1"):
        fn([0], [[0, 1]], 0)
    with pytest.raises(ValueError, match="k must be an int"):
        fn([0], [[0, 1]], 1.5)
    with pytest.raises(ValueError, match="2-D"):
        fn([0], [0, 1], 1)
    with pytest.raises(ValueError, match="1-D"):
        fn([[0]], [[0, 1]], 1)
    with pytest.raises(ValueError, match="rows"):
        fn([0, 1], [[0, 1]], 1)
    with pytest.raises(ValueError, match="empty"):
        fn(np.zeros(0, int), np.zeros((0, 3), int), 1)
    with pytest.raises(ValueError, match="integer"):
        fn([0.5], [[0, 1]], 1)


# ------------------------------------------------------------------ hypothesis properties
@st.composite
def rankings(draw):
    n_users = draw(st.integers(1, 30))
    n_items = draw(st.integers(2, 40))
    width = draw(st.integers(1, n_items))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    y_pred = np.stack([rng.permutation(n_items)[:width] for _ in range(n_users)])
    y_true = rng.integers(0, n_items, n_users)
    k = draw(st.integers(1, width))
    return y_true, y_pred, k


@settings(max_examples=60, deadline=None)
@given(rankings())
def test_metric_properties(data):
    y_true, y_pred, k = data
    r, n, m = recall_at_k(y_true, y_pred, k), ndcg_at_k(y_true, y_pred, k), mrr_at_k(y_true, y_pred, k)
    for v in (r, n, m):
        assert 0.0 <= v <= 1.0
    # single relevant item: 1/(r+1) <= 1/log2(r+2) <= 1
    assert m <= n + 1e-12 <= r + 2e-12
    # monotone in k
    if k < y_pred.shape[1]:
        assert recall_at_k(y_true, y_pred, k + 1) >= r
        assert ndcg_at_k(y_true, y_pred, k + 1) >= n - 1e-12
    # permutation invariance over users
    perm = np.random.default_rng(0).permutation(len(y_true))
    assert recall_at_k(y_true[perm], y_pred[perm], k) == pytest.approx(r)
    assert ndcg_at_k(y_true[perm], y_pred[perm], k) == pytest.approx(n)
    # perfect prediction
    perfect = y_pred.copy()
    perfect[:, 0] = y_true
    for fn in (recall_at_k, ndcg_at_k, mrr_at_k):
        assert fn(y_true, perfect, k) == pytest.approx(1.0)


# ------------------------------------------------------------------ strata and report
def test_popularity_strata_sizes_and_order():
    counts = np.array([10, 0, 5, 5, 1, 7, 3, 2])
    head, tail = popularity_strata(counts)
    assert head.sum() == tail.sum() == 2
    assert head.nonzero()[0].tolist() == [0, 5]
    assert tail.nonzero()[0].tolist() == [1, 4]
    # ties: lower id counts as more popular
    head, tail = popularity_strata(np.zeros(8, int))
    assert head.nonzero()[0].tolist() == [0, 1] and tail.nonzero()[0].tolist() == [6, 7]
    assert not (head & tail).any()
    with pytest.raises(ValueError):
        popularity_strata([-1, 2])
    with pytest.raises(ValueError):
        popularity_strata([1, 2], fraction=0.9)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.int64, st.integers(1, 60), elements=st.integers(0, 20)))
def test_popularity_strata_properties(counts):
    head, tail = popularity_strata(counts)
    assert not (head & tail).any()
    assert head.any()
    if tail.any():
        assert counts[head].min() >= counts[tail].max()


def test_ranking_report():
    counts = np.array([100, 90, 50, 40, 30, 20, 10, 1, 0, 0])  # head {0,1} (round(2.5)=2), tail {8,9}
    y_true = np.array([0, 1, 8, 5])
    y_pred = np.array([[0, 2, 3], [2, 3, 1], [9, 7, 6], [5, 0, 1]])
    rep = ranking_report(y_true, y_pred, ks=(1, 3), item_counts=counts)
    assert rep["n_users"] == 4
    assert rep["recall@1"] == 0.5 and rep["recall@3"] == 0.75
    assert rep["n_users/head"] == 2 and rep["n_users/tail"] == 1
    assert rep["recall@3/head"] == 1.0 and rep["recall@1/head"] == 0.5
    assert rep["ndcg@3/head"] == pytest.approx((1 + 0.5) / 2)
    assert rep["recall@3/tail"] == 0.0
    assert set(rep) >= {"mrr@1", "ndcg@1", "mrr@3/tail"}
    # a stratum without users gives NaN
    rep = ranking_report([2], [[2, 0, 1]], ks=(1,), item_counts=counts)
    assert math.isnan(rep["recall@1/head"]) and rep["n_users/head"] == 0
    with pytest.raises(ValueError, match="unknown metric"):
        ranking_report(y_true, y_pred, metrics=("auc",), ks=(1,))
    with pytest.raises(ValueError, match="exceeds"):
        ranking_report(y_true, y_pred)  # default ks=(5, 10) > 3 columns
    with pytest.raises(ValueError, match="outside"):
        ranking_report([20], [[0]], ks=(1,), item_counts=counts)


# ------------------------------------------------------------------ scorers
class _TopK(BaseEstimator):  # a scikit-learn scorer needs an estimator's tags
    def __init__(self, k=10):
        self.k = k

    def predict(self, X):
        return np.array([np.r_[np.asarray(x)[::-1], np.arange(100)][: self.k] for x in X])


def test_scorers():
    X = [np.array([1, 2]), np.array([5])]
    y = np.array([2, 7])  # ranks 0 and 8 (5, then 0..7)
    assert recall10_scorer(_TopK(), X, y) == 1.0
    assert ndcg10_scorer(_TopK(), X, y) == pytest.approx((1 + 1 / math.log2(10)) / 2)
    assert make_ranking_scorer("mrr", 5)(_TopK(), X, y) == 0.5
    with pytest.raises(ValueError, match="top-k"):
        make_ranking_scorer("ndcg", 10)(_TopK(k=3), X, y)
    with pytest.raises(ValueError, match="unknown metric"):
        make_ranking_scorer("auc")
    with pytest.raises(ValueError):
        make_ranking_scorer("ndcg", 0)
    assert pickle.loads(pickle.dumps(ndcg10_scorer))(_TopK(), X, y) == ndcg10_scorer(_TopK(), X, y)
    assert repr(ndcg10_scorer).startswith("make_scorer(")  # a scikit-learn scorer
    assert "metric=ndcg" in repr(ndcg10_scorer) and "k=10" in repr(ndcg10_scorer)


# ------------------------------------------------------------------ quantisation metrics
def test_code_entropy_hand():
    codes = np.array([[0, 0], [0, 1], [1, 2], [1, 3]])
    assert code_entropy(codes, per_position=True).tolist() == [1.0, 2.0]
    assert code_entropy(codes) == 1.5
    assert code_entropy(codes, codebook_size=4, normalize=True, per_position=True).tolist() == [0.5, 1.0]
    p = np.array([0.5, 0.25, 0.25])
    assert code_entropy([[0], [0], [1], [2]]) == pytest.approx(-(p * np.log2(p)).sum())
    with pytest.raises(ValueError, match="needs codebook_size"):
        code_entropy(codes, normalize=True)
    with pytest.raises(ValueError, match=">= codebook_size"):
        code_entropy(codes, codebook_size=2)


def test_utilization_hand():
    codes = np.array([[0, 5], [1, 5], [1, 5]])
    assert codebook_utilization(codes, 10, per_position=True).tolist() == [0.2, 0.1]
    assert codebook_utilization(codes, [2, 6], per_position=True).tolist() == [1.0, 1 / 6]
    assert codebook_utilization(codes, 10) == pytest.approx(0.15)
    with pytest.raises(ValueError):
        codebook_utilization(codes, 3)


def test_collision_hand():
    assert collision_rate([[0, 1], [1, 0], [2, 2]]) == 0.0
    codes = [[0, 0], [0, 0], [0, 0], [1, 0]]
    assert collision_rate(codes) == 0.5
    assert collision_rate(codes, definition="shared") == 0.75
    with pytest.raises(ValueError, match="definition"):
        collision_rate(codes, definition="x")


@pytest.mark.parametrize("bad", [np.zeros((0, 2), int), np.zeros(3, int), [[0.5, 1.0]], [[-1, 0]]])
def test_codes_validation(bad):
    with pytest.raises(ValueError):
        collision_rate(bad)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 8), hnp.arrays(np.int64, st.tuples(st.integers(1, 50), st.integers(1, 4)),
                                     elements=st.integers(0, 7)))
def test_quantisation_properties(extra, codes):
    K = 8 + extra
    util = codebook_utilization(codes, K, per_position=True)
    assert np.all((util > 0) & (util <= 1))
    ent = code_entropy(codes, codebook_size=K, per_position=True)
    assert np.all(ent >= 0) and np.all(ent <= np.log2(K) + 1e-9)
    assert np.all(ent <= np.log2(util * K) + 1e-9)  # entropy bounded by log2(#used codewords)
    c_ex, c_sh = collision_rate(codes), collision_rate(codes, definition="shared")
    assert 0 <= c_ex <= c_sh <= 1
    perm = np.random.default_rng(1).permutation(len(codes))
    assert collision_rate(codes[perm]) == pytest.approx(c_ex)
    assert code_entropy(codes[perm]) == pytest.approx(code_entropy(codes))
    # making every tuple unique removes collisions
    unique = np.c_[codes, np.arange(len(codes))]
    assert collision_rate(unique) == 0.0


@pytest.mark.parametrize("fn", [recall_at_k, ndcg_at_k, mrr_at_k])
def test_padding_is_never_a_hit(fn):
    # a -1 target against -1 padding used to count as a hit at rank 0
    with pytest.raises(ValueError, match="negative item ids"):
        fn([-1, 2], [[-1, 0], [2, -1]], 2)
    assert fn([3, 2], [[-1, 3], [2, -1]], 2) == fn([3, 2], [[9, 3], [2, 9]], 2)


@pytest.mark.parametrize("ks", [(2.5,), (True,), (0,), (1, 2.0)])
def test_ranking_report_rejects_non_int_cutoffs(ks):
    # ks=(2.5,) used to report the metrics at 2 under the key "recall@2"
    with pytest.raises(ValueError, match="every k in ks"):
        ranking_report([1, 2], [[1, 0, 2], [0, 2, 1]], ks=ks)
