"""LETTER: its three regularisers and the collision handling at the last level."""
import numpy as np
import pytest
import torch

from sksid import LETTERTokenizer
from sksid.nn.diversity import cluster_sizes, code_diversity_loss, constrained_kmeans, sinkhorn_assign
from sksid.nn.letter import LETTERModule


def _feats(n=120, seed=0):
    rng = np.random.RandomState(seed)
    return {"text": rng.randn(n, 10).astype(np.float32), "collab": rng.randn(n, 4).astype(np.float32)}


def _tok(**kw):
    base = dict(codebook_size=4, n_levels=2, hidden_dim=16, latent_dim=4, max_epochs=2, batch_size=32,
                device="cpu", random_state=0)
    return LETTERTokenizer(**{**base, **kw})


def test_constrained_kmeans_respects_the_size_bounds():
    x = torch.randn(64, 5, generator=torch.Generator().manual_seed(0))
    x[:40] += 10.0  # one dense blob: unconstrained k-means would give it most clusters' rows
    _, lab = constrained_kmeans(x, 4, size_min=8, size_max=20, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(lab, minlength=4)
    assert counts.min() >= 8 and counts.max() <= 20 and counts.sum() == 64
    with pytest.raises(ValueError, match="cannot form"):
        constrained_kmeans(x, 4, size_min=20, size_max=30)
    assert cluster_sizes(256, 10) == (10, 10, 60)  # the released code's bounds for K = 256


def test_diversity_loss_moves_only_the_codebook_and_targets_the_group():
    cw = torch.randn(6, 3, requires_grad=True)
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    codes = torch.tensor([0, 4])
    loss = code_diversity_loss(cw[codes], cw, codes, labels)
    loss.backward()
    assert torch.isfinite(loss) and cw.grad.abs().sum() > 0
    # a group with a single codeword leaves its items out; nothing left: 0
    single = code_diversity_loss(cw[codes], cw, codes, torch.tensor([0, 1, 2, 3, 4, 5]))
    assert float(single) == 0.0


def test_sinkhorn_separates_a_colliding_group():
    d = torch.tensor([[0.0, 1.0, 3.0], [0.0, 2.0, 3.0], [0.0, 3.0, 1.5]])
    assert d.argmin(1).tolist() == [0, 0, 0]
    assert sorted(sinkhorn_assign(d).tolist()) == [0, 1, 2]


def test_module_projection_and_cluster_labels():
    same = LETTERModule(6, 4, codebook_size=4, n_levels=2, hidden_dim=8, latent_dim=4)
    assert isinstance(same.cf_proj, torch.nn.Identity)  # the released code: no projection
    m = LETTERModule(6, 3, codebook_size=8, n_levels=2, hidden_dim=8, latent_dim=4)
    assert isinstance(m.cf_proj, torch.nn.Linear)
    x = torch.randn(40, 6, generator=torch.Generator().manual_seed(0))
    m.init_codebooks(generator=torch.Generator().manual_seed(0), x=x)
    assert "cluster_labels" in m.state_dict()  # saved with the weights (checkpoints, sksid.save)
    assert m.cluster_labels.shape == (2, 8) and (torch.bincount(m.cluster_labels[0]) >= 1).all()
    out = m(x=x)
    m.loss(out, x=x, cf=torch.randn(40, 3)).backward()
    assert m.cf_proj.weight.grad.abs().sum() > 0  # the collaborative regulariser trains the projection


def test_missing_collab_raises_clearly():
    X = _feats()
    with pytest.raises(ValueError, match="needs the collaborative embedding as the modality 'collab'"):
        _tok().fit({"text": X["text"]})
    tok = _tok(behavior_modality="cf").fit({"text": X["text"], "cf": X["collab"]})
    assert tok.content_modalities_ == ["text"]


def test_collision_handling_changes_only_the_last_code_and_lowers_collisions():
    X = _feats()
    plain = _tok(resolve_collisions=False).fit(X)
    tok = _tok().fit(X)
    np.testing.assert_array_equal(plain.codes_[:, :-1], tok.codes_[:, :-1])
    assert tok.collision_rate_ < plain.collision_rate_
    codes, _ = tok.transform(X)
    np.testing.assert_array_equal(codes, tok.codes_)
    # a subset: the collisions within it are separated, nothing else changes
    sub, _ = tok.transform({m: a[:30] for m, a in X.items()})
    raw, _ = plain.transform({m: a[:30] for m, a in X.items()})
    np.testing.assert_array_equal(sub[:, :-1], raw[:, :-1])
    assert len(np.unique(sub, axis=0)) >= len(np.unique(raw, axis=0))


def test_regularisers_change_the_codes_and_switch_off():
    X = _feats()
    base = _tok(resolve_collisions=False, max_epochs=3)
    ref = base.fit(X).codes_
    none = _tok(resolve_collisions=False, max_epochs=3, alignment_weight=0.0, diversity_weight=0.0).fit(X)
    assert not np.array_equal(ref, none.codes_)
    hist = base.history_
    assert len(hist) == 3 and np.isfinite([row["train_loss"] for row in hist]).all()
