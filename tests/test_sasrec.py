import numpy as np
import pytest
import torch
from sklearn.base import clone

from sksid.recommenders import MostPopular, SASRecRecommender
from sksid.testing import check_recommender


def tiny_sasrec(**kw):
    params = dict(d_model=16, n_layers=1, n_heads=2, d_ff=32, max_epochs=3, batch_size=64,
                  device="cpu", random_state=0, validation_fraction=0.2, patience=2)
    params.update(kw)
    return SASRecRecommender(**params)


def test_sasrec_contract(synthetic_sequences):
    X, y = synthetic_sequences
    check_recommender(tiny_sasrec(), X, y)


def test_mostpopular_contract(synthetic_sequences):
    X, y = synthetic_sequences
    check_recommender(MostPopular(top_k=5), X, y)


def test_mostpopular_counts_and_exclude_seen():
    X = [np.array([0, 1, 1]), np.array([2])]
    rec = MostPopular(top_k=2).fit(X, [1, 0])
    np.testing.assert_array_equal(rec.item_popularity_, [2, 3, 1])
    assert rec.predict([np.array([2])]).tolist() == [[1, 0]]
    rec = MostPopular(top_k=2, exclude_seen=True).fit(X, [1, 0])
    assert rec.predict([np.array([1])]).tolist() == [[0, 2]]


def test_sasrec_learns_a_pattern(synthetic_sequences):
    X, y = synthetic_sequences
    rec = tiny_sasrec(max_epochs=40, patience=40, lr=5e-3, validation_fraction=0.0).fit(X, y)
    pred = rec.predict(X)
    # item i is followed by i+1: the next item should be ranked first for most users
    assert np.mean(pred[:, 0] == y) > 0.8
    assert rec.n_epochs_ == 40


def test_sasrec_training_loss_decreases_and_early_stopping(ml_small):
    d = ml_small
    rec = tiny_sasrec(max_epochs=6, patience=2, verbose=0).fit(
        d["X_train"], d["y_train"], eval_set=(d["X_valid"], d["y_valid"]))
    losses = [h["train_loss"] for h in rec.history_]
    assert losses[-1] < losses[0]
    assert all("valid_ndcg" in h for h in rec.history_)


def test_sasrec_item_embeddings_and_scores(synthetic_sequences):
    X, y = synthetic_sequences
    rec = tiny_sasrec().fit(X, y)
    emb = rec.item_embeddings_
    assert emb.shape == (rec.n_items_, 16) and np.isfinite(emb).all()
    scores = rec.predict_scores(X[:4])
    assert scores.shape == (4, rec.n_items_)
    np.testing.assert_array_equal(np.argsort(-scores, axis=1, kind="stable")[:, :10], rec.predict(X[:4]))


def test_sasrec_exclude_seen(synthetic_sequences):
    X, y = synthetic_sequences
    rec = tiny_sasrec(exclude_seen=True, top_k=5).fit(X, y)
    pred = rec.predict(X[:20])
    for hist, row in zip(X[:20], pred):
        assert not np.isin(row, hist[-rec.max_len:]).any()


def test_sasrec_bad_inputs(synthetic_sequences):
    X, y = synthetic_sequences
    rec = tiny_sasrec(max_epochs=1).fit(X, y)
    # empty history: popularity fallback (documented)
    pred = rec.predict([np.array([], dtype=np.int64), X[0]])
    np.testing.assert_array_equal(pred[0], rec.popular_items_[:10])
    # longer than max_len: truncated to the most recent items (same as explicit truncation)
    long = np.concatenate([X[0]] * 10)
    np.testing.assert_array_equal(rec.predict([long]), rec.predict([long[-rec.max_len:]]))
    with pytest.raises(ValueError, match="unknown"):
        rec.predict([np.array([10_000])])
    with pytest.raises(ValueError, match="top_k"):
        tiny_sasrec(top_k=1000).fit(X, y)
    with pytest.raises(ValueError, match="entries"):
        tiny_sasrec().fit(X, y[:-1])
    with pytest.raises(ValueError, match="no training pairs"):
        tiny_sasrec(top_k=1).fit([np.array([1])] * 3, None)


def test_sasrec_module_params_and_clone(synthetic_sequences):
    X, y = synthetic_sequences
    rec = tiny_sasrec(module__dropout=0.0)
    assert rec.get_params()["module__dropout"] == 0.0
    rec.set_params(module__n_heads=4, lr=1e-2)
    c = clone(rec)
    assert c.module__n_heads == 4 and c.lr == 1e-2
    c.fit(X, y)
    assert c.net_.module_.backbone.blocks[0].n_heads == 4
    with pytest.raises(TypeError, match="unexpected keyword"):
        SASRecRecommender(bogus=1)


