"""The one skorch pattern every torch-backed sksid estimator uses.

* :class:`SIDNet` is a :class:`skorch.NeuralNet` for modules that compute their own
  loss: ``module(**batch)`` returns a dict of outputs and ``module.loss(outputs, **batch)``
  a scalar. It adds bf16 autocast on CUDA and a lazily ``torch.compile``-d forward that is
  never pickled (so a model trained and compiled on a GPU loads on a CPU).
* :class:`DeviceBatchIterator` replaces skorch's per-sample ``DataLoader``: the whole
  training dict is moved to the device once and batches are index slices, so there is
  no per-item Python work in the training loop.
* :class:`RankingValidation` records a validation ranking metric (NDCG@K) every epoch,
  so that skorch's :class:`~skorch.callbacks.EarlyStopping` can monitor it.
* :class:`ResumableCheckpoint` is a skorch :class:`~skorch.callbacks.Checkpoint` written
  every epoch with everything an exact resume needs (weights, optimizer, history, torch
  RNG state, early-stopping state).
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import time

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, Checkpoint, PrintLog
from skorch.dataset import unpack_data
from skorch.utils import Ansi, to_tensor

from .distributed import all_reduce_gradients, any_process, global_units, is_active, rank, shard, world_size

__all__ = ["SIDNet", "DeviceBatchIterator", "RankingValidation", "TimeBudget", "PlateauLR", "WeightAverage",
           "ResumableCheckpoint",
           "autocast_context", "torch_seed", "eval_batches"]


def autocast_context(device: str, enabled: bool = True):
    """bf16 autocast on CUDA, a no-op elsewhere."""
    if enabled and str(device).startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def torch_seed(seed: int, device: str):
    """Seed torch for a fit without touching the global RNG state (it is restored after).

    On a CPU the fit also runs with ``torch.use_deterministic_algorithms`` (warn-only; the
    previous setting is restored after): with more than one intra-op thread, some CPU
    kernels (the accumulating ``index_put_`` behind the backward of every gather such as
    ``table[rows]``) otherwise add in a thread-dependent order, so two fits with the same
    ``random_state`` drift apart by rounding and, over tens of epochs, end at different
    models. With it, a fit is bitwise reproducible for a given machine and thread count
    (different thread counts still round differently). CUDA keeps its fast
    non-deterministic kernels (reproducible up to float rounding).
    """
    cuda = str(device).startswith("cuda")
    devices = [torch.cuda.current_device()] if cuda else []
    previous = (torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled())
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        if not cuda:
            torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])


def _inference_cache(module, arrays):
    """The module's ``inference_cache(*arrays)`` context (tables computed once per call
    from its inputs, e.g. IntRR's item tokens), or a no-op for modules without one."""
    cache = getattr(module, "inference_cache", None)
    return cache(*arrays) if callable(cache) else contextlib.nullcontext()


def eval_batches(module, fn, arrays, batch_size: int, device: str):
    """Run ``fn(*tensors)`` over row batches of ``arrays`` in eval mode.

    ``fn`` returns a tensor or a tuple of tensors per batch (on the device, no grad,
    bf16 autocast on CUDA); the results come back as numpy arrays, concatenated. A
    module with an ``inference_cache(*arrays)`` context manager runs the batches inside it.
    """
    was_training = module.training
    module.eval()
    parts = []
    n = arrays[0].shape[0]
    try:
        with torch.no_grad(), autocast_context(device), _inference_cache(module, arrays):
            for b in range(0, n, batch_size):
                out = fn(*(torch.as_tensor(a[b:b + batch_size], device=device) for a in arrays))
                out = out if isinstance(out, tuple) else (out,)
                parts.append([(t.float() if t.is_floating_point() else t).cpu().numpy() for t in out])
    finally:
        module.train(was_training)
    return tuple(np.concatenate(col) for col in zip(*parts))


