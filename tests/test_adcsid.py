"""ADC-SID specifics: Eq. 15-17 strength, gates, ReMoE regulariser, ablations, bad input."""
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sksid.nn.adcsid import ADCSIDModule, alignment_strength, normalized_norm
from sksid.nn.codebook import CosineCodebook, EuclideanCodebook, kmeans
from sksid.tokenizers import ADCSIDTokenizer


def tok(**kw):
    base = dict(codebook_size=4, hidden_dim=16, latent_dim=8, max_epochs=2, batch_size=32,
                device="cpu", random_state=0)
    base.update(kw)
    return ADCSIDTokenizer(**base)


def catalogue(n=60, seed=0):
    rng = np.random.RandomState(seed)
    scale = np.exp(rng.randn(n, 1))
    return {"text": rng.randn(n, 10).astype(np.float32),
            "collab": (scale * rng.randn(n, 6)).astype(np.float32)}


@given(arrays(np.float64, st.integers(2, 50), elements=st.floats(0, 1e3)))
def test_alignment_strength_monotone_and_max_is_one(norms):
    n_norm = normalized_norm(norms, norms.min(), norms.max())
    w = alignment_strength(n_norm)
    order = np.argsort(norms, kind="stable")
    assert np.all(np.diff(w[order]) >= -1e-12)
    assert np.all((w > 0) & (w <= 1 + 1e-12))
    assert np.isclose(w[np.argmax(norms)], 1.0)


def test_alignment_strength_constant_norm_guard():
    assert np.all(normalized_norm(np.full(5, 2.0), 2.0, 2.0) == 1)
    assert alignment_strength(1.0) == pytest.approx(1.0)


@settings(max_examples=3, deadline=None)
@given(st.integers(0, 2**16), st.integers(20, 40))
def test_codes_and_weights_properties(seed, n):
    rng = np.random.RandomState(seed)
    X = {"text": rng.randn(n, 5), "collab": np.exp(rng.randn(n, 1)) * rng.randn(n, 3)}
    codes, weights = tok(max_epochs=1, random_state=seed % 7).fit_transform(X)
    assert codes.shape == weights.shape == (n, 5)
    assert codes.min() >= 0 and codes.max() < 4
    assert np.all(np.isfinite(weights)) and weights.min() >= 0
    assert np.all(weights[:, :2] == pytest.approx(1.0))  # shared, single text expert (softmax of 1)


def test_layout_weights_and_strength_attribute():
    X = catalogue()
    t = tok(n_shared=2, n_content_experts={"text": 2}, n_behavior=2).fit(X)
    assert t.code_layout_ == ["shared_0", "shared_1", "text_0", "text_1", "collab_0", "collab_1"]
    assert np.allclose(t.weights_[:, :2], 1)
    np.testing.assert_allclose(t.weights_[:, 2:4].sum(1), 1, rtol=1e-5)  # softmax gates
    norms = np.linalg.norm(X["collab"], axis=1)
    assert t.alignment_strength_[np.argmax(norms)] == pytest.approx(1.0)
    order = np.argsort(norms)
    assert np.all(np.diff(t.alignment_strength_[order]) >= -1e-6)
    assert t._behavior_positions().tolist() == [4, 5]


def test_absent_modalities_have_no_experts():
    X = catalogue()
    t = tok().fit({"text": X["text"]})
    assert t.code_layout_ == ["shared_0", "text_0"] and t.codes_.shape[1] == 2
    t = tok().fit({"collab": X["collab"]})
    assert t.code_layout_ == ["shared_0", "collab_0", "collab_1", "collab_2"]
    t = tok(n_content_experts={"text": 0, "category": 2}).fit({**X, "category": X["text"][:, :3]})
    assert t.code_layout_ == ["shared_0", "category_0", "category_1", "collab_0", "collab_1", "collab_2"]


