"""Checkpoint and resume: a fit interrupted after some epochs and resumed from its skorch
checkpoint (``checkpoint_dir`` + ``fit(..., resume=True)``) gives exactly the model of an
uninterrupted fit (weights, predictions, history, early stopping)."""
import os

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sksid import IntRRRecommender, SASRecRecommender
from sksid.training import ResumableCheckpoint, SIDNet
from sksid.base import clone_module_state

CODES = np.stack([np.arange(30) % 4, np.arange(30) // 4 % 4, np.arange(30) // 16], 1)


def _sasrec(**kw):
    # dropout > 0: the resumed epochs must draw the same dropout masks (restored RNG state)
    return SASRecRecommender(**{**dict(d_model=16, n_layers=1, n_heads=2, d_ff=32, dropout=0.3,
                                       max_epochs=6, patience=2, batch_size=64, device="cpu",
                                       random_state=0), **kw})


def _intrr(**kw):
    return IntRRRecommender(**{**dict(d_model=16, n_layers=1, n_heads=2, head_dim=8, d_ff=32,
                                      dropout=0.3, max_epochs=5, patience=2, batch_size=64,
                                      device="cpu", random_state=0), **kw})


def _fit(est, X, y, **kw):
    if isinstance(est, IntRRRecommender):
        kw["codes"] = CODES
    return est.fit(X, y, **kw)


def _crash_at_epoch(monkeypatch, n_done):
    """Make training die (as a killed job would) at the start of epoch ``n_done + 1``."""
    original = SIDNet.on_epoch_begin

    def on_epoch_begin(self, net, *args, **kwargs):
        if len(net.history) == n_done:
            raise RuntimeError("simulated crash")
        return original(self, net, *args, **kwargs)
    monkeypatch.setattr(SIDNet, "on_epoch_begin", on_epoch_begin)


def _assert_same_model(a, b, X):
    sa, sb = clone_module_state(a.net_.module_), clone_module_state(b.net_.module_)
    assert sa.keys() == sb.keys()
    for k in sa:
        assert np.array_equal(sa[k].numpy(), sb[k].numpy()), k
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    strip = [{k: v for k, v in row.items() if k != "dur"} for row in a.history_]
    assert strip == [{k: v for k, v in row.items() if k != "dur"} for row in b.history_]
    assert a.n_epochs_ == b.n_epochs_


@pytest.mark.parametrize("make", [_sasrec, _intrr], ids=["SASRec", "IntRR"])
def test_crashed_fit_resumes_to_the_uninterrupted_model(make, synthetic_sequences, tmp_path, monkeypatch):
    X, y = synthetic_sequences
    ref = _fit(make(), X, y)
    ckpt = tmp_path / "ckpt"
    est = make(checkpoint_dir=str(ckpt))
    with monkeypatch.context() as m:
        _crash_at_epoch(m, 2)
        with pytest.raises(RuntimeError, match="simulated crash"):
            _fit(est, X, y)
    assert (ckpt / "latest").read_text() == "epoch-00002"
    assert sorted(os.listdir(ckpt)) == ["epoch-00002", "latest"]  # older checkpoints removed
    resumed = _fit(clone(est), X, y, resume=True)
    assert ref.n_epochs_ > 2
    _assert_same_model(resumed, ref, X)


@pytest.fixture
def noisy_eval_set(synthetic_sequences):
    """Validation targets unrelated to the pattern: NDCG peaks early, early stopping ends
    the fit (patience 2: epochs 1-4, the best is epoch 2, whose weights are restored)."""
    X, _ = synthetic_sequences
    return X[:60], np.random.RandomState(1).randint(0, 30, 60)


def test_time_budget_stop_then_resume(synthetic_sequences, noisy_eval_set, tmp_path):
    """A fit stopped by max_time continues with max_time lifted."""
    X, y = synthetic_sequences
    ref = _sasrec(max_epochs=12).fit(X, y, eval_set=noisy_eval_set)
    assert ref.n_epochs_ < 12  # early stopping ended the reference fit
    est = _sasrec(max_epochs=12, max_time=1e-9, checkpoint_dir=tmp_path)
    est.fit(X, y, eval_set=noisy_eval_set)
    assert est.n_epochs_ == 1
    est.set_params(max_time=None).fit(X, y, eval_set=noisy_eval_set, resume=True)
    _assert_same_model(est, ref, X)
    # a finished fit resumed again has nothing left to train and gives the same model
    again = clone(est).fit(X, y, eval_set=noisy_eval_set, resume=True)
    _assert_same_model(again, ref, X)


def test_early_stopping_state_survives_a_crash(synthetic_sequences, noisy_eval_set, tmp_path, monkeypatch):
    """Crash after epoch 3 (one miss since the best epoch 2): the resumed fit stops after
    epoch 4 and restores epoch 2's weights, as the uninterrupted fit does."""
    import torch

    X, y = synthetic_sequences
    ref = _sasrec(max_epochs=12).fit(X, y, eval_set=noisy_eval_set)
    est = _sasrec(max_epochs=12, checkpoint_dir=tmp_path)
    with monkeypatch.context() as m:
        _crash_at_epoch(m, 3)
        with pytest.raises(RuntimeError):
            est.fit(X, y, eval_set=noisy_eval_set)
    state = torch.load(tmp_path / "epoch-00003" / "training_state.pt", weights_only=True)
    stopping = state["callbacks"]["early_stopping"]
    assert stopping["misses_"] == 1 and stopping["best_epoch_"] == 2
    assert stopping["best_model_weights_"] is not None
    est.fit(X, y, eval_set=noisy_eval_set, resume=True)
    assert est.n_epochs_ == ref.n_epochs_ == 4
    _assert_same_model(est, ref, X)


def test_resume_with_random_state_none_uses_the_stored_seed(synthetic_sequences, tmp_path, monkeypatch):
    X, y = synthetic_sequences
    est = _sasrec(random_state=None, max_epochs=3, checkpoint_dir=tmp_path)
    with monkeypatch.context() as m:
        _crash_at_epoch(m, 1)
        with pytest.raises(RuntimeError):
            est.fit(X, y)
    seed = ResumableCheckpoint.read_seed(tmp_path)
    resumed = est.fit(X, y, resume=True)
    _assert_same_model(resumed, _sasrec(random_state=seed, max_epochs=3).fit(X, y), X)


def test_resume_errors(synthetic_sequences, tmp_path):
    X, y = synthetic_sequences
    with pytest.raises(ValueError, match=r"resume=True\) needs checkpoint_dir"):
        _sasrec().fit(X, y, resume=True)
    with pytest.raises(ValueError, match=r"no checkpoint to resume from"):
        _sasrec(checkpoint_dir=tmp_path / "empty").fit(X, y, resume=True)
    _sasrec(max_epochs=1, checkpoint_dir=tmp_path).fit(X, y)
    with pytest.raises(ValueError, match=r"written by a fit on other data or with other parameters"):
        _sasrec(max_epochs=1, checkpoint_dir=tmp_path).fit(X[:-1], y[:-1], resume=True)
    with pytest.raises(ValueError, match=r"written by a fit on other data or with other parameters"):
        _sasrec(max_epochs=1, lr=0.01, checkpoint_dir=tmp_path).fit(X, y, resume=True)


def test_parameters_added_later_stay_out_of_the_fingerprint_at_their_default(synthetic_sequences, tmp_path,
                                                                           monkeypatch):
    """A parameter listed in ``_fingerprint_new_params`` (added after checkpoints were written) stays
    out of the fingerprint at its default, so the earlier fit resumes; any other value is another fit."""
    X, y = synthetic_sequences
    est = _intrr(max_epochs=2)
    train, valid = {"items": np.zeros((2, 3), int)}, (np.arange(3),)
    module_kw = {"n_items": 30}
    params = est.get_params(deep=False)
    monkeypatch.setattr(type(est), "get_params", lambda self, deep=True: {
        k: v for k, v in params.items() if k != "ema_decay"})
    before = est._fingerprint(train, valid, module_kw, 0)  # as an sksid without ema_decay computed it
    monkeypatch.undo()
    assert est._fingerprint(train, valid, module_kw, 0) != before  # not listed: part of the fit
    monkeypatch.setattr(type(est), "_fingerprint_new_params", {"ema_decay": None})
    assert est._fingerprint(train, valid, module_kw, 0) == before
    assert clone(est).set_params(ema_decay=0.9)._fingerprint(train, valid, module_kw, 0) != before
    # and end to end: a post-norm fit does not resume a pre-norm checkpoint
    _fit(_intrr(max_epochs=1, checkpoint_dir=tmp_path), X, y)
    with pytest.raises(ValueError, match=r"written by a fit on other data or with other parameters"):
        _fit(_intrr(max_epochs=2, norm_first=False, checkpoint_dir=tmp_path), X, y, resume=True)
    assert len(_fit(_intrr(max_epochs=2, checkpoint_dir=tmp_path), X, y, resume=True).net_.history) == 2


def test_checkpoint_of_an_earlier_format_is_refused_with_a_message(synthetic_sequences, tmp_path):
    X, y = synthetic_sequences
    _fit(_intrr(max_epochs=1, checkpoint_dir=tmp_path), X, y)
    sub = (tmp_path / "latest").read_text()
    state = torch.load(tmp_path / sub / "training_state.pt", weights_only=True)
    del state["format"]  # as the first checkpoint format wrote it
    torch.save(state, tmp_path / sub / "training_state.pt")
    with pytest.raises(ValueError, match=r"earlier sksid .*fit again without resume=True"):
        _fit(_intrr(max_epochs=2, checkpoint_dir=tmp_path), X, y, resume=True)


def _expected_lrs(scores, lr, factor=0.3, patience=3, min_lr=1e-5):
    """ReduceLROnPlateau (mode max) by hand: the rate after each epoch's validation."""
    best, bad, out = -np.inf, 0, []
    for s in scores:
        if s > best:
            best, bad = s, 0
        else:
            bad += 1
            if bad >= patience:
                lr, bad = max(lr * factor, min_lr), 0
        out.append(lr)
    return out


def test_plateau_lr_schedule_follows_validation(synthetic_sequences, noisy_eval_set):
    X, y = synthetic_sequences
    est = _sasrec(max_epochs=10, patience=10, lr=1e-2, lr_schedule="plateau").fit(X, y, eval_set=noisy_eval_set)
    scores = [row["valid_ndcg"] for row in est.history_]
    lrs = [row["lr"] for row in est.history_]
    np.testing.assert_allclose(lrs, _expected_lrs(scores, 1e-2))
    assert lrs[-1] < 1e-2  # the noisy validation plateaus, so the rate was cut
    const = _sasrec(max_epochs=3, lr=1e-2).fit(X, y, eval_set=noisy_eval_set)
    assert "lr" not in const.history_[0]


def test_plateau_lr_schedule_resumes_exactly(synthetic_sequences, noisy_eval_set, tmp_path, monkeypatch):
    X, y = synthetic_sequences
    kw = dict(max_epochs=10, patience=10, lr=1e-2, lr_schedule="plateau")
    ref = _sasrec(**kw).fit(X, y, eval_set=noisy_eval_set)
    est = _sasrec(checkpoint_dir=tmp_path, **kw)
    with monkeypatch.context() as m:  # after epoch 9: two epochs since the best (7), cut due after 10
        _crash_at_epoch(m, 9)
        with pytest.raises(RuntimeError):
            est.fit(X, y, eval_set=noisy_eval_set)
    est.fit(X, y, eval_set=noisy_eval_set, resume=True)
    _assert_same_model(est, ref, X)


def test_training_loss_goes_through_skorchs_get_loss(synthetic_sequences, monkeypatch):
    """The objective is skorch's get_loss hook (a subclass may override it, as with any skorch net)."""
    X, y = synthetic_sequences
    calls = []
    original = SIDNet.get_loss

    def get_loss(self, y_pred, y_true, X=None, training=False):
        calls.append(training)
        return original(self, y_pred, y_true, X=X, training=training)
    monkeypatch.setattr(SIDNet, "get_loss", get_loss)
    _sasrec(max_epochs=1).fit(X, y)
    _fit(_intrr(max_epochs=1), X, y)
    assert calls and all(calls)  # every training step, training=True


# ---- weight averaging (ema_decay) ------------------------------------------------------------
def _weight_recorder(log):
    """A skorch callback that appends to ``log`` (a dict) the module's parameters at the start
    of training (``"start"``) and after every training batch (``"steps"``); it runs after
    WeightAverage, so it sees the raw, just-stepped weights. It writes to ``log`` through a
    closure because the estimator deep-copies its callbacks and drops them after the fit."""
    from skorch.callbacks import Callback

    class Recorder(Callback):
        def on_train_begin(self, net, **kwargs):
            log["start"] = [p.detach().clone() for p in net.module_.parameters()]
            log["steps"] = []

        def on_batch_end(self, net, batch=None, training=False, **kwargs):
            if training:
                log["steps"].append([p.detach().clone() for p in net.module_.parameters()])
    return ("record", Recorder())


def test_ema_weights_are_the_moving_average_of_the_training_weights(synthetic_sequences):
    """With ``ema_decay`` the fitted weights are the warmed-up exponential moving average of
    the weights after every optimiser step (by hand), and differ from the raw last step."""
    import torch

    X, y = synthetic_sequences
    decay = 0.9
    log = {}
    est = _sasrec(max_epochs=3, ema_decay=decay, validation_fraction=0.0,
                  callbacks=[_weight_recorder(log)]).fit(X, y)
    avg = [p.clone() for p in log["start"]]
    for t, step in enumerate(log["steps"], start=1):
        d = min(decay, (1 + t) / (10 + t))
        avg = [a + (1 - d) * (p - a) for a, p in zip(avg, step)]
    fitted = [p.detach() for p in est.net_.module_.parameters()]
    for a, p in zip(avg, fitted):
        torch.testing.assert_close(p, a, rtol=1e-5, atol=1e-6)
    assert any(not torch.equal(p, last) for p, last in zip(fitted, log["steps"][-1]))
    assert len(log["steps"]) > 3  # several steps per epoch: the average spans epochs


def test_ema_validates_on_the_average_and_optimises_the_raw_weights(synthetic_sequences, noisy_eval_set):
    """Early stopping restores the best epoch's averaged weights; training between epochs
    continues from the raw weights (so an EMA fit's steps equal a plain fit's steps)."""
    import torch

    X, y = synthetic_sequences
    kw = dict(max_epochs=4, patience=10)
    a, b = {}, {}
    plain = _sasrec(callbacks=[_weight_recorder(a)], **kw).fit(X, y, eval_set=noisy_eval_set)
    ema = _sasrec(ema_decay=0.5, callbacks=[_weight_recorder(b)], **kw).fit(X, y, eval_set=noisy_eval_set)
    assert len(a["steps"]) == len(b["steps"])
    for pa, pb in zip(a["steps"][-1], b["steps"][-1]):
        torch.testing.assert_close(pa, pb)  # same optimisation path
    assert [r["valid_ndcg"] for r in plain.history_] != [r["valid_ndcg"] for r in ema.history_]


def test_ema_fit_resumes_exactly(synthetic_sequences, noisy_eval_set, tmp_path, monkeypatch):
    X, y = synthetic_sequences
    for make in (_sasrec, _intrr):
        kw = dict(max_epochs=5, patience=10, ema_decay=0.8)
        fit = (lambda e, **k: _fit(e, X, y, eval_set=noisy_eval_set, **k)) if make is _sasrec else \
            (lambda e, **k: _fit(e, X, y, **k))
        ref = fit(make(**kw))
        ckpt = tmp_path / make.__name__
        est = make(checkpoint_dir=str(ckpt), **kw)
        with monkeypatch.context() as m:
            _crash_at_epoch(m, 3)
            with pytest.raises(RuntimeError, match="simulated crash"):
                fit(est)
        _assert_same_model(fit(clone(est), resume=True), ref, X)


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5, True, "0.9"])
def test_ema_decay_is_validated(bad, synthetic_sequences):
    X, y = synthetic_sequences
    with pytest.raises(ValueError, match="ema_decay"):
        _sasrec(ema_decay=bad).fit(X, y)
