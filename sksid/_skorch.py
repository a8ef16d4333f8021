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
"""
from __future__ import annotations

import contextlib
import time

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from skorch.utils import to_tensor

__all__ = ["SIDNet", "DeviceBatchIterator", "RankingValidation", "TimeBudget", "autocast_context",
           "torch_seed", "eval_batches"]


def autocast_context(device: str, enabled: bool = True):
    """bf16 autocast on CUDA, a no-op elsewhere."""
    if enabled and str(device).startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def torch_seed(seed: int, device: str):
    """Seed torch for a fit without touching the global RNG state (it is restored after)."""
    devices = [torch.cuda.current_device()] if str(device).startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def eval_batches(module, fn, arrays, batch_size: int, device: str):
    """Run ``fn(*tensors)`` over row batches of ``arrays`` in eval mode.

    ``fn`` returns a tensor or a tuple of tensors per batch (on the device, no grad,
    bf16 autocast on CUDA); the results come back as numpy arrays, concatenated.
    """
    was_training = module.training
    module.eval()
    parts = []
    n = arrays[0].shape[0]
    try:
        with torch.no_grad(), autocast_context(device):
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
                 drop_last=False, **_ignored):
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
            if order is None:
                yield {k: v[sl] for k, v in self.data.items()}, None
            else:
                idx = order[sl]
                yield {k: v[idx] for k, v in self.data.items()}, None


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
        Xi = to_tensor(Xi, device=self.device)
        with autocast_context(self.device, self.autocast):
            out = self._forward_fn()(**Xi)
            loss = self.module_.loss(out, **Xi)
        loss.backward()
        return {"loss": loss, "y_pred": out}

    def validation_step(self, batch, **fit_params):
        self._set_training(False)
        Xi, _ = unpack_data(batch)
        Xi = to_tensor(Xi, device=self.device)
        with torch.no_grad(), autocast_context(self.device, self.autocast):
            out = self.module_(**Xi)
            loss = self.module_.loss(out, **Xi)
        return {"loss": loss, "y_pred": out}

    def get_loss(self, y_pred, y_true, X=None, training=False):  # pragma: no cover - unused path
        return self.module_.loss(y_pred, **to_tensor(X, device=self.device))

    def get_iterator(self, dataset, training=False):
        kwargs = self.get_params_for("iterator_train" if training else "iterator_valid")
        kwargs.setdefault("batch_size", self.batch_size)
        kwargs.setdefault("shuffle", training)
        kwargs["device"] = self.device
        return DeviceBatchIterator(dataset, **kwargs)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_compiled_forward", None)
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
        if time.perf_counter() - self.start_ >= self.seconds:
            net.history.record("time_budget_reached", True)
            raise KeyboardInterrupt