def test_ablation_switches():
    X = catalogue()
    t = tok(use_behavior_gate=False).fit(X)
    assert np.all(t.weights_ == 1)
    t = tok(use_strength_controller=False).fit(X)
    assert np.all(t.alignment_strength_ == 1)
    for flags in ({"use_alignment": False}, {"use_sparsity_reg": False}):
        codes, _ = tok(**flags).fit_transform(X)
        assert codes.shape == (60, 5)


def test_bad_behavior_inputs():
    X = catalogue()
    with pytest.raises(ValueError, match="zero norm"):
        tok().fit({**X, "collab": np.zeros((60, 6))})
    const = np.ones((60, 6)) / np.sqrt(6)
    with pytest.warns(UserWarning, match="same norm"):
        t = tok().fit({**X, "collab": const})
    assert np.all(t.alignment_strength_ == 1)
    one_zero = X["collab"].copy()
    one_zero[0] = 0
    t = tok().fit({**X, "collab": one_zero})  # documented: N_norm = 0 for that item
    assert t.alignment_strength_[0] == pytest.approx(alignment_strength(0.0))
    with pytest.raises(ValueError, match="unknown content modality"):
        tok(n_content_experts={"image": 1}).fit(X)
    with pytest.raises(ValueError, match="n_content_experts"):
        tok(n_content_experts=-1).fit(X)
    with pytest.raises(ValueError, match="target_sparsity"):
        tok(target_sparsity=1.0).fit(X)
    with pytest.raises(ValueError, match="code length"):
        tok(n_shared=0, n_content_experts=0, n_behavior=0).fit(X)
    with pytest.raises(ValueError, match="codebook_size"):
        tok(codebook_size=1).fit(X)
    with pytest.raises(ValueError, match="n_samples = 3"):
        tok().fit({m: a[:3] for m, a in X.items()})
    with pytest.raises(ValueError, match="item_features is only used"):
        tok().fit(X, item_features=X)


def test_remoe_regulariser_and_lambda_update():
    m = ADCSIDModule({"collab": 4}, "collab", codebook_size=4, n_behavior=4, hidden_dim=8,
                     latent_dim=4, target_sparsity=0.5)
    R = torch.tensor([[0.5, 0.0, 0.2, 0.0], [0.1, 0.3, 0.0, 0.0]])
    # f_e = E / (k T) * #{R_e > 0}, k = E (1 - 0.5) = 2, T = 2
    f = torch.tensor([2.0, 1.0, 1.0, 0.0]) * 4 / (2 * 2)
    expected = float(m.reg_lambda) * float((f * R.mean(0)).sum())
    assert float(m.sparsity_loss(R)) == pytest.approx(expected)
    lam = float(m.reg_lambda)
    m.update_lambda(R)  # S = 4/8 = 0.5 = target: unchanged
    assert float(m.reg_lambda) == pytest.approx(lam)
    m.update_lambda(torch.ones(2, 4))  # S = 0 < target: grows by 1.2
    assert float(m.reg_lambda) == pytest.approx(lam * 1.2)
    m.update_lambda(torch.zeros(2, 4))  # S = 1 > target: shrinks
    assert float(m.reg_lambda) == pytest.approx(lam)
    # the penalty's gradient goes to R only, not through f
    Rg = R.clone().requires_grad_(True)
    m.sparsity_loss(Rg).backward()
    assert torch.allclose(Rg.grad, float(m.reg_lambda) * f / 2)


