"""IntRRRecommender (and the SID-recommender contract it shares with TIGER)."""
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sksid.recommenders._sid import loss_weights
from sksid.metrics import make_ranking_scorer
from sksid.recommenders.intrr import IntRRRecommender
from sksid.recommenders.tiger import TIGERRecommender
from sksid.sequences import SIDSequences
from sksid.testing import check_recommender

TINY = dict(d_model=16, n_layers=1, n_heads=2, head_dim=8, d_ff=32, max_len=10, max_epochs=2,
            batch_size=128, device="cpu", random_state=0)
N_ITEMS = 1682
SID_CLASSES = [IntRRRecommender, TIGERRecommender]


def _codes(n_items=N_ITEMS, L=3, K=8, seed=0):
    rng = np.random.RandomState(seed)
    return rng.randint(0, K, size=(n_items, L))


@pytest.fixture(scope="module")
def codes():
    return _codes()


@pytest.fixture(scope="module")
def fitted_intrr(ml_small, codes):
    return IntRRRecommender(**TINY).fit(ml_small["X_train"], ml_small["y_train"], codes=codes)


class _RandomCodes(BaseEstimator, TransformerMixin):
    """Stand-in tokenizer: attaches fixed random codes to the histories."""

    def __init__(self, n_items=N_ITEMS, K=8):
        self.n_items = n_items
        self.K = K

    def fit(self, X, y=None):
        self.codes_ = _codes(self.n_items, 3, self.K)
        return self

    def transform(self, X):
        return SIDSequences(list(X), self.codes_)


# ---- shared contract (both SID recommenders) ----------------------------------------------
@pytest.mark.parametrize("cls", SID_CLASSES)
def test_contract_checks(cls, ml_small, codes):
    X = SIDSequences(ml_small["X_train"][:80], codes)
    fitted = check_recommender(cls(**TINY, module__dropout=0.0), X, ml_small["y_train"][:80])
    assert fitted.get_params()["module__dropout"] == 0.0
    assert fitted.net_.module_.backbone.blocks[0].attn_dropout == 0.0


@pytest.mark.parametrize("cls", SID_CLASSES)
def test_clone_keeps_module_params(cls):
    est = cls(beam_width=30, module__dropout=0.3, optimizer__eps=1e-6)
    c = clone(est)
    assert c.get_params()["module__dropout"] == 0.3 and c.beam_width == 30
    c.set_params(module__dropout=0.1)
    assert c.module__dropout == 0.1 and est.module__dropout == 0.3
    with pytest.raises(TypeError, match="unexpected keyword"):
        cls(foo=1)


@pytest.mark.parametrize("cls", SID_CLASSES)
def test_not_fitted(cls):
    with pytest.raises(NotFittedError):
        cls().predict([np.array([1, 2])])


@pytest.mark.parametrize("cls", SID_CLASSES)
def test_missing_codes_error(cls, ml_small):
    with pytest.raises(ValueError, match="tokenizer before it in a Pipeline"):
        cls(**TINY).fit(ml_small["X_train"], ml_small["y_train"])