def test_sasrec_gridsearch(ml_small):
    from sklearn.model_selection import GridSearchCV
    from sksid.model_selection import leave_last_out

    d = ml_small
    seqs = [np.append(x, [yv, yt]) for x, yv, yt in zip(d["X_valid"], d["y_valid"], d["y_test"])]
    split = leave_last_out(seqs, max_len=20)
    X, y, cv = split.search_data()
    gs = GridSearchCV(tiny_sasrec(max_epochs=1), {"d_model": [8, 16]}, cv=cv, n_jobs=1)
    gs.fit(X, y)
    assert set(gs.cv_results_["param_d_model"]) == {8, 16}
    assert np.isfinite(gs.best_score_)


def test_gpu_model_loads_on_cpu(synthetic_sequences, monkeypatch):
    """A model pickled with device_='cuda' loads and predicts on a CPU-only machine."""
    import pickle

    X, y = synthetic_sequences
    rec = tiny_sasrec().fit(X, y)
    ref = rec.predict(X[:5])
    rec.device_ = "cuda"  # as if trained on a GPU
    data = pickle.dumps(rec)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = pickle.loads(data)
    assert loaded.device_ == "cpu"
    np.testing.assert_array_equal(loaded.predict(X[:5]), ref)


def test_verbose_log_has_no_ansi_codes_off_a_terminal(capsys, synthetic_sequences):
    """Issue 9: skorch's colour codes ended up in redirected logs."""
    X, y = synthetic_sequences
    tiny_sasrec(verbose=1, max_epochs=3).fit(X, y)
    out = capsys.readouterr()
    assert "train_loss" in out.out and "valid_ndcg" in out.out
    assert "\x1b[" not in out.out + out.err


def test_post_norm_layout_is_recboles_block():
    """``norm_first=False``: LayerNorm after each residual sum and over the item + position
    sum, nothing after the last block; ``init_std`` draws weights from N(0, std)."""
    from sksid.nn.sasrec import SASRecModule
    from sksid.nn.transformer import CausalTransformer

    torch.manual_seed(0)
    post = CausalTransformer(d_model=32, n_layers=2, n_heads=2, d_ff=64, dropout=0.0,
                             max_positions=8, norm_first=False, init_std=0.02).eval()
    h = post(torch.randn(4, 8, 32) * 5)
    # the last operation is a LayerNorm (weight 1, bias 0): every position is standardised
    np.testing.assert_allclose(h.mean(-1).detach(), 0.0, atol=1e-5)
    np.testing.assert_allclose(h.std(-1, unbiased=False).detach(), 1.0, atol=1e-3)
    ws = [m.weight for m in post.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Embedding))]
    assert abs(torch.cat([w.flatten() for w in ws]).std().item() - 0.02) < 0.002
    assert all((m.bias == 0).all() for m in post.modules() if isinstance(m, torch.nn.Linear))
    # BERT's feed-forward: no dropout between its two projections
    assert isinstance(post.blocks[0].ff[2], torch.nn.Identity)
    pre = CausalTransformer(d_model=32, n_layers=2, n_heads=2, d_ff=64, dropout=0.1, max_positions=8)
    assert isinstance(pre.blocks[0].ff[2], torch.nn.Dropout)
    assert abs(pre.pos.weight.std().item() - 1.0) < 0.2  # PyTorch's default N(0, 1) embedding
    # the module leaves the item embedding un-normalised for the post-norm backbone
    assert isinstance(SASRecModule(n_items=5, d_model=8, n_heads=2, norm_first=False).emb_ln, torch.nn.Identity)
    assert isinstance(SASRecModule(n_items=5, d_model=8, n_heads=2).emb_ln, torch.nn.LayerNorm)


def test_sasrec_recbole_layout_fits_clones_and_validates(synthetic_sequences):
    X, y = synthetic_sequences
    rec = tiny_sasrec(norm_first=False, init_std=0.02, dropout=0.5)
    check_recommender(rec, X, y)
    fitted = rec.fit(X, y)
    assert fitted.net_.module_.backbone.norm_first is False
    assert clone(fitted).get_params()["init_std"] == 0.02
    a, b = tiny_sasrec(norm_first=False).fit(X, y), tiny_sasrec().fit(X, y)
    assert not np.allclose(a.predict_scores(X[:3]), b.predict_scores(X[:3]))
    for bad in (dict(init_std=0.0), dict(init_std=-1.0), dict(norm_first="no")):
        with pytest.raises(ValueError, match="init_std|norm_first"):
            tiny_sasrec(**bad).fit(X, y)


