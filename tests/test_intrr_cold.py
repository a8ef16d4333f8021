"""IntRR's UID head on cold items (``item_popularity_ == 0``): ``cold_uid`` replaces their
untrained term, warm items' scores never change."""
import numpy as np
import pytest
import torch

from sksid.recommenders.intrr import IntRRRecommender
from sksid.sequences import pad_histories

TINY = dict(d_model=16, n_layers=1, n_heads=2, head_dim=8, d_ff=32, max_len=10, max_epochs=2,
            batch_size=128, device="cpu", random_state=0)
N_ITEMS = 1682


@pytest.fixture(scope="module")
def fitted(ml_small):
    rng = np.random.RandomState(3)  # prefixes of 1 and 2 codes: ~420 and ~7 items a group
    codes = np.stack([rng.randint(0, k, size=N_ITEMS) for k in (4, 60, 12)], 1)
    X, y = ml_small["X_train"][:80], ml_small["y_train"][:80]
    rec = IntRRRecommender(**TINY, uid_weight=1.0).fit(X, y, codes=codes)
    items, lengths = (torch.as_tensor(a) for a in pad_histories(ml_small["X_test"][:4], rec.max_len))
    return rec, items, lengths


def _scores(rec, items, lengths, mode):
    rec.set_params(cold_uid=mode)
    m = rec.net_.module_.eval()
    rec._set_cold_items(m)
    with torch.no_grad():
        h = m.user_state(items, lengths).float()
        return m.level_logprobs(items, lengths).numpy(), m.item_bonus(h).numpy()


def test_cold_uid_modes(fitted):
    rec, items, lengths = fitted
    cold = rec.item_popularity_ == 0
    assert 0 < cold.sum() < N_ITEMS
    s_uid, b_uid = _scores(rec, items, lengths, "uid")
    s_mean, b_mean = _scores(rec, items, lengths, "prefix_mean")
    s_drop, b_drop = _scores(rec, items, lengths, "drop")
    # warm items: the same scores whatever the mode
    for s in (s_mean, s_drop):
        np.testing.assert_array_equal(s[:, ~cold], s_uid[:, ~cold])
    # the SID part of a cold item is unchanged; only its UID term is replaced
    np.testing.assert_allclose(s_mean - b_mean, s_uid - b_uid, atol=1e-4)
    np.testing.assert_array_equal(b_drop[:, cold], 0.0)
    # prefix_mean: the mean UID term of the warm items sharing the longest code prefix
    # (at most all levels but the last) any warm item has, else of all warm items -- a
    # reference loop over the cold items
    L = rec.code_length_
    depths = []
    for i in np.flatnonzero(cold):
        expect = b_uid[:, ~cold].mean(1)
        depth = 0
        for d in range(L - 1, 0, -1):
            peers = (~cold) & np.all(rec.codes_[:, :d] == rec.codes_[i, :d], axis=1)
            if peers.any():
                expect, depth = b_uid[:, peers].mean(1), d
                break
        depths.append(depth)
        np.testing.assert_allclose(b_mean[:, i], expect, rtol=1e-5, atol=1e-5)
    assert len(set(depths)) > 1  # the fixture exercises more than one back-off depth
    # the untrained term buries cold items: below the warm items' on average
    assert b_uid[:, cold].mean() < b_uid[:, ~cold].mean()


@pytest.mark.parametrize("mode", ["prefix_mean", "drop"])
def test_cold_uid_in_exact_and_beam_decoding(fitted, ml_small, mode):
    rec, items, lengths = fitted
    s, _ = _scores(rec, items, lengths, mode)
    bf_scores, bf_ids = torch.as_tensor(s).topk(5, dim=1)
    for decoding, width in (("exact", 5), ("beam", 10_000)):  # a beam that keeps every prefix
        rec.set_params(decoding=decoding, top_k=5, beam_width=width)
        ids, scores = rec.recommend(ml_small["X_test"][:4])
        np.testing.assert_array_equal(ids, bf_ids.numpy())
        np.testing.assert_allclose(scores, bf_scores.numpy(), atol=1e-4, rtol=1e-4)
    rec.set_params(decoding="auto", top_k=10, beam_width=20, cold_uid="prefix_mean")


def test_cold_uid_validation_and_no_uid_head(ml_small):
    codes = np.random.RandomState(0).randint(0, 8, size=(N_ITEMS, 3))
    X, y = ml_small["X_train"][:20], ml_small["y_train"][:20]
    with pytest.raises(ValueError, match="cold_uid"):
        IntRRRecommender(**TINY, cold_uid="mean").fit(X, y, codes=codes)
    rec = IntRRRecommender(**TINY, uid_weight=0.0).fit(X, y, codes=codes)
    rec.predict(ml_small["X_test"][:3])
    assert rec.net_.module_.cold_uid is None  # nothing to replace without the head