@pytest.mark.parametrize("cls", SID_CLASSES)
def test_bad_input(cls, ml_small, codes):
    X, y = ml_small["X_train"][:60], ml_small["y_train"][:60]
    with pytest.raises(ValueError, match="beam_width"):
        cls(**dict(TINY, beam_width=5, top_k=10)).fit(X, y, codes=codes)
    with pytest.raises(ValueError, match="exceeds"):
        cls(**TINY, top_k=20, beam_width=20).fit([s % 15 for s in X], y % 15, codes=codes[:15])
    with pytest.raises(ValueError, match="coded items"):
        cls(**TINY).fit(X, [N_ITEMS - 1] * 59 + [N_ITEMS + 1], codes=np.vstack([codes, codes[:1]]))
    rec = cls(**TINY).fit(X, y, codes=codes)
    # unknown ids
    with pytest.raises(ValueError, match="unknown item ids"):
        rec.predict([np.array([N_ITEMS + 3])])
    # codes of another length / catalogue at predict
    with pytest.raises(ValueError, match="fitted on"):
        rec.predict(SIDSequences(X[:2], np.hstack([codes, codes[:, :1]])))
    with pytest.warns(UserWarning, match="differ"):
        rec.predict(SIDSequences(X[:2], (codes + 1) % 8))
    assert rec.predict(SIDSequences(X[:2], codes)).shape == (2, 10)
    # empty histories -> popularity ranking
    pred = rec.predict([np.array([], dtype=np.int64), X[0]])
    np.testing.assert_array_equal(pred[0], rec.popular_items_[:10])
    ids, scores = rec.recommend([np.array([], dtype=np.int64), X[0]])
    assert np.isnan(scores[0]).all() and np.isfinite(scores[1]).all()
    # long histories keep the most recent max_len items
    long = np.concatenate([X[1], X[2], X[3]])
    assert len(long) > rec.max_len
    np.testing.assert_array_equal(rec.predict([long]), rec.predict([long[-rec.max_len:]]))
    # parameters changed after fit are checked at predict
    with pytest.raises(ValueError, match="beam_width"):
        clone_rec = pickle.loads(pickle.dumps(rec)).set_params(beam_width=3)
        clone_rec.predict(X[:2])
    with pytest.raises(ValueError, match="exceeds"):
        pickle.loads(pickle.dumps(rec)).set_params(top_k=N_ITEMS + 1, beam_width=N_ITEMS + 1).predict(X[:2])


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("cls", SID_CLASSES)
def test_exhaustive_beam_equals_brute_force_on_trained_model(cls, norm_first, ml_small):
    """Beam search (TIGER: key/value-cached prefill and steps) ranks as scoring every item
    with the full model, in both backbone layouts."""
    codes = _codes(N_ITEMS, 2, 48, seed=1)  # 2 levels + disambiguation on a tiny trained model
    rec = cls(**TINY, top_k=5, beam_width=5, norm_first=norm_first).fit(ml_small["X_train"][:60], ml_small["y_train"][:60],
                                                 codes=codes)
    m = rec.net_.module_.eval()
    from sksid.sequences import pad_histories
    items, lengths = pad_histories(ml_small["X_test"][:4], rec.max_len)
    items, lengths = torch.as_tensor(items), torch.as_tensor(lengths)
    with torch.no_grad():
        ids, scores = m.rank(items, lengths, 5, N_ITEMS)
        bf_scores, bf_ids = m.level_logprobs(items, lengths).topk(5, dim=1)
    torch.testing.assert_close(scores, bf_scores, atol=1e-4, rtol=1e-4)
    assert torch.equal(ids, bf_ids)


@pytest.mark.parametrize("cls", SID_CLASSES)
def test_collisions_disambiguated_and_predictions_real(cls, ml_small):
    codes = _codes(N_ITEMS, 2, 4)  # 16 tuples for 1682 items: heavy collisions
    rec = cls(**TINY).fit(ml_small["X_train"][:60], ml_small["y_train"][:60], codes=codes)
    assert rec.codes_.shape == (N_ITEMS, 3) and rec.code_length_ == 2
    assert len({tuple(r) for r in rec.codes_}) == N_ITEMS
    assert rec.n_colliding_items_ == N_ITEMS
    pred = rec.predict(ml_small["X_test"][:30])
    assert pred.min() >= 0 and pred.max() < N_ITEMS
    assert all(len(set(r)) == rec.top_k for r in pred.tolist())


@pytest.mark.parametrize("cls", SID_CLASSES)
def test_pipeline_gridsearch(cls, ml_small):
    X = list(ml_small["X_train"][:60]) + list(ml_small["X_valid"][:60])
    y = np.concatenate([ml_small["y_train"][:60], ml_small["y_valid"][:60]])
    cv = [(np.arange(60), np.arange(60, 120))]
    pipe = Pipeline([("tok", _RandomCodes()), ("rec", cls(**dict(TINY, max_epochs=1)))])
    gs = GridSearchCV(pipe, {"rec__beam_width": [10, 12], "rec__module__dropout": [0.0]}, cv=cv,
                      scoring=make_ranking_scorer("ndcg", 10))
    gs.fit(X, y)
    assert gs.best_params_["rec__beam_width"] in (10, 12)
    assert gs.predict(ml_small["X_test"][:5]).shape == (5, 10)


# ---- IntRR specifics ----------------------------------------------------------------------
def test_training_loss_decreases_on_movielens(ml_small, codes):
    rec = IntRRRecommender(**dict(TINY, max_epochs=4, validation_fraction=0, lr=3e-3))
    rec.fit(ml_small["X_train"], ml_small["y_train"], codes=codes)
    losses = [h["train_loss"] for h in rec.history_]
    assert len(losses) == 4 and losses[-1] < losses[0]


