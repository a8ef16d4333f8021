"""The skorch net every torch-backed sksid estimator trains (:class:`SIDNet`) and the
helpers around it: bf16 autocast on CUDA, seeded deterministic fits, batched evaluation.

:class:`SIDNet` is a :class:`skorch.NeuralNet` for modules that compute their own loss:
``module(**batch)`` returns a dict of outputs and ``module.loss(outputs, **batch)`` a
scalar. It adds bf16 autocast on CUDA and a lazily ``torch.compile``-d forward that is never
pickled (so a model trained and compiled on a GPU loads on a CPU).
"""
from __future__ import annotations

import contextlib
import sys

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import PrintLog
from skorch.dataset import unpack_data
from skorch.utils import Ansi, to_tensor
from torch.nn.parallel import DistributedDataParallel

from ..distributed import global_units, is_active, rank, world_size
from .batching import STANDIN, DeviceBatchIterator, loss_units

__all__ = ["SIDNet", "autocast_context", "torch_seed", "eval_mode", "eval_batches"]


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


@contextlib.contextmanager
def eval_mode(module):
    """The module in eval mode for the block, its training flag restored after."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def eval_batches(module, fn, arrays, batch_size: int, device: str):
    """Run ``fn(*tensors)`` over row batches of ``arrays`` in eval mode.

    ``fn`` returns a tensor or a tuple of tensors per batch (on the device, no grad,
    bf16 autocast on CUDA); the results come back as numpy arrays, concatenated. A
    module with an ``inference_cache(*arrays)`` context manager runs the batches inside it.
    """
    parts = []
    n = arrays[0].shape[0]
    with eval_mode(module), torch.no_grad(), autocast_context(device), _inference_cache(module, arrays):
        for b in range(0, n, batch_size):
            out = fn(*(torch.as_tensor(a[b:b + batch_size], device=device) for a in arrays))
            out = out if isinstance(out, tuple) else (out,)
            parts.append([(t.float() if t.is_floating_point() else t).cpu().numpy() for t in out])
    return tuple(np.concatenate(col) for col in zip(*parts))


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


class _LossForward(torch.nn.Module):
    """``forward(batch) -> (outputs, [(loss term, units), ...])``: the net's module and its
    loss parts in one forward, the form :class:`DistributedDataParallel` wraps."""

    def __init__(self, net):
        super().__init__()
        self.module = net.module_
        self.__dict__["_net"] = net  # not a submodule: its loss hooks only

    def forward(self, batch):
        out = self.module(**batch)
        return out, self._net.get_loss_parts(out, batch)


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

    def _ddp(self):
        """The module wrapped for data-parallel training: torch's
        :class:`~torch.nn.parallel.DistributedDataParallel` around :class:`_LossForward`
        (the loss computed inside ``forward``, so DDP sees every parameter the loss uses);
        built once per module, never pickled."""
        held = self.__dict__.get("_ddp_module")
        if held is None or held[0] is not self.module_:
            device_ids = None
            if str(self.device).startswith("cuda"):  # this process's GPU (sksid.distributed.init sets it)
                index = torch.device(self.device).index
                device_ids = [torch.cuda.current_device() if index is None else index]
            ddp = DistributedDataParallel(_LossForward(self), device_ids=device_ids,
                                          find_unused_parameters=True, broadcast_buffers=False)
            held = (self.module_, ddp)
            self.__dict__["_ddp_module"] = held
        return held[1]

    def _data_parallel_step(self, Xi, standin):
        """One process's share of a global batch through DDP: every loss term weighted by
        its local share of the global units (times the number of processes, which DDP's
        gradient average divides out), so the update equals the single-process one on the
        whole batch."""
        with autocast_context(self.device, self.autocast):
            out, parts = self._ddp()(Xi)
        local = torch.tensor([0.0 if standin else float(u) for _, u in parts], dtype=torch.float64)
        total = global_units(local.to(self.device)).cpu()
        world = world_size()
        loss = 0.0
        for (value, _), u, g in zip(parts, local.tolist(), total.tolist()):
            if u > 0:
                loss = loss + value * (world * u / g)
            else:  # no units here (a stand-in, or no targets in this share): weight 0
                loss = loss + torch.nan_to_num(value) * 0.0
        loss.backward()
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
        self.__dict__.pop("_ddp_module", None)  # DDP's gradient buckets: a copy of the weights' size

    def __getstate__(self):
        state = super().__getstate__()
        for key in ("_compiled_forward", "_train_iterator", "_resume_generator_state", "_ddp_module"):
            state.pop(key, None)
        return state
