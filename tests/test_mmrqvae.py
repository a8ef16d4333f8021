"""MM-RQ-VAE: one RQ-VAE per modality, codes concatenated, behaviour-content alignment."""
import numpy as np
import pytest
import torch

from sksid import MMRQVAETokenizer
from sksid.nn.mmrqvae import MMRQVAEModule, gaussian_mmd


def _feats(n=80, seed=0):
    rng = np.random.RandomState(seed)
    return {"text": rng.randn(n, 10).astype(np.float32), "category": (rng.rand(n, 5) > 0.6).astype(np.float32),
            "collab": rng.randn(n, 4).astype(np.float32)}


def _tok(**kw):
    base = dict(codebook_size=4, n_levels=2, hidden_dim=16, latent_dim=4, max_epochs=2, batch_size=32,
                device="cpu", random_state=0)
    return MMRQVAETokenizer(**{**base, **kw})


def test_layout_is_content_sorted_then_behaviour_and_towers_are_separate():
    tok = _tok().fit(_feats())
    assert tok.code_layout_ == ["category_0", "category_1", "text_0", "text_1", "collab_0", "collab_1"]
    assert tok.codes_.shape == (80, 6) and np.all(tok.weights_ == 1)
    # a modality's codes depend on that modality only when the alignment is off
    X = _feats()
    a = _tok(alignment_weight=0.0).fit(X).codes_
    X2 = dict(X, collab=np.random.RandomState(5).randn(80, 4).astype(np.float32))
    b = _tok(alignment_weight=0.0).fit(X2).codes_
    np.testing.assert_array_equal(a[:, :4], b[:, :4])


@pytest.mark.parametrize("alignment", ["infonce", "mmd"])
def test_alignment_terms_train_the_content_towers(alignment):
    m = MMRQVAEModule({"text": 6, "collab": 3}, codebook_size=4, n_levels=2, hidden_dim=8, latent_dim=4,
                      alignment=alignment, alignment_weight=1.0)
    batch = {"x__text": torch.randn(16, 6), "x__collab": torch.randn(16, 3)}
    out = m(**batch)
    m.alignment_loss(out).backward()
    assert m.towers["text"].encoder[0].weight.grad.abs().sum() > 0
    alone = MMRQVAEModule({"text": 6}, codebook_size=4, n_levels=2, hidden_dim=8, latent_dim=4)
    assert float(alone.alignment_loss(alone(x__text=batch["x__text"]))) == 0.0  # no behaviour: no term


def test_mmd_and_reported_reconstruction():
    x = torch.randn(32, 3, generator=torch.Generator().manual_seed(0))
    assert float(gaussian_mmd(x, x)) == pytest.approx(0.0, abs=1e-6)
    assert float(gaussian_mmd(x, x + 2.0)) > float(gaussian_mmd(x, x + 0.1))
    X = _feats()
    mse = _tok(reconstruction="mse").fit(X)
    mmd = _tok().fit(X)
    assert np.isfinite(mse.recon_loss_) and np.isfinite(mmd.recon_loss_)  # both report the squared error
    assert not np.array_equal(mse.codes_, mmd.codes_)
