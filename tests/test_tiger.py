"""TIGERRecommender (flattened baseline). The shared SID contract is tested in test_intrr.py."""
import numpy as np
import torch

from sksid.nn.beam import disambiguate
from sksid.nn.tiger import TIGERModule
from sksid.recommenders.tiger import TIGERRecommender

TINY = dict(d_model=16, n_layers=1, n_heads=2, head_dim=8, d_ff=32, max_len=10, max_epochs=2,
            batch_size=128, device="cpu", random_state=0)
N_ITEMS = 1682


def _codes(L=3, K=8, seed=0):
    return np.random.RandomState(seed).randint(0, K, size=(N_ITEMS, L))


def test_prefill_matches_backbone_and_cache_matches_recompute():
    codes, _, sizes, _ = disambiguate(_codes(2, 5))
    torch.manual_seed(0)
    m = TIGERModule(N_ITEMS, codes, sizes, d_model=16, n_layers=2, n_heads=2, head_dim=8, d_ff=32,
                    max_len=6).eval()
    items = torch.tensor([[1, 2, 3, -1, -1, -1], [4, 5, 6, 7, 8, 9], [10, -1, -1, -1, -1, -1]])
    lengths = torch.tensor([3, 6, 1])
    with torch.no_grad():
        h, cache = m.prefill(items)
        torch.testing.assert_close(h, m.backbone(m.embed_history(items)))
        assert h.shape[1] == items.shape[1] * codes.shape[1]  # L tokens per item
        # KV-cached beam scores == full recomputation of every (user, item) sequence
        ids, scores = m.rank(items, lengths, 10, 40)
        bf = m.level_logprobs(items, lengths)
    torch.testing.assert_close(scores, bf.gather(1, ids), atol=1e-4, rtol=1e-4)


def test_training_loss_decreases_on_movielens(ml_small):
    rec = TIGERRecommender(**dict(TINY, max_epochs=3, validation_fraction=0, lr=3e-3))
    rec.fit(ml_small["X_train"][:120], ml_small["y_train"][:120], codes=_codes())
    losses = [h["train_loss"] for h in rec.history_]
    assert losses[-1] < losses[0]


def test_l_tokens_per_item(ml_small):
    codes = _codes()
    rec = TIGERRecommender(**dict(TINY, max_epochs=1)).fit(ml_small["X_train"][:40],
                                                           ml_small["y_train"][:40], codes=codes)
    m = rec.net_.module_
    L = rec.codes_.shape[1]
    assert rec.tokens_per_item_ == L
    shapes = []
    hook = m.backbone.register_forward_hook(lambda mod, inp, out: shapes.append(inp[0].shape[1]))
    try:
        m(items=torch.tensor([[1, 2, 3] + [-1] * 7]), targets=torch.tensor([[2, 3, 4] + [-1] * 7]))
    finally:
        hook.remove()
    assert shapes == [(rec.max_len + 1) * L]  # window items + the last target, L tokens each
    with torch.no_grad():
        assert m.embed_history(torch.arange(rec.max_len).view(1, -1)).shape[1] == rec.max_len * L


def test_code_weights_used(ml_small):
    codes = _codes()
    w = np.random.RandomState(1).rand(*codes.shape).astype(np.float32)
    rec = TIGERRecommender(**TINY).fit(ml_small["X_train"][:40], ml_small["y_train"][:40],
                                       codes=codes, weights=w)
    assert rec.net_.module_.use_code_weights
    assert rec.predict(ml_small["X_test"][:3]).shape == (3, 10)
