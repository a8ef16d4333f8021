"""Options of the SID recommenders added for quality: loss weights, code order, prefix
conditioning, learned leaf, exact decoding, CPU/CUDA backbone sizes, time budget."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sksid.nn.beam import PrefixTrie, disambiguate
from sksid.sequences import SIDSequences
from sksid.nn.intrr import IntRRModule
from sksid.nn.leaf import MASKED, group_slots, leaf_logits
from sksid.recommenders._sid import BACKBONE_CPU, loss_weights
from sksid.recommenders.intrr import IntRRRecommender
from sksid.recommenders.tiger import TIGERRecommender
from sksid.sequences import pad_histories

TINY = dict(d_model=16, n_layers=1, n_heads=2, head_dim=8, d_ff=32, max_len=10, max_epochs=2,
            batch_size=128, device="cpu", random_state=0)
N_ITEMS = 1682
SID_CLASSES = [IntRRRecommender, TIGERRecommender]


def _codes(L=3, K=8, seed=0, n=N_ITEMS):
    return np.random.RandomState(seed).randint(0, K, size=(n, L))


# ---- loss weights --------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 20), st.integers(1, 6)),
              elements=st.floats(0, 1e3, allow_nan=False)),
       st.floats(0.0, 1.0))
def test_loss_weights_bounded_mean_one(w, floor):
    lw = loss_weights(w, floor)
    assert lw.shape == w.shape and np.all(np.isfinite(lw))
    np.testing.assert_allclose(lw.mean(1), 1.0, rtol=1e-5)
    # each level within [floor, 1] of the item's largest, before the mean-1 rescaling
    ratio = lw / lw.max(1, keepdims=True)
    assert ratio.min() >= floor - 1e-5
    # the ordering of an item's weights is kept
    for row_w, row_lw in zip(w, lw):
        order = np.argsort(row_w, kind="stable")
        assert np.all(np.diff(row_lw[order]) >= -1e-6)


def test_loss_weights_scale_free_and_never_zero():
    w = np.array([[1, 1, 146.7, 0, 513.6], [2, 2, 2, 2, 2]], float)
    lw = loss_weights(w, 0.5)
    np.testing.assert_allclose(loss_weights(w * 7, 0.5), lw, rtol=1e-6)
    assert lw.min() > 0
    np.testing.assert_allclose(lw[1], 1.0)
    np.testing.assert_allclose(loss_weights(np.zeros((2, 3))), 1.0)


@pytest.mark.parametrize("cls", SID_CLASSES)
def test_code_weights_switch(cls, ml_small):
    codes = _codes()
    w = np.random.RandomState(0).rand(*codes.shape).astype(np.float32) * 50
    X, y = ml_small["X_train"][:40], ml_small["y_train"][:40]
    on = cls(**TINY).fit(X, y, codes=codes, weights=w)
    off = cls(**TINY, code_weights=False).fit(X, y, codes=codes, weights=w)
    assert on.net_.module_.use_code_weights and not off.net_.module_.use_code_weights
    np.testing.assert_allclose(off.importance_weights_, w)
    assert on.weights_.max() <= 1.0 / 0.5 + 1e-5  # mean-1 rows of [floor, 1] values
    for bad in (dict(code_weights="yes"), dict(code_weight_floor=1.5), dict(code_weight_floor=-0.1)):
        with pytest.raises(ValueError):
            cls(**TINY, **bad).fit(X, y, codes=codes, weights=w)


# ---- code order ----------------------------------------------------------------------------
def test_code_order_permutes_levels(ml_small):
    rng = np.random.RandomState(0)
    codes = np.stack([rng.randint(0, 2, N_ITEMS), rng.randint(0, 8, N_ITEMS), rng.randint(0, 4, N_ITEMS)], 1)
    X, y = ml_small["X_train"][:40], ml_small["y_train"][:40]
    rec = IntRRRecommender(**TINY, code_order="entropy").fit(X, y, codes=codes)
    assert rec.code_order_.tolist() == [1, 2, 0]
    np.testing.assert_array_equal(rec.codes_[:, :3], codes[:, [1, 2, 0]])
    rec = IntRRRecommender(**TINY, code_order="entropy_asc").fit(X, y, codes=codes)
    assert rec.code_order_.tolist() == [0, 2, 1]
    rec = IntRRRecommender(**TINY, code_order=[2, 0, 1]).fit(X, y, codes=codes)
    assert rec.code_order_.tolist() == [2, 0, 1]
    assert rec.predict(ml_small["X_test"][:3]).shape == (3, 10)
    for bad in ("bogus", [0, 0, 1], [0, 1], [0, 1, 3]):
        with pytest.raises(ValueError, match="code_order"):
            IntRRRecommender(**TINY, code_order=bad).fit(X, y, codes=codes)


# ---- learned leaf --------------------------------------------------------------------------
def test_group_slots_and_leaf_logits():
    codes, _, sizes, n = disambiguate([[0, 1], [0, 1], [1, 0], [0, 1]])
    slots = group_slots(PrefixTrie(codes, sizes))
    assert slots.tolist() == [[0, 1, 3], [0, 1, 3], [2, -1, -1], [0, 1, 3]]
    emb = torch.nn.Embedding(4, 3)
    q = torch.randn(2, 3)
    lg = leaf_logits(q, slots[[0, 2]], emb)
    assert lg.shape == (2, 3)
    assert torch.all(lg[1, 1:] == MASKED)
    torch.testing.assert_close(lg[0, 2], (q[0] * emb.weight[3]).sum())


@pytest.mark.parametrize("cls", SID_CLASSES)
def test_leaf_only_with_collisions(cls, ml_small):
    X, y = ml_small["X_train"][:40], ml_small["y_train"][:40]
    colliding = cls(**TINY).fit(X, y, codes=_codes(2, 4))
    assert colliding.net_.module_.leaf
    unique = np.stack([np.arange(N_ITEMS) % 41, np.arange(N_ITEMS) // 41], 1)
    assert not cls(**TINY).fit(X, y, codes=unique).net_.module_.leaf
    assert not cls(**TINY, leaf=False).fit(X, y, codes=_codes(2, 4)).net_.module_.leaf


def test_leaf_learns_to_separate_colliding_items():
    """Two items share every code; the history says which follows: only the leaf can learn it."""
    codes = np.array([[0, 0], [0, 0], [1, 1], [1, 0]])
    X = [np.array([2])] * 60 + [np.array([3])] * 60
    y = np.array([0] * 60 + [1] * 60)
    kw = dict(TINY, max_epochs=60, lr=1e-2, top_k=2, beam_width=2, validation_fraction=0, max_len=3)
    rec = IntRRRecommender(**kw).fit(X, y, codes=codes)
    assert rec.predict([np.array([2]), np.array([3])])[:, 0].tolist() == [0, 1]


# ---- prefix conditioning -------------------------------------------------------------------
def test_prefix_conditioning_sees_whole_prefix():
    m = IntRRModule(6, codes=_codes(3, 4, n=6), codebook_sizes=(4, 4, 4), d_model=8, n_layers=1,
                    n_heads=2, d_ff=16, max_len=3)
    ran = m.ran
    codes = torch.tensor([[0, 1, 2], [3, 1, 2]])  # differ at level 0 only
    ctx = ran.prefix_context(2, codes)
    assert not torch.allclose(ctx[0], ctx[1])
    ran.conditioning = "previous"
    ctx = ran.prefix_context(2, codes)
    torch.testing.assert_close(ctx[0], ctx[1])
    with pytest.raises(ValueError, match="conditioning"):
        IntRRRecommender(**TINY, conditioning="bogus").fit([np.array([1, 2])], [3], codes=_codes())


# ---- exact decoding ------------------------------------------------------------------------
@pytest.mark.parametrize("cls", SID_CLASSES)
def test_exact_decoding_ranks_by_brute_force_scores(cls, ml_small):
    codes = _codes(2, 16, seed=3)
    rec = cls(**TINY, decoding="exact", top_k=5, beam_width=5).fit(
        ml_small["X_train"][:60], ml_small["y_train"][:60], codes=codes)
    X = ml_small["X_test"][:4]
    ids, scores = rec.recommend(X)
    items, lengths = (torch.as_tensor(a) for a in pad_histories(X, rec.max_len))
    m = rec.net_.module_.eval()
    with torch.no_grad():
        bf_scores, bf_ids = m.level_logprobs(items, lengths).topk(5, dim=1)
    np.testing.assert_array_equal(ids, bf_ids.numpy())
    np.testing.assert_allclose(scores, bf_scores.numpy(), atol=1e-4, rtol=1e-4)
    assert rec._decodes_exactly(m)
    rec.set_params(decoding="beam")
    assert not rec._decodes_exactly(m)
    rec.set_params(decoding="auto")
    # IntRR scores 1,682 items exactly; TIGER's exact search costs a transformer step per prefix
    assert rec._decodes_exactly(m) == (cls is IntRRRecommender)
    if cls is IntRRRecommender:  # a trie too wide for "auto": exact only with the UID head on
        rec._exact_auto_max_prefixes = 1
        m.uid_weight = 0.0
        assert not rec._decodes_exactly(m)
        m.uid_weight = 1.0
        assert rec._decodes_exactly(m)
        rec._exact_auto_max_items_uid = m.n_items - 1  # ... and a catalogue small enough
        assert not rec._decodes_exactly(m)
    with pytest.raises(ValueError, match="decoding"):
        cls(**TINY, decoding="greedy").fit(ml_small["X_train"][:10], ml_small["y_train"][:10], codes=codes)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(2, 7), st.integers(1, 60), st.booleans(), st.booleans(),
       st.sampled_from([0.0, 0.5]), st.sampled_from(["prefix", "previous"]),
       st.integers(40, 5000), st.integers(0, 10_000))
def test_trie_exact_scores_equal_item_brute_force(L, K, n, leaf, constrained, mu, cond, budget, seed):
    """IntRRModule.exact_scores (per distinct trie prefix, chunked, forced codes skipped)
    gives every item the score of the per-item brute force, for any trie and chunk size."""
    rng = np.random.RandomState(seed)
    codes, _, sizes, _ = disambiguate(rng.randint(0, K, (n, L)), None, (K,) * L)
    torch.manual_seed(seed)
    m = IntRRModule(n, codes, sizes, d_model=8, n_layers=1, n_heads=2, head_dim=4, d_ff=16, max_len=4,
                    leaf=leaf, constrained=constrained, uid_weight=mu, conditioning=cond).eval()
    items = torch.as_tensor(rng.randint(-1, n, (3, 4))).sort(1, descending=True).values
    lengths = (items >= 0).sum(1).clamp(min=1)
    items[:, 0] = items[:, 0].clamp(min=0)
    with torch.no_grad():
        bf = m.level_logprobs(items, lengths)
        h = m.user_state(items, lengths).float()
        fast = m.exact_scores(h, budget=budget)
        ids, scores = m.rank_exact(items, lengths, min(5, n), budget=budget)
        levels = list(m.level_scores(h, budget=budget))
    torch.testing.assert_close(fast, bf, atol=1e-4, rtol=1e-4)
    # the per-level terms: one (B, n) log-probability per level, each <= 0, summing to the score
    assert len(levels) == codes.shape[1] and all(lp.shape == (3, n) for lp in levels)
    assert all(bool((lp <= 1e-6).all()) for lp in levels)
    bonus = m.item_bonus(h)
    torch.testing.assert_close(sum(levels) + (0 if bonus is None else bonus), fast, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(scores, bf.topk(min(5, n), dim=1).values, atol=1e-4, rtol=1e-4)


# ---- backbone sizes and time budget --------------------------------------------------------
@pytest.mark.parametrize("cls", SID_CLASSES)
def test_backbone_sizes_resolved_for_the_device(cls, ml_small):
    kw = {k: v for k, v in TINY.items() if k not in BACKBONE_CPU}
    rec = cls(**kw).fit(ml_small["X_train"][:20], ml_small["y_train"][:20], codes=_codes())
    assert rec.backbone_ == BACKBONE_CPU
    assert rec.get_params()["d_model"] is None  # the parameter itself is untouched
    with pytest.raises(ValueError, match="n_layers"):
        cls(**dict(kw, n_layers=0)).fit(ml_small["X_train"][:20], ml_small["y_train"][:20], codes=_codes())


def test_max_time_stops_training(ml_small):
    X, y = ml_small["X_train"][:60], ml_small["y_train"][:60]
    rec = IntRRRecommender(**dict(TINY, max_epochs=500, patience=500), max_time=0.5).fit(X, y, codes=_codes())
    assert rec.n_epochs_ < 500
    with pytest.raises(ValueError, match="max_time"):
        IntRRRecommender(**TINY, max_time=0).fit(X, y, codes=_codes())


@pytest.mark.parametrize("cls", SID_CLASSES)
@pytest.mark.parametrize("constrained", [True, False])
def test_constrained_scores_are_a_distribution_over_items(cls, constrained, ml_small):
    codes = _codes(3, 12, seed=4)  # sparse trie: many codes lead to no item
    extra = {"uid_weight": 0.0} if cls is IntRRRecommender else {}  # the UID head adds a second expert
    rec = cls(**TINY, constrained=constrained, **extra).fit(ml_small["X_train"][:40], ml_small["y_train"][:40],
                                                            codes=codes)
    items, lengths = (torch.as_tensor(a) for a in pad_histories(ml_small["X_test"][:3], rec.max_len))
    with torch.no_grad():
        total = rec.net_.module_.eval().level_logprobs(items, lengths).exp().sum(1)
    if constrained:  # a normalised distribution over the catalogue
        torch.testing.assert_close(total, torch.ones(3), atol=1e-4, rtol=1e-4)
    else:  # mass leaks to code tuples that name no item
        assert torch.all(total < 0.999)


# ---- IntRR's UID head ----------------------------------------------------------------------
def test_uid_head_scores_are_sid_logprobs_plus_weighted_uid_logprobs(ml_small):
    codes = _codes(2, 16, seed=3)
    X, y = ml_small["X_train"][:60], ml_small["y_train"][:60]
    # cold_uid="uid": every item keeps its own UID term (tests/test_intrr_cold.py for the rest)
    rec = IntRRRecommender(**TINY, uid_weight=0.5, cold_uid="uid").fit(X, y, codes=codes)
    m = rec.net_.module_.eval()
    items, lengths = (torch.as_tensor(a) for a in pad_histories(ml_small["X_test"][:3], rec.max_len))
    with torch.no_grad():
        full = m.level_logprobs(items, lengths)
        h = m.user_state(items, lengths).float()
        uid = torch.log_softmax(m.uid_logits(h), -1)
        m.uid_weight = 0.0
        sid_only = m.level_logprobs(items, lengths)
        assert m.item_bonus(h) is None
    torch.testing.assert_close(full, sid_only + 0.5 * uid, atol=1e-5, rtol=1e-5)
    # the exhaustive beam ranks by the same combined score
    m.uid_weight = 0.5
    rec.set_params(decoding="exact", top_k=5, beam_width=5)
    ids, scores = rec.recommend(ml_small["X_test"][:3])
    bf_scores, bf_ids = full.topk(5, dim=1)
    np.testing.assert_array_equal(ids, bf_ids.numpy())
    np.testing.assert_allclose(scores, bf_scores.numpy(), atol=1e-4, rtol=1e-4)
    for bad in (-1.0, float("nan"), "1", True):
        with pytest.raises(ValueError, match="uid_weight"):
            IntRRRecommender(**TINY, uid_weight=bad).fit(X[:10], y[:10], codes=codes)


def test_uid_head_is_trained_to_predict_the_next_item():
    """The next item is a fixed function of the last one; the UID head alone (no codes)
    must learn it, and the combined ranking must get it right."""
    rng = np.random.RandomState(0)
    n = 12
    nxt = rng.permutation(n)
    X = [rng.randint(0, n, size=rng.randint(2, 6)) for _ in range(300)]
    y = np.array([nxt[x[-1]] for x in X])
    codes = np.zeros((n, 2), np.int64)
    rec = IntRRRecommender(**dict(TINY, max_epochs=60), lr=1e-2, uid_weight=1.0, top_k=1,
                           beam_width=1, validation_fraction=0).fit(X, y, codes=codes)
    items, lengths = (torch.as_tensor(a) for a in pad_histories(X, rec.max_len))
    m = rec.net_.module_.eval()
    with torch.no_grad():
        uid_top = m.uid_logits(m.user_state(items, lengths)).argmax(-1).numpy()
    assert np.mean(uid_top == y) > 0.8  # chance: 1/12
    assert np.mean(rec.predict(X)[:, 0] == y) > 0.8


# ---- IntRR's UID anchors from the behaviour model's item table ------------------------------
@pytest.mark.parametrize("width", [16, 8, 24])  # equal to, below and above d_model=16
def test_anchor_init_from_behaviour_table(width, ml_small):
    X, y = ml_small["X_train"][:40], ml_small["y_train"][:40]
    codes = _codes(2, 8, seed=1)
    table = np.random.RandomState(2).standard_normal((N_ITEMS, width)).astype(np.float32)
    seqs = SIDSequences(X, codes=codes, item_embeddings=table)
    rec = IntRRRecommender(**dict(TINY, max_epochs=1), lr=1e-12, anchor_init="behavior",
                           validation_fraction=0).fit(seqs, y)
    uid = rec.net_.module_.ran.uid.weight.detach().numpy().astype(np.float64)
    assert uid.shape == (N_ITEMS, 16)
    np.testing.assert_allclose(uid.std(), 0.02, rtol=1e-3)
    # an orthonormal map keeps the items' geometry: inner products are proportional
    g_uid = uid @ uid.T
    centred = table - table.mean(0)
    expected = centred @ centred.T if width <= 16 else None
    if expected is not None:
        np.testing.assert_allclose(g_uid / g_uid[0, 0], expected / expected[0, 0], atol=1e-4)
    else:  # projected down: still strongly correlated with the original geometry
        assert np.corrcoef(g_uid.ravel(), (centred @ centred.T).ravel())[0, 1] > 0.5
    with pytest.raises(ValueError, match="anchor_init"):
        IntRRRecommender(**TINY, anchor_init="behavior").fit(X, y, codes=codes)
    with pytest.raises(ValueError, match="anchor_init"):
        IntRRRecommender(**TINY, anchor_init="pretrained").fit(seqs, y)
    with pytest.raises(ValueError, match="item_embeddings"):
        SIDSequences(X, codes=codes, item_embeddings=table[:5])