def test_behavior_gate_eq22():
    torch.manual_seed(0)
    x = {"collab": 3.0 * torch.randn(64, 3)}
    n_norm = torch.rand(64)
    for act in ("relu", "tanh", "clamp"):
        m = ADCSIDModule({"collab": 3}, "collab", codebook_size=4, n_behavior=2, hidden_dim=8,
                         latent_dim=4, gate_activation=act)
        with torch.no_grad():  # a large router output, so that the bound matters
            m.behavior_gate_mlp[-1].weight.mul_(20)
        R, raw = m.behavior_gate(x, n_norm, return_raw=True)
        ref = torch.sigmoid(n_norm)[:, None] * torch.relu(m.behavior_gate_mlp(x["collab"]))
        assert torch.allclose(raw, ref)  # Eq. 22 as printed
        assert torch.equal(R == 0, ref == 0)  # bounding keeps the ReLU router's exact zeros
        assert R.min() >= 0 and (R > 0).any() and (R == 0).any()
        if act == "relu":
            assert torch.allclose(R, ref) and R.max() > 1
        else:
            assert R.max() <= 1 and torch.all(R <= raw + 1e-7)
            assert torch.allclose(R, torch.sigmoid(n_norm)[:, None]
                                  * (torch.tanh(raw / torch.sigmoid(n_norm)[:, None]) if act == "tanh"
                                     else (raw / torch.sigmoid(n_norm)[:, None]).clamp(max=1)),
                                  atol=1e-6)
    with pytest.raises(ValueError, match="gate_activation"):
        ADCSIDModule({"collab": 3}, "collab", codebook_size=4, gate_activation="sigmoid")


def test_bounded_weights_and_raw_weights_attribute():
    X = catalogue(80)
    for act in ("tanh", "clamp"):
        t = tok(gate_activation=act, max_epochs=3).fit(X)
        b = t._behavior_positions()
        assert t.weights_.max() <= 1 and t.weights_.min() >= 0
        assert t.raw_weights_.shape == t.weights_.shape
        np.testing.assert_array_equal(t.raw_weights_[:, :2], t.weights_[:, :2])
        assert np.all(t.raw_weights_[:, b] >= t.weights_[:, b] - 1e-6)
        np.testing.assert_array_equal(t.raw_weights_[:, b] == 0, t.weights_[:, b] == 0)
    t = tok(gate_activation="relu", max_epochs=3).fit(X)
    np.testing.assert_allclose(t.raw_weights_, t.weights_)  # the paper's unbounded gate
    t = tok(disambiguate=True).fit(X)
    assert t.raw_weights_.shape == t.weights_.shape and np.all(t.raw_weights_[:, -1] == 1)
    with pytest.raises(ValueError, match="gate_activation"):
        tok(gate_activation="softplus").fit(X)


def _popularity_catalogue(n=240, seed=0):
    """Long-tailed counts; like SASRec on MovieLens, behavioural norms *fall* with
    popularity (well-trained head items have small, diverse embeddings)."""
    rng = np.random.RandomState(seed)
    counts = np.floor(np.exp(rng.randn(n) * 1.5 + 2)).astype(np.int64)
    norm = 2.0 - np.log1p(counts) / np.log1p(counts.max()) + 0.1 * rng.rand(n)
    e = rng.randn(n, 6)
    e = e / np.linalg.norm(e, axis=1, keepdims=True) * norm[:, None]
    return {"text": rng.randn(n, 10).astype(np.float32), "collab": e.astype(np.float32)}, counts