def test_one_token_per_item(ml_small, codes):
    rec = IntRRRecommender(**dict(TINY, max_epochs=1))
    shapes = []
    rec.fit(ml_small["X_train"][:40], ml_small["y_train"][:40], codes=codes)
    m = rec.net_.module_
    h = m.backbone.register_forward_hook(lambda mod, inp, out: shapes.append(inp[0].shape[1]))
    try:
        batch = dict(items=torch.tensor([[1, 2, 3] + [-1] * 7]), targets=torch.tensor([[2, 3, 4] + [-1] * 7]))
        m(**batch)  # training forward
        rec.predict([np.arange(rec.max_len)])  # history of exactly max_len items
    finally:
        h.remove()
    assert shapes == [rec.max_len, rec.max_len]
    assert rec.tokens_per_item_ == 1


def test_modes_and_weights(ml_small, codes):
    X, y = ml_small["X_train"][:50], ml_small["y_train"][:50]
    w = np.random.RandomState(0).rand(*codes.shape).astype(np.float32)
    rec = IntRRRecommender(**TINY, input_mode="teacher_forcing", output_mode="redistribution",
                           alignment_weight=0.0).fit(X, y, codes=codes, weights=w)
    assert rec.net_.module_.use_code_weights
    np.testing.assert_allclose(rec.importance_weights_, w)
    np.testing.assert_allclose(rec.weights_[:, :3], loss_weights(w, rec.code_weight_floor), rtol=1e-6)
    assert rec.predict(X[:3]).shape == (3, 10)
    rec2 = IntRRRecommender(**TINY).fit(SIDSequences(X, codes, weights=np.ones_like(w)), y)
    assert not rec2.net_.module_.use_code_weights
    with pytest.raises(ValueError, match="input_mode"):
        IntRRRecommender(**TINY, input_mode="bogus").fit(X, y, codes=codes)


def test_redistribution_same_sid_different_distributions(fitted_intrr, codes):
    dup = np.flatnonzero((codes == codes[0]).all(1))
    probs = fitted_intrr.redistribution()
    assert len(probs) == fitted_intrr.codes_.shape[1]
    for p, K in zip(probs, fitted_intrr.codebook_sizes_):
        assert p.shape == (N_ITEMS, K)
        np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)
    sub = fitted_intrr.redistribution([0, 1])
    np.testing.assert_allclose(sub[0], probs[0][:2], rtol=1e-5)
    # items sharing a SID get item-specific (UID-anchored) distributions
    a, b = (dup[:2] if dup.size > 1 else (0, 1))
    assert not np.allclose(probs[1][a], probs[1][b])
    with pytest.raises(ValueError, match="unknown"):
        fitted_intrr.redistribution([N_ITEMS])


def test_recommend_scores_sorted(fitted_intrr, ml_small):
    ids, scores = fitted_intrr.recommend(ml_small["X_test"][:10])
    np.testing.assert_array_equal(ids, fitted_intrr.predict(ml_small["X_test"][:10]))
    assert (np.diff(scores, axis=1) <= 1e-6).all() and (scores <= 0).all()


def test_pickle_loads_on_cpu(fitted_intrr, ml_small):
    state = pickle.loads(pickle.dumps(fitted_intrr))
    assert state.device_ == "cpu"
    np.testing.assert_array_equal(state.predict(ml_small["X_test"][:5]),
                                  fitted_intrr.predict(ml_small["X_test"][:5]))


