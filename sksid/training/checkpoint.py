"""Checkpoints written every epoch, for an exact resume of an interrupted fit."""
from __future__ import annotations

import os
import re
import shutil

import torch
from skorch.callbacks import Checkpoint

from ..distributed import rank

__all__ = ["ResumableCheckpoint"]


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
                      "weight_average": ("avg_", "raw_", "step_")}
    #: callback name -> attribute holding a torch scheduler whose ``state_dict`` is saved
    scheduler_state = {"lr_schedule": "lr_scheduler_"}
    #: layout of the saved state; a checkpoint of another layout (an earlier sksid) is refused
    #: with a message instead of resuming into a different fit
    FORMAT = 2
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
        if rank() != 0:  # data-parallel fits: every process holds the same model, one writes
            return
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
            "schedulers": {name: getattr(cbs[name], attr).state_dict()
                           for name, attr in self.scheduler_state.items() if name in cbs},
            "format": self.FORMAT,
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
        if state.get("format") != self.FORMAT:
            raise ValueError(f"the checkpoint in {self.dirname!r} was written by an earlier sksid (checkpoint "
                             f"format {state.get('format', 1)}, this one reads {self.FORMAT}); it cannot be "
                             "resumed: fit again without resume=True")
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
        for name, sched in state.get("schedulers", {}).items():
            if name in cbs:
                getattr(cbs[name], self.scheduler_state[name]).load_state_dict(sched)
