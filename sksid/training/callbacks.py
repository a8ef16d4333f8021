"""The skorch callbacks of the training flow (:mod:`sksid.training.flow`): a validation
score recorded every epoch, a wall-clock budget, a plateau learning-rate schedule and
weight averaging."""
from __future__ import annotations

import time

import torch
from skorch.callbacks import Callback, LRScheduler
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torch.optim.swa_utils import AveragedModel

from ..distributed import any_process, from_rank0

__all__ = ["RankingValidation", "TimeBudget", "PlateauLR", "WeightAverage"]


class RankingValidation(Callback):
    """Record ``score_fn(net)`` as ``name`` in the history at the end of each epoch.

    Parameters
    ----------
    score_fn : callable
        ``score_fn(net) -> float``, e.g. NDCG@10 on held-out next items.
    name : str
        History key (monitor it with :class:`~skorch.callbacks.EarlyStopping`).
    """

    def __init__(self, score_fn, name="valid_ndcg"):
        self.score_fn = score_fn
        self.name = name

    def on_epoch_end(self, net, **kwargs):
        # process 0's score in every process: data-parallel fits take one decision
        net.history.record(self.name, from_rank0(float(self.score_fn(net))))


class TimeBudget(Callback):
    """Stop training once ``seconds`` of wall-clock have passed since ``on_train_begin``.

    The epoch in progress finishes (its validation score is recorded), then skorch's
    ``KeyboardInterrupt`` path ends the fit, as :class:`~skorch.callbacks.EarlyStopping`
    does, so the best-epoch restore of early stopping still applies.
    """

    def __init__(self, seconds):
        self.seconds = seconds

    def on_train_begin(self, net, **kwargs):
        self.start_ = time.perf_counter()

    def on_epoch_end(self, net, **kwargs):
        over = time.perf_counter() - self.start_ >= self.seconds
        if any_process(over):  # data-parallel fits stop together (one process's clock decides)
            net.history.record("time_budget_reached", True)
            raise KeyboardInterrupt


class PlateauLR(LRScheduler):
    """skorch's :class:`~skorch.callbacks.LRScheduler` with torch's
    :class:`~torch.optim.lr_scheduler.ReduceLROnPlateau` on a history key, recording the
    learning rate of every epoch (after the step) as ``lr``.

    :meth:`plateau` builds the flow's schedule: the rate is multiplied by 0.3 once the
    monitored score has gone 3 epochs without a new best (any improvement counts), never
    below 1e-5. Place it after the callback that records the score and before the
    checkpoint, which saves the scheduler's ``state_dict``.
    """

    @classmethod
    def plateau(cls, monitor="valid_ndcg", lower_is_better=False, factor=0.3, patience=3, min_lr=1e-5):
        """The schedule above; ``patience`` counts the epochs without a new best after
        which the rate drops (torch's ``patience`` is one less: it drops on the next)."""
        return cls(policy=ReduceLROnPlateau, monitor=monitor, event_name=None,
                   mode="min" if lower_is_better else "max", factor=factor, patience=patience - 1,
                   threshold=0.0, min_lr=min_lr)

    def on_epoch_end(self, net, **kwargs):
        super().on_epoch_end(net, **kwargs)
        net.history.record("lr", float(net.optimizer_.param_groups[0]["lr"]))


class WeightAverage(Callback):
    """Exponential moving average of the module's parameters (Polyak averaging) kept by
    torch's :class:`~torch.optim.swa_utils.AveragedModel`: the weights a fit is validated,
    checkpointed and finally kept with.

    After every training batch ``avg += (1 - d_t) * (theta - avg)`` with
    ``d_t = min(decay, (1 + t) / (10 + t))`` at step ``t`` (the warm-up keeps the first
    steps' weights from dominating the average; the average starts at the initial
    weights). At the end of every epoch the averaged weights replace the training weights,
    which are set aside, so that validation, early stopping (and the best epoch it
    restores) and checkpoints see the average; the training weights come back at the
    start of the next epoch, so the optimisation itself is unchanged. At the end of
    training the averaged (or early stopping's best averaged) weights stay in the module
    and the callback drops its copies (a pickled model carries no extra weights).

    Place it before the validation callback. Its state (``avg_``, ``raw_``, ``step_``) is
    saved by :class:`~sksid.training.ResumableCheckpoint`, so an interrupted fit resumes
    exactly.

    Parameters
    ----------
    decay : float, default=0.999
        Per-step decay in (0, 1); the average spans about ``1 / (1 - decay)`` steps.
    """

    def __init__(self, decay=0.999):
        self.decay = decay

    def _lerp(self, averaged, current, n_averaged):
        """``AveragedModel``'s ``multi_avg_fn``: the warmed-up EMA step (the step count is
        the callback's own, so no device value is read back per step)."""
        decay = min(float(self.decay), (1.0 + self.step_) / (10.0 + self.step_))
        torch._foreach_lerp_(averaged, current, 1.0 - decay)

    @property
    def avg_(self):
        """The averaged parameters (checkpointed); setting it loads them."""
        return None if self.averaged_ is None else [p.detach() for p in self.averaged_.parameters()]

    @avg_.setter
    def avg_(self, values):
        with torch.no_grad():
            for p, v in zip(self.averaged_.parameters(), values):
                p.copy_(v)

    def on_train_begin(self, net, **kwargs):
        # a resumed fit: ResumableCheckpoint (later in the list) then restores the state
        self.averaged_ = AveragedModel(net.module_, multi_avg_fn=self._lerp)
        self.averaged_.update_parameters(net.module_)  # the first update copies: the initial weights
        self.raw_ = None
        self.step_ = 0

    def on_epoch_begin(self, net, **kwargs):
        if self.raw_ is not None:  # the training weights, set aside at the last epoch's end
            with torch.no_grad():
                for p, raw in zip(net.module_.parameters(), self.raw_):
                    p.copy_(raw)
            self.raw_ = None

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training:
            self.step_ += 1
            self.averaged_.update_parameters(net.module_)

    def on_epoch_end(self, net, **kwargs):
        with torch.no_grad():
            params = list(net.module_.parameters())
            self.raw_ = [p.detach().clone() for p in params]
            for p, avg in zip(params, self.averaged_.parameters()):
                p.copy_(avg)

    def on_train_end(self, net, **kwargs):
        self.averaged_ = self.raw_ = None