def test_inference_token_cache_is_exact(fitted_intrr, ml_small, monkeypatch):
    """Ranking looks item tokens up in a per-call table (IntRRModule.inference_cache):
    the same rankings and scores as computing them per history position."""
    X = ml_small["X_test"][:40]
    ids, scores = fitted_intrr.recommend(X)
    m = fitted_intrr.net_.module_
    items = torch.tensor([[5, 9, 5, -1], [7, -1, -1, -1]])
    m.eval()
    with torch.no_grad():
        plain = m.encode(items)
        with m.inference_cache(items.numpy()):
            assert m._token_table is not None and m._token_table[0].shape[0] == 4  # 3 items + padding
            np.testing.assert_allclose(m.encode(items), plain, rtol=1e-5, atol=1e-6)
            table, rows = m._token_table
            m._token_table = (torch.zeros_like(table), rows)  # a wrong table shows where it is read
            assert not torch.allclose(m.encode(items), plain)
            m.train()  # training never reads it
            torch.manual_seed(0)
            in_block = m.encode(items)
            m._token_table, kept = None, m._token_table
            torch.manual_seed(0)
            np.testing.assert_array_equal(m.encode(items), in_block)
            m._token_table = kept
            m.eval()
    assert m._token_table is None
    with m.inference_cache(items.numpy()):  # grad enabled: no table
        assert m._token_table is None
    monkeypatch.setattr(type(m), "inference_cache", None)
    ids2, scores2 = fitted_intrr.recommend(X)
    np.testing.assert_array_equal(ids, ids2)
    np.testing.assert_allclose(scores, scores2, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("uid_in_token", [False, True])
def test_distinct_item_tokens_equal_per_position(codes, uid_in_token):
    """On a CPU the RAN runs once per distinct batch item (IntRRModule.distinct_tokens):
    the same tokens, loss and gradients as running it at every history position (the
    accelerator path), padding and repeated items included."""
    from sksid.nn.beam import disambiguate
    from sksid.nn.intrr import IntRRModule

    c, w, k, _ = disambiguate(codes[:, :3], np.random.RandomState(0).rand(codes.shape[0], 3) + 0.5)
    n = c.shape[0]
    rng = np.random.RandomState(1)
    items = torch.as_tensor(rng.randint(0, 12, (16, 8)))  # a few items, repeated
    items[:, :3] = -1  # left padding
    targets = torch.as_tensor(rng.randint(-1, n, (16, 8)))
    results = []
    for distinct in (True, False):
        torch.manual_seed(0)
        m = IntRRModule(n, c, k, weights=w, d_model=16, n_layers=1, n_heads=2, head_dim=8, d_ff=32,
                        max_len=8, dropout=0.0, constrained=True, leaf=True, uid_weight=0.5,
                        uid_in_token=uid_in_token, tau=0.7)
        m.distinct_tokens = distinct
        out = m(items, targets)
        n_rows = out["aln_items"].numel()
        assert n_rows == (torch.unique(items[items >= 0]).numel() if distinct else items.numel())
        loss = m.loss(out, items, targets)
        loss.backward()
        parts = m.loss_parts(m(items, targets), items, targets)
        assert parts[1][1] == int((items >= 0).sum())  # L_aln averages over history positions
        results.append((out["hidden"].detach(), loss.detach(),
                        {name: p.grad.clone() for name, p in m.named_parameters() if p.grad is not None}))
    (h1, l1, g1), (h2, l2, g2) = results
    torch.testing.assert_close(h1, h2)
    torch.testing.assert_close(l1, l2)
    assert g1.keys() == g2.keys()
    for name in g1:
        torch.testing.assert_close(g1[name], g2[name], rtol=1e-4, atol=1e-6, msg=name)


def test_same_random_state_same_model_with_two_threads():
    """Two fits with one ``random_state`` give bitwise the same weights with two intra-op
    threads (without deterministic CPU kernels the accumulating backward of the token
    gather adds in a thread-dependent order and the fits drift apart), and the global
    deterministic-algorithms setting is left as it was."""
    rng = np.random.default_rng(0)
    X = [list(rng.integers(0, 300, rng.integers(3, 20))) for _ in range(400)]
    y = rng.integers(0, 300, 400)
    codes = np.stack([rng.integers(0, 8, 300) for _ in range(3)], 1)
    threads, before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(2)
    try:
        states = [IntRRRecommender(max_epochs=2, device="cpu", random_state=0)
                  .fit(X, y, codes=codes).net_.module_.state_dict() for _ in range(2)]
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert torch.are_deterministic_algorithms_enabled() == before


@pytest.mark.parametrize("cls", SID_CLASSES)
def test_post_norm_layout(cls, ml_small, codes):
    """``norm_first=False, init_std=0.02``: SASRec/RecBole's post-norm backbone (no token
    LayerNorm before it), N(0, 0.02) weights; fits, clones, validates, and is a different model."""
    X, y = ml_small["X_train"][:300], ml_small["y_train"][:300]
    rec = cls(**TINY, norm_first=False, init_std=0.02).fit(X, y, codes=codes)
    m = rec.net_.module_
    assert m.backbone.norm_first is False and isinstance(m.emb_ln, torch.nn.Identity)
    assert abs(m.backbone.blocks[0].qkv.weight.std().item() - 0.02) < 0.004
    assert clone(rec).get_params()["init_std"] == 0.02
    ref = cls(**TINY).fit(X, y, codes=codes)
    assert isinstance(ref.net_.module_.emb_ln, torch.nn.LayerNorm)
    assert not np.allclose(rec.recommend(X[:3])[1], ref.recommend(X[:3])[1])
    # decoding paths agree on the post-norm model too (token table vs per-call tokens)
    np.testing.assert_array_equal(rec.predict(X[:20]), pickle.loads(pickle.dumps(rec)).predict(X[:20]))
    for bad in (dict(init_std=0.0), dict(norm_first="no")):
        with pytest.raises(ValueError, match="init_std|norm_first"):
            cls(**TINY, **bad).fit(X, y, codes=codes)


# ---- decoding weights: popularity penalty and fusion chosen on validation ----------------------
@pytest.mark.parametrize("decoding", ["exact", "beam"])
def test_popularity_penalty_shifts_every_score_by_its_log_count(fitted_intrr, ml_small, decoding):
    rec = clone(fitted_intrr).set_params(decoding=decoding, beam_width=50)
    rec.__dict__.update({k: v for k, v in fitted_intrr.__dict__.items() if k.endswith("_")})
    X = ml_small["X_test"][:40]
    ids0, s0 = rec.recommend(X, k=50)
    rec.set_params(popularity_penalty=0.3)  # read at predict: no refit
    ids1, s1 = rec.recommend(X, k=50)
    pop = np.log1p(rec.item_popularity_)
    # the penalised score of every returned item is its plain score minus 0.3 log(1 + c)
    for u in range(len(X)):
        common, i0, i1 = np.intersect1d(ids0[u], ids1[u], return_indices=True)
        np.testing.assert_allclose(s1[u, i1], s0[u, i0] - 0.3 * pop[common], rtol=1e-4, atol=1e-4)
    assert pop[ids1[:, :10]].mean() < pop[ids0[:, :10]].mean()  # less popular top 10
    rec.set_params(popularity_penalty=0.0)
    np.testing.assert_array_equal(rec.recommend(X, k=50)[0], ids0)


def test_fusion_on_validation_picks_the_best_pair_it_reports(ml_small, codes):
    from sksid.metrics import ndcg_at_k

    X, y = ml_small["X_train"], ml_small["y_train"]
    rec = IntRRRecommender(**TINY, fusion="validation", decoding="exact").fit(
        X, y, codes=codes, eval_set=(ml_small["X_valid"], ml_small["y_valid"]))
    grid = rec.fusion_scores_
    assert len(grid) == 4 * 6 and rec.decoding_weights_ is not None
    best = max(r["ndcg"] for r in grid)
    chosen = next(r for r in grid if r["uid_weight"] == rec.decoding_weights_["uid_weight"]
                  and r["popularity_penalty"] == rec.decoding_weights_["popularity_penalty"])
    assert chosen["ndcg"] == best
    # the reported score of the chosen pair is what predict gets on the validation set
    fixed = clone(rec).set_params(fusion="fixed", **rec.decoding_weights_)
    fixed.__dict__.update({k: v for k, v in rec.__dict__.items() if k.endswith("_")})
    fixed.decoding_weights_ = None
    pred = fixed.predict(ml_small["X_valid"])
    assert ndcg_at_k(np.asarray(ml_small["y_valid"]), pred, 10) == pytest.approx(best, abs=1e-6)
    np.testing.assert_array_equal(rec.predict(ml_small["X_valid"]), pred)


def test_fusion_on_validation_needs_validation_data(ml_small, codes):
    with pytest.raises(ValueError, match="validation"):
        IntRRRecommender(**TINY, fusion="validation", validation_fraction=0.0).fit(
            ml_small["X_train"], ml_small["y_train"], codes=codes)


def test_a_model_fitted_before_the_cold_item_groups_existed_still_predicts(fitted_intrr, ml_small):
    import copy

    old = copy.deepcopy(fitted_intrr)
    want = old.predict(ml_small["X_test"][:20])
    old = copy.deepcopy(fitted_intrr)
    del old.item_prefix_groups_  # a model pickled by an earlier sksid
    old.net_.module_._cold_uid_key = None
    np.testing.assert_array_equal(old.predict(ml_small["X_test"][:20]), want)