def test_reliability_from_counts_rises_with_popularity():
    from scipy.stats import spearmanr

    from sksid.metrics import popularity_strata

    X, counts = _popularity_catalogue()
    head, tail = popularity_strata(counts, 0.25)
    by_norm = tok(reliability="norm").fit(X, item_counts=counts)
    assert by_norm.reliability_ == "norm"
    assert spearmanr(by_norm.alignment_strength_, counts)[0] < 0  # the failed premise
    for rel in ("auto", "log_count"):
        t = tok(reliability=rel, codebook_size=8, max_epochs=8).fit(X, item_counts=counts)
        assert t.reliability_ == "log_count"
        np.testing.assert_array_equal(t.item_counts_, counts)
        expected = normalized_norm(np.log1p(counts), np.log1p(counts.min()), np.log1p(counts.max()))
        np.testing.assert_allclose(t.n_norm_, expected, rtol=1e-5, atol=1e-6)
        a = t.alignment_strength_
        assert spearmanr(a, counts)[0] > 0.99 and a[head].mean() > a[tail].mean()
        assert a[np.argmax(counts)] == pytest.approx(1.0)
        # all else equal, an item's behavioural weights rise with its count (Eq. 22's
        # sigma(N_norm) factor); the learned MLP(e_b) part is free (measured on
        # MovieLens in docs/tokenizers.md)
        b = t._behavior_positions()
        w_by_count = [t.transform(X, item_counts=np.full(len(counts), c))[1][:, b]
                      for c in (1, np.median(counts), counts.max())]
        active = w_by_count[0] > 0
        assert active.any()
        assert np.all(np.diff(np.stack(w_by_count)[:, active], axis=0) > 0)
        pt = t.quantization_report()["popularity"]  # counts from fit by default
        assert pt.loc["head", "n_items"] == head.sum()
    # auto without counts falls back to the norm; log_count without counts raises
    assert tok().fit(X).reliability_ == "norm"
    with pytest.raises(ValueError, match="needs interaction counts"):
        tok(reliability="log_count").fit(X)
    # transform: the training catalogue keeps its counts, new rows are cold (count 0)
    t = tok(codebook_size=8).fit(X, item_counts=counts)
    np.testing.assert_array_equal(t.transform(X)[1], t.weights_)
    new = {m: a[:10] for m, a in X.items()}
    w_cold = t.transform(new)[1]
    w_given = t.transform(new, item_counts=counts[:10])[1]
    np.testing.assert_allclose(w_given, t.weights_[:10], rtol=1e-5, atol=1e-6)
    b = t._behavior_positions()
    assert np.all(w_cold[:, b] <= w_given[:, b] + 1e-6)  # sigma(N_norm) is smallest at 0


def test_reliability_parameter_validation():
    X, counts = _popularity_catalogue(60)
    with pytest.raises(ValueError, match="reliability"):
        tok(reliability="popularity").fit(X)
    with pytest.raises(ValueError, match="item_counts"):
        tok().fit(X, item_counts=counts[:-1])
    with pytest.raises(ValueError, match="item_counts"):
        tok().fit(X, item_counts=-counts - 1)
    with pytest.raises(ValueError, match="item_counts"):
        tok().fit(X, item_counts=np.full(60, np.nan))
    with pytest.raises(ValueError, match="lambda_growth"):
        tok(lambda_growth=1.0).fit(X)
    assert tok(lambda_growth=1.2).fit(X).net_.module_.lambda_growth == 1.2
    with pytest.warns(UserWarning, match="same interaction count"):
        t = tok().fit(X, item_counts=np.full(60, 3))
    assert np.all(t.alignment_strength_ == 1)


def test_canonical_modality_order():
    X = catalogue()
    X3 = {**X, "category": X["text"][:, :4]}
    t1 = tok().fit({"collab": X3["collab"], "text": X3["text"], "category": X3["category"]})
    t2 = tok().fit({"text": X3["text"], "category": X3["category"], "collab": X3["collab"]})
    assert t1.code_layout_ == t2.code_layout_ == [
        "shared_0", "category_0", "text_0", "collab_0", "collab_1", "collab_2"]
    np.testing.assert_array_equal(t1.codes_, t2.codes_)
    np.testing.assert_allclose(t1.weights_, t2.weights_)