def test_model_pickled_before_a_parameter_existed_loads_with_its_default(synthetic_sequences):
    """Pickles from an earlier sksid lack the parameters added since: loading fills them
    in at their defaults, so get_params / set_params / clone keep working."""
    import pickle

    X, y = synthetic_sequences
    rec = tiny_sasrec().fit(X, y)
    ref = rec.predict(X[:5])
    state = rec.__getstate__()
    del state["norm_first"], state["init_std"]  # as pickled before 2026-12-06
    old = SASRecRecommender.__new__(SASRecRecommender)
    old.__setstate__(state)
    loaded = pickle.loads(pickle.dumps(old))
    assert loaded.get_params()["norm_first"] is True and loaded.get_params()["init_std"] is None
    np.testing.assert_array_equal(loaded.set_params(top_k=10).predict(X[:5]), ref)


@pytest.mark.parametrize("loss, kw, floor", [("sampled_softmax", {"lr": 5e-3}, 0.6),
                                              ("gbce", {"lr": 1e-2, "gbce_t": 0.0}, 0.4)])
def test_sampled_losses_learn_a_pattern(synthetic_sequences, loss, kw, floor):
    X, y = synthetic_sequences
    rec = tiny_sasrec(loss=loss, n_negatives=8, max_epochs=40, patience=40,
                      validation_fraction=0.0, **kw).fit(X, y)
    pred = rec.predict(X)
    assert np.mean(pred[:, 0] == y) > floor  # chance: 1/30
    check_recommender(tiny_sasrec(loss=loss, n_negatives=8), X, y)


def _loss_module(loss, n_items=6, **kw):
    from sksid.nn.sasrec import SASRecModule

    torch.manual_seed(0)
    return SASRecModule(n_items=n_items, d_model=8, n_layers=1, n_heads=1, d_ff=8, max_len=3, dropout=0.0,
                        loss=loss, **kw)


def test_sampled_softmax_with_every_other_item_equals_full_softmax():
    """With negatives covering the catalogue, sampled softmax is the full softmax: every item
    but the target is a negative, repeats of an item add log-count offsets only to a negative."""
    m = _loss_module("sampled_softmax", n_negatives=5)
    items, targets = torch.tensor([[0, 1, 2]]), torch.tensor([[1, 2, 3]])
    out = m(items=items)
    h = out["hidden"][0]
    table = m.item_table()
    # draw the negatives by hand: each item once (the target is an accidental hit, masked)
    gen = torch.randint
    try:
        torch.randint = lambda low, high, size, device=None: torch.arange(high - 1).expand(*size)[..., :size[-1]]
        sampled = m.loss(out, targets=targets)
    finally:
        torch.randint = gen
    logits = h @ table.t()
    keep = torch.ones(6, dtype=torch.bool)
    keep[5] = False  # item 5 was never drawn
    expected = torch.nn.functional.cross_entropy(logits[:, keep], targets[0])
    assert torch.allclose(sampled, expected, atol=1e-6)


def test_gbce_at_t0_is_binary_cross_entropy_and_masks_accidental_hits():
    m = _loss_module("gbce", n_negatives=5, gbce_t=0.0)
    items, targets = torch.tensor([[0, 1, -1]]), torch.tensor([[1, 2, -1]])
    out = m(items=items)
    gen = torch.randint
    try:
        torch.randint = lambda low, high, size, device=None: torch.tensor([[0, 1, 3, 4, 5]])
        got = m.loss(out, targets=targets)
    finally:
        torch.randint = gen
    h, table = out["hidden"][0, :2], m.item_table()
    negs = torch.tensor([0, 1, 3, 4, 5])
    per = []
    for t in range(2):
        pos = targets[0, t]
        keep = negs[negs != pos]  # the target drawn as a negative is not a negative
        s_pos, s_neg = h[t] @ table[pos], h[t] @ table[keep].t()
        bce = -torch.nn.functional.logsigmoid(s_pos) + torch.nn.functional.softplus(s_neg).sum()
        per.append(bce / (1 + len(keep)))
    assert torch.allclose(got, torch.stack(per).mean(), atol=1e-6)


def test_sampled_loss_needs_fewer_negatives_than_items(synthetic_sequences):
    X, y = synthetic_sequences
    with pytest.raises(ValueError, match="n_negatives"):
        tiny_sasrec(loss="sampled_softmax", n_negatives=10_000).fit(X, y)
    with pytest.raises(ValueError, match="loss"):
        tiny_sasrec(loss="bpr").fit(X, y)