class DeviceBatchIterator:
    """Iterate over a skorch ``Dataset`` whose ``X`` is a dict of equal-length arrays.

    Moves every array to ``device`` once, then yields ``(batch_dict, None)`` slices of a
    per-epoch random permutation drawn from a seeded :class:`torch.Generator`.
    """

    def __init__(self, dataset, batch_size=256, shuffle=False, device="cpu", seed=0,
                 drop_last=False, shard=None, **_ignored):
        X = dataset.X
        if not isinstance(X, dict):
            raise TypeError("DeviceBatchIterator expects a dataset whose X is a dict of arrays")
        self.data = {k: torch.as_tensor(np.asarray(v)).to(device) for k, v in X.items()}
        self.n = len(next(iter(self.data.values())))
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = torch.Generator().manual_seed(int(seed))
        self.epoch = 0
        self.shard = shard  # (rank, world): yield this process's share of each batch

    def __len__(self):
        if self.drop_last:
            return self.n // self.batch_size
        return (self.n + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        if self.shuffle:
            order = torch.randperm(self.n, generator=self.generator)
            order = order.to(next(iter(self.data.values())).device)
        else:
            order = None
        for b in range(len(self)):
            sl = slice(b * self.batch_size, min((b + 1) * self.batch_size, self.n))
            if self.shard is not None:  # the global batch of a single-process fit, split
                full = torch.arange(sl.start, sl.stop) if order is None else order[sl].cpu()
                idx, standin = shard(full, *self.shard)
                batch = {k: v[idx.to(v.device)] for k, v in self.data.items()}
                batch[STANDIN] = standin
                yield batch, None
            elif order is None:
                yield {k: v[sl] for k, v in self.data.items()}, None
            else:
                idx = order[sl]
                yield {k: v[idx] for k, v in self.data.items()}, None


#: batch key of a sharded training batch: True when this process has no rows of the global
#: batch and holds a stand-in row whose loss it weights by 0 (see sksid.distributed)
STANDIN = "__standin__"


def loss_units(batch) -> int:
    """Default unit count of a batch's mean loss: positions with a target, else rows."""
    if "targets" in batch:
        return int((batch["targets"] >= 0).sum())
    first = batch["label"] if "label" in batch else next(iter(batch.values()))
    return int(first.shape[0])


class PlainPrintLog(PrintLog):
    """skorch's epoch table, with its ANSI colour codes (best values) only on a terminal:
    redirected logs and notebooks' captured output stay plain text."""

    def format_row(self, row, key, color):
        if _is_terminal():
            return super().format_row(row, key, color)
        return super().format_row(row, key, "").replace(Ansi.ENDC.value, "")


def _is_terminal():
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stdout
        return False


class SIDNet(NeuralNet):
    """skorch ``NeuralNet`` for self-scoring sksid modules.

    Extra parameters (besides skorch's): ``autocast`` (bool, bf16 on CUDA) and
    ``compile_forward`` (bool, ``torch.compile`` the training forward pass).
    """

    def __init__(self, module, *args, autocast=True, compile_forward=False, **kwargs):
        kwargs.setdefault("criterion", torch.nn.Identity)
        kwargs.setdefault("train_split", None)
        super().__init__(module, *args, **kwargs)
        self.autocast = autocast
        self.compile_forward = compile_forward

    def get_default_callbacks(self):
        return [(name, PlainPrintLog() if name == "print_log" else cb)
                for name, cb in super().get_default_callbacks()]

    # -- forward/loss ---------------------------------------------------------------
    def _forward_fn(self):
        if not self.compile_forward:
            return self.module_
        fwd = self.__dict__.get("_compiled_forward")
        if fwd is None or fwd[0] is not self.module_:
            fwd = (self.module_, torch.compile(self.module_))
            self.__dict__["_compiled_forward"] = fwd
        return fwd[1]

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, _ = unpack_data(batch)
        standin = Xi.pop(STANDIN, None) if isinstance(Xi, dict) else None
        Xi = to_tensor(Xi, device=self.device)
        if standin is not None:  # data-parallel step (sksid.distributed)
            return self._data_parallel_step(Xi, bool(standin))
        with autocast_context(self.device, self.autocast):
            out = self._forward_fn()(**Xi)
            loss = self.get_loss(out, None, X=Xi, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": out}

    def get_loss_parts(self, y_pred, X):
        """``[(mean loss term, units), ...]`` of a batch: the module's ``loss_parts`` when
        it has one (a loss that sums means over different units, e.g. IntRR's alignment
        term over history items), else ``[(get_loss, loss_units(X))]``."""
        parts = getattr(self.module_, "loss_parts", None)
        if parts is not None:
            return parts(y_pred, **X)
        return [(self.get_loss(y_pred, None, X=X, training=True), loss_units(X))]

    def _data_parallel_step(self, Xi, standin):
        """One process's share of a global batch: every loss term weighted by its local
        share of the global units, gradients summed over the processes, so the update
        equals the single-process one on the whole batch."""
        with autocast_context(self.device, self.autocast):
            out = self._forward_fn()(**Xi)
            parts = self.get_loss_parts(out, Xi)
        local = torch.tensor([0.0 if standin else float(u) for _, u in parts], dtype=torch.float64)
        total = global_units(local.to(self.device)).cpu()
        loss = 0.0
        for (value, _), u, g in zip(parts, local.tolist(), total.tolist()):
            if u > 0:
                loss = loss + value * (u / g)
            else:  # no units here (a stand-in, or no targets in this share): weight 0
                loss = loss + torch.nan_to_num(value) * 0.0
        loss.backward()
        all_reduce_gradients(self.module_)
        logged = sum(v.detach() for v, _ in parts)
        return {"loss": logged, "y_pred": out}

    def validation_step(self, batch, **fit_params):
        self._set_training(False)
        Xi, _ = unpack_data(batch)
        Xi = to_tensor(Xi, device=self.device)
        with torch.no_grad(), autocast_context(self.device, self.autocast):
            out = self.module_(**Xi)
            loss = self.get_loss(out, None, X=Xi, training=False)
        return {"loss": loss, "y_pred": out}

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """skorch's loss hook: the module scores itself, ``module_.loss(y_pred, **X)``
        (``X`` the batch dict; the targets live in it, so ``y_true`` is None). Override
        it in a subclass to change the objective, as with any skorch net."""
        return self.module_.loss(y_pred, **to_tensor(X, device=self.device))

    def get_iterator(self, dataset, training=False):
        kwargs = self.get_params_for("iterator_train" if training else "iterator_valid")
        kwargs.setdefault("batch_size", self.batch_size)
        kwargs.setdefault("shuffle", training)
        kwargs["device"] = self.device
        if training and getattr(self.module_, "data_parallel", False) and is_active():
            kwargs["shard"] = (rank(), world_size())
        iterator = DeviceBatchIterator(dataset, **kwargs)
        if training:
            # skorch builds the training iterator once per fit and its generator draws
            # each epoch's order: a resumed fit continues that generator's stream
            pending = self.__dict__.pop("_resume_generator_state", None)
            if pending is not None:
                iterator.generator.set_state(pending)
            self.__dict__["_train_iterator"] = iterator
        return iterator

    def training_generator_state(self):
        """State of the current fit's shuffling generator (None outside a fit)."""
        iterator = self.__dict__.get("_train_iterator")
        return None if iterator is None else iterator.generator.get_state()

    def resume_generator_state(self, state):
        """Start the next training iterator's shuffling generator from ``state``."""
        self.__dict__["_resume_generator_state"] = state

    def on_train_end(self, net, **kwargs):
        super().on_train_end(net, **kwargs)
        self.__dict__.pop("_train_iterator", None)  # it holds the training data

    def __getstate__(self):
        state = super().__getstate__()
        for key in ("_compiled_forward", "_train_iterator", "_resume_generator_state"):
            state.pop(key, None)
        return state


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
        net.history.record(self.name, float(self.score_fn(net)))


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


class PlateauLR(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` (higher is better) has
    not reached a new best for ``patience`` epochs (``ReduceLROnPlateau`` on a history key).

    Place it after the callback that records ``monitor`` and before the checkpoint; the
    current rate is recorded in the history as ``lr``. Its state (``best_``,
    ``bad_epochs_``) is plain numbers, saved by :class:`ResumableCheckpoint`; the rate
    itself lives in the optimizer's state.

    Parameters
    ----------
    monitor : str, default="valid_ndcg"
    factor : float, default=0.3
    patience : int, default=3
    min_lr : float, default=1e-5
    """

    def __init__(self, monitor="valid_ndcg", factor=0.3, patience=3, min_lr=1e-5):
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.min_lr = min_lr

    def on_train_begin(self, net, **kwargs):
        self.best_ = -float("inf")
        self.bad_epochs_ = 0

    def on_epoch_end(self, net, **kwargs):
        score = net.history[-1, self.monitor]
        if score > self.best_:
            self.best_, self.bad_epochs_ = float(score), 0
        else:
            self.bad_epochs_ += 1
            if self.bad_epochs_ >= self.patience:
                for group in net.optimizer_.param_groups:
                    group["lr"] = max(group["lr"] * self.factor, self.min_lr)
                self.bad_epochs_ = 0
        net.history.record("lr", float(net.optimizer_.param_groups[0]["lr"]))


class WeightAverage(Callback):
    """Exponential moving average of the module's parameters (Polyak averaging): the
    weights a fit is validated, checkpointed and finally kept with.

    After every training batch ``avg += (1 - d_t) * (theta - avg)`` with
    ``d_t = min(decay, (1 + t) / (10 + t))`` at step ``t`` (the warm-up keeps the first
    steps' weights from dominating the average). At the end of every epoch the averaged
    weights replace the training weights, which are set aside, so that validation, early
    stopping (and the best epoch it restores) and checkpoints see the average; the
    training weights come back at the start of the next epoch, so the optimisation itself
    is unchanged. At the end of training the averaged (or early stopping's best averaged)
    weights stay in the module and the callback drops its copies (a pickled model carries
    no extra weights).

    Place it before the validation callback. Its state (``avg_``, ``raw_``, ``step_``) is
    saved by :class:`ResumableCheckpoint`, so an interrupted fit resumes exactly.

    Parameters
    ----------
    decay : float, default=0.999
        Per-step decay in (0, 1); the average spans about ``1 / (1 - decay)`` steps.
    """

    def __init__(self, decay=0.999):
        self.decay = decay

    @staticmethod
    def _params(net):
        return [p for p in net.module_.parameters()]

    def on_train_begin(self, net, **kwargs):
        # a resumed fit: ResumableCheckpoint (later in the list) then restores the state
        self.avg_ = [p.detach().clone() for p in self._params(net)]
        self.raw_ = None
        self.step_ = 0

    def on_epoch_begin(self, net, **kwargs):
        params = self._params(net)
        # a checkpoint's copies load on the CPU; the average lives beside the weights
        self.avg_ = [a.to(p.device) for a, p in zip(self.avg_, params)]
        if self.raw_ is not None:  # the training weights, set aside at the last epoch's end
            with torch.no_grad():
                for p, raw in zip(params, self.raw_):
                    p.copy_(raw)
            self.raw_ = None

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        self.step_ += 1
        decay = min(float(self.decay), (1.0 + self.step_) / (10.0 + self.step_))
        with torch.no_grad():
            torch._foreach_lerp_(self.avg_, [p.detach() for p in self._params(net)], 1.0 - decay)

    def on_epoch_end(self, net, **kwargs):
        with torch.no_grad():
            params = self._params(net)
            self.raw_ = [p.detach().clone() for p in params]
            for p, avg in zip(params, self.avg_):
                p.copy_(avg)

    def on_train_end(self, net, **kwargs):
        self.avg_ = self.raw_ = None


class ResumableCheckpoint(Checkpoint):
    """skorch ``Checkpoint`` written at the end of every epoch, for an exact resume.

    Each checkpoint is a sub-directory ``epoch-NNNNN`` of ``dirname`` holding skorch's
    ``params.pt`` (module weights), ``optimizer.pt`` (optimizer state) and
    ``history.json``, plus ``training_state.pt``: the torch RNG state(s) (dropout), the
    state of the generator that shuffles the training batches, the state of
    the :class:`~skorch.callbacks.EarlyStopping` callback (misses, threshold, best epoch
    and best weights), the training seed and a fingerprint of the data and parameters.
    It is written to a temporary directory and published by atomically replacing the
    ``latest`` pointer file, so a crash while saving leaves the previous checkpoint
    intact; older checkpoints are then removed. Everything loads with
    ``torch.load(weights_only=True)``.

    Place it after the validation and early-stopping callbacks (it saves their state
    of the epoch) and before callbacks that interrupt training (a time budget).
    :meth:`restore` loads a checkpoint into an initialised net; the RNG and callback
    state are applied in ``on_train_begin`` (after early stopping's own reset).

    Parameters
    ----------
    dirname : str or path-like
        Checkpoint directory (created if needed).
    fingerprint : str, default=""
        Identifies the data and parameters of the fit; :meth:`restore` refuses a
        checkpoint written with another one.
    seed : int, default=0
        Training seed, stored so that a fit with ``random_state=None`` resumes with the
        seed it started with (see :meth:`read_seed`).
    """

    #: callback name -> attributes saved and restored (skorch's EarlyStopping resets
    #: them in on_train_begin)
    callback_state = {"early_stopping": ("misses_", "dynamic_threshold_", "best_epoch_",
                                         "best_model_weights_"),
                      "lr_schedule": ("best_", "bad_epochs_"),
                      "weight_average": ("avg_", "raw_", "step_")}
    _POINTER = "latest"
    _STATE = "training_state.pt"
    _NAME = re.compile(r"^epoch-[0-9]{5,}$")

    def __init__(self, dirname, fingerprint="", seed=0):
        super().__init__(monitor=None, dirname=os.fspath(dirname), f_params="params.pt",
                         f_optimizer="optimizer.pt", f_criterion=None, f_history="history.json",
                         event_name=None)
        self.fingerprint = fingerprint
        self.seed = seed

    def _file(self, sub, name):
        return os.path.join(self.dirname, sub, name)

    def save_model(self, net):
        sub = f"epoch-{len(net.history):05d}"
        final = os.path.join(self.dirname, sub)
        tmp = final + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        net.save_params(f_params=os.path.join(tmp, self.f_params),
                        f_optimizer=os.path.join(tmp, self.f_optimizer),
                        f_history=os.path.join(tmp, self.f_history))
        cbs = dict(net.callbacks_)
        state = {
            "epoch": len(net.history),
            "fingerprint": self.fingerprint,
            "seed": int(self.seed),
            "torch_rng": torch.get_rng_state(),
            "shuffle_rng": net.training_generator_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if str(net.device).startswith("cuda") else [],
            "callbacks": {name: {a: getattr(cbs[name], a) for a in attrs}
                          for name, attrs in self.callback_state.items() if name in cbs},
        }
        torch.save(state, os.path.join(tmp, self._STATE))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        pointer = os.path.join(self.dirname, self._POINTER)
        with open(pointer + ".tmp", "w") as fh:
            fh.write(sub)
        os.replace(pointer + ".tmp", pointer)
        for old in os.listdir(self.dirname):
            if old != sub and old.startswith("epoch-"):
                shutil.rmtree(os.path.join(self.dirname, old), ignore_errors=True)

    @classmethod
    def _latest(cls, dirname):
        pointer = os.path.join(os.fspath(dirname), cls._POINTER)
        try:
            with open(pointer) as fh:
                sub = fh.read().strip()
        except FileNotFoundError:
            raise ValueError(f"no checkpoint to resume from in {os.fspath(dirname)!r} (no "
                             f"{cls._POINTER!r} file): fit once with this checkpoint_dir first") from None
        if not cls._NAME.match(sub) or not os.path.isdir(os.path.join(os.fspath(dirname), sub)):
            raise ValueError(f"checkpoint pointer {pointer!r} names {sub!r}, which is not a checkpoint")
        return sub

    @classmethod
    def _read_state(cls, dirname, sub):
        try:
            return torch.load(os.path.join(os.fspath(dirname), sub, cls._STATE), map_location="cpu",
                              weights_only=True)
        except (OSError, RuntimeError, EOFError) as exc:
            raise ValueError(f"cannot read the checkpoint {sub!r} in {os.fspath(dirname)!r}: {exc}") from None

    @classmethod
    def read_seed(cls, dirname):
        """The training seed stored in the latest checkpoint of ``dirname``."""
        return int(cls._read_state(dirname, cls._latest(dirname))["seed"])

    def restore(self, net):
        """Load the latest checkpoint into the initialised ``net``; returns its epoch count.

        Raises ``ValueError`` when there is no checkpoint, or when it was written by a fit
        with another fingerprint (other data or parameters)."""
        sub = self._latest(self.dirname)
        state = self._read_state(self.dirname, sub)
        if state.get("fingerprint") != self.fingerprint:
            raise ValueError(f"the checkpoint in {self.dirname!r} was written by a fit on other data or "
                             "with other parameters (only max_epochs, max_time, verbose and "
                             "checkpoint_dir may change between a fit and its resume)")
        net.load_params(f_params=self._file(sub, self.f_params), f_optimizer=self._file(sub, self.f_optimizer),
                        f_history=self._file(sub, self.f_history))
        if len(net.history) != state["epoch"]:
            raise ValueError(f"checkpoint {sub!r} in {self.dirname!r} is inconsistent: its history has "
                             f"{len(net.history)} epochs, its training state {state['epoch']}")
        self.resume_state_ = state
        return int(state["epoch"])

    def on_train_begin(self, net, **kwargs):
        state = self.__dict__.pop("resume_state_", None)
        if state is None:
            return
        torch.set_rng_state(state["torch_rng"])
        if state["shuffle_rng"] is not None:
            net.resume_generator_state(state["shuffle_rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        cbs = dict(net.callbacks_)
        for name, attrs in state["callbacks"].items():
            if name in cbs:
                for attr, value in attrs.items():
                    setattr(cbs[name], attr, value)