def test_kmeans_and_codebooks():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(30, 2) * 0.1 + c for c in (torch.tensor([5.0, 0]), torch.tensor([-5.0, 0]))])
    c, lab = kmeans(x, 2, generator=g)
    assert lab[:30].unique().numel() == 1 and lab[30:].unique().numel() == 1
    with pytest.raises(ValueError, match="at least k"):
        kmeans(x[:1], 2)
    with pytest.raises(ValueError, match="codebook_size"):
        CosineCodebook(1, 3)
    for cb in (CosineCodebook(8, 3), EuclideanCodebook(8, 3)):
        z = torch.randn(100, 3)
        cb.init_kmeans(z, generator=torch.Generator().manual_seed(0))
        cb.embed.data[:4] = 100.0  # kill half the codebook
        cb.refresh(z)
        assert cb.encode(z).unique().numel() == 8  # dead codes re-seeded
        z_used, zq, codes, loss = cb(z.requires_grad_(True))
        st_out = cb.straight_through(z_used, zq)
        st_out.sum().backward()
        assert z.grad is not None and torch.allclose(st_out, zq, atol=1e-6)


@pytest.mark.parametrize("spherical", [False, True])
def test_large_kmeans_uses_minibatch_and_matches_lloyd_quality(spherical, monkeypatch):
    """Above LARGE_KMEANS_POINTS, kmeans runs scikit-learn's MiniBatchKMeans: seeded by the
    generator, labels = nearest centroid (chunked), inertia close to full-batch Lloyd."""
    import sksid.nn.codebook as cbm

    rng = np.random.RandomState(0)
    centres = rng.randn(6, 5) * 4
    x = torch.as_tensor(np.vstack([c + rng.randn(400, 5) for c in centres]), dtype=torch.float32)
    lloyd_c, lloyd_lab = kmeans(x, 6, generator=torch.Generator().manual_seed(0), spherical=spherical)
    monkeypatch.setattr(cbm, "LARGE_KMEANS_POINTS", 1000)
    monkeypatch.setattr(cbm, "_ASSIGN_CHUNK", 333)
    called = []
    orig = cbm._minibatch_kmeans
    monkeypatch.setattr(cbm, "_minibatch_kmeans", lambda *a: called.append(1) or orig(*a))
    c1, lab1 = kmeans(x, 6, generator=torch.Generator().manual_seed(0), spherical=spherical)
    c2, lab2 = kmeans(x, 6, generator=torch.Generator().manual_seed(0), spherical=spherical)
    assert called == [1, 1]
    assert torch.equal(lab1, lab2) and torch.equal(c1, c2)  # seeded
    xx = torch.nn.functional.normalize(x, dim=1) if spherical else x
    near = (xx @ c1.T).argmax(1) if spherical else torch.cdist(xx, c1).argmin(1)
    assert torch.equal(lab1, near)

    def inertia(c, lab):
        return float(((xx - c[lab]) ** 2).sum())
    assert inertia(c1, lab1) <= 1.1 * inertia(lloyd_c, lloyd_lab)


@pytest.mark.slow
def test_utilisation_and_report():
    rng = np.random.RandomState(0)
    n = 200
    pop = np.exp(rng.randn(n) * 1.5)
    X = {"text": rng.randn(n, 8).astype(np.float32),
         "collab": (np.sqrt(pop)[:, None] * rng.randn(n, 6)).astype(np.float32)}
    t = tok(codebook_size=8, max_epochs=6).fit(X)
    rep = t.quantization_report(item_popularity=pop)
    assert np.all(rep["utilization"] >= 0.95)
    pt = rep["popularity"]
    assert set(pt.columns) == {"n_items", "mean_behavior_weight", "active_behavior_experts"}
    assert pt.loc["head", "mean_behavior_weight"] >= 0


def test_disambiguate_weights_and_pickle_cpu():
    import pickle
    X = catalogue()
    t = tok(codebook_size=2, n_behavior=0, disambiguate=True).fit({"text": X["text"]})
    assert len(np.unique(t.codes_, axis=0)) == 60
    assert np.all(t.weights_[:, -1] == 1)
    t2 = pickle.loads(pickle.dumps(t))
    np.testing.assert_array_equal(t2.transform({"text": X["text"]})[0], t.codes_)


def test_no_warnings_on_normal_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        tok().fit(catalogue())


def _skewed_fit(balance_weight, steps=200):
    """Train a linear encoder + cosine codebook on a skewed set; return hard-code entropy."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    centre = torch.randn(1, 6, generator=g)
    x = torch.cat([centre + 0.3 * torch.randn(240, 6, generator=g),  # 80% in one clump
                   torch.randn(60, 6, generator=g)])
    enc = torch.nn.Linear(6, 4)
    cb = CosineCodebook(8, 4, balance_weight=balance_weight)
    cb.init_kmeans(enc(x).detach(), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam([*enc.parameters(), *cb.parameters()], lr=1e-2)
    for _ in range(steps):
        _, _, _, loss = cb(enc(x))
        opt.zero_grad()
        loss.backward()
        opt.step()
    p = torch.bincount(cb.encode(enc(x)), minlength=8).float() / len(x)
    p = p[p > 0]
    return float(-(p * p.log2()).sum())


def test_balance_term_raises_marginal_entropy_and_zero_is_off():
    # the term itself: balanced + confident assignments score lower than collapsed ones
    cb = CosineCodebook(4, 4, balance_weight=1.0, balance_temperature=0.05)
    cw = torch.eye(4)
    assert float(cb.balance_loss(torch.eye(4), cw)) < float(cb.balance_loss(torch.eye(4)[[0, 0, 0, 0]], cw))
    # balance_weight = 0: exactly the codebook + commitment loss, no balancing term
    z = torch.randn(16, 4)
    cb0 = CosineCodebook(4, 4, balance_weight=0.0)
    zf, zq, _, loss = cb0(z)
    old = torch.nn.functional.mse_loss(zq, zf.detach()) + 0.25 * torch.nn.functional.mse_loss(zf, zq.detach())
    assert torch.equal(loss, old)
    cb1 = CosineCodebook(4, 4, balance_weight=0.5)
    cb1.load_state_dict(cb0.state_dict())
    assert not torch.equal(cb1(z)[3], loss)   # on in training mode
    assert torch.equal(cb1.eval()(z)[3], loss)  # never in eval mode
    with pytest.raises(ValueError, match="balance_weight"):
        CosineCodebook(4, 4, balance_weight=-1.0)
    # training on a skewed set: the regulariser spreads the codes
    assert _skewed_fit(1.0) > _skewed_fit(0.0) + 0.5  # about 1.8 -> 3.0 bits (max 3)
    # the estimator passes it through, and 0 builds unregularised codebooks
    t = tok(balance_weight=0.0).fit(catalogue())
    assert all(cb.balance_weight == 0 for cb in t.net_.module_.codebooks())
    with pytest.raises(ValueError, match="balance_weight"):
        tok(balance_weight=-0.1).fit(catalogue())


def test_collision_term():
    torch.manual_seed(0)
    m = ADCSIDModule({"text": 6, "collab": 4}, "collab", codebook_size=8, hidden_dim=16,
                     latent_dim=8, collision_weight=1.0, balance_temperature=0.03)
    x = {"text": torch.randn(32, 6), "collab": torch.randn(32, 4)}
    used = m.quantize(m.latents(x, m.project(x)[1]))[0]
    twins = [u[[0] * 32] for u in used]  # 32 copies of one item: every pair collides
    with torch.no_grad():
        distinct, same = float(m.collision_loss(used)), float(m.collision_loss(twins))
    assert 0 <= distinct < 0.5 < same <= 31 + 1e-4
    # the gradient pushes twins apart: one step lowers their soft collision
    z = [t.detach().clone() + 0.01 * torch.randn_like(t) for t in twins]
    for t in z:
        t.requires_grad_(True)
    m.collision_loss([torch.nn.functional.normalize(t, dim=-1) for t in z]).backward()
    with torch.no_grad():
        z2 = [torch.nn.functional.normalize(t - 1e-3 * t.grad, dim=-1) for t in z]
        assert float(m.collision_loss(z2)) < float(m.collision_loss(
            [torch.nn.functional.normalize(t, dim=-1) for t in z]))
    # collision_weight = 0: not computed; the estimator validates it and passes it on
    batch = dict(x__text=x["text"], x__collab=x["collab"], n_norm=torch.rand(32), w=torch.rand(32))
    m0 = ADCSIDModule({"text": 6, "collab": 4}, "collab", codebook_size=8, hidden_dim=16, latent_dim=8)
    m0.load_state_dict(m.state_dict())
    with torch.no_grad():
        assert float(m(**batch)["vq_loss"]) > float(m0(**batch)["vq_loss"])
        m.eval()
        m0.eval()
        assert torch.equal(m(**batch)["vq_loss"], m0(**batch)["vq_loss"])  # training only
    assert tok(collision_weight=0.0).fit(catalogue()).net_.module_.collision_weight == 0
    with pytest.raises(ValueError, match="collision_weight"):
        tok(collision_weight=-1.0).fit(catalogue())


def test_rebalance_splits_crowded_codewords():
    torch.manual_seed(0)
    cb = CosineCodebook(8, 4)
    d0 = torch.tensor([1.0, 0, 0, 0])
    z = torch.nn.functional.normalize(torch.cat([d0 + 0.2 * torch.randn(300, 4), torch.randn(100, 4)]), dim=1)
    with torch.no_grad():  # codeword 0 on the clump (crowded), the others random
        cb.embed.data[0] = d0
        cb.embed.data[1:] = torch.nn.functional.normalize(torch.randn(7, 4), dim=1) - d0
    before = torch.bincount(cb.encode(z), minlength=8)
    n = ADCSIDModule.rebalance_codebook(cb, z, 2.0)
    after = torch.bincount(cb.encode(z), minlength=8)
    assert n >= 1 and after.max() < before.max() and after.min() >= before.min()
    assert ADCSIDModule.rebalance_codebook(cb, z, 1e6) == 0  # nothing crowded: no change
    for bad in (0.5, 1.0, -1.0):
        with pytest.raises(ValueError, match="rebalance"):
            tok(rebalance=bad).fit(catalogue())
    assert tok(rebalance=0).fit(catalogue()).net_.module_.rebalance == 0


def test_dedup_targets_and_loss():
    torch.manual_seed(0)
    m = ADCSIDModule({"text": 6, "collab": 4}, "collab", codebook_size=4, hidden_dim=16,
                     latent_dim=8, collision_weight=1.0)
    x_t, x_c = torch.randn(20, 6), torch.randn(20, 4)
    x_t[7], x_c[7] = x_t[3], x_c[3]  # item 7 duplicates item 3: same tuple
    batch = dict(x__text=x_t, x__collab=x_c, n_norm=torch.rand(20), w=torch.rand(20),
                 idx=torch.arange(20))
    m.eval()
    m.refresh_codebooks(**batch)
    tgt = m._dedup_targets
    codes = m(**batch)["codes"]
    assert tgt.shape == (20, m.code_length)
    _, first = np.unique(codes.numpy(), axis=0, return_index=True)
    later = np.setdiff1d(np.arange(20), first)
    assert 7 in later and np.all(tgt[3].numpy() == -1)  # the first item keeps its tuple
    np.testing.assert_array_equal(tgt[later].numpy(), codes[later].numpy())
    assert np.all(tgt[first].numpy() == -1)
    x = {"text": x_t, "collab": x_c}
    used = m.quantize(m.latents(x, m.project(x)[1]))[0]
    dl = m.dedup_loss(used, batch["idx"])
    assert dl is not None and 0 < float(dl.detach()) <= len(later) / 20 + 1e-6
    assert m.dedup_loss([u[first] for u in used], torch.tensor(first)) is None  # no targets
    # the estimator drops this training-time state after fit
    t = tok(collision_weight=1.0).fit(catalogue())
    assert not hasattr(t.net_.module_, "_dedup_targets")
