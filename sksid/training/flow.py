"""The one training flow of every torch-backed sksid estimator.

Recommenders (SASRec, IntRR, TIGER), tokenizers (ADC-SID, RQ-VAE) and the CTR ranker all
train through :meth:`TrainingMixin._train_net`; each supplies only what is its own: the
torch module and its arguments, the training arrays, and the score it is judged by (a
:class:`Monitor`: validation NDCG@10 for the recommenders, validation AUC for the ranker,
the training loss for the tokenizers). The flow adds the same options to every one of
them, with one meaning (documented once, in :data:`TRAINING_DOC`):

``max_epochs`` (capped by ``$SKSID_MAX_EPOCHS``, with a warning), ``patience`` (early
stopping on the monitored score, best epoch restored), ``lr_schedule``, ``ema_decay``,
``max_time``, ``checkpoint_dir`` with ``fit(..., resume=True)``, ``callbacks``,
``device``, ``compile``, ``random_state``, ``verbose``.

Data flow of a fit::

    estimator.fit(X, y)                       # validates X, y; builds the arrays below
      -> self._train_net(module_cls, module_kwargs, train={name: array}, seed=..., monitor=...)
           callbacks = model's own + averaging + validation + schedule + early stopping
                       + checkpoint + time budget + user callbacks + progress
           net = SIDNet(module_cls, **module_kwargs, callbacks=...)   (one skorch net)
           net.partial_fit(train)              # skorch's loop: module(**batch) -> module.loss
      <- (net, history rows)

The loop itself is skorch's (:class:`~sksid.training.net.SIDNet` is a ``NeuralNet``); the
schedule is skorch's ``LRScheduler`` with torch's ``ReduceLROnPlateau``; fingerprints of a
resumable fit are :func:`joblib.hash` of its data and parameters.
"""
from __future__ import annotations

import copy
import os
from typing import Callable, NamedTuple

import joblib
import numpy as np
import torch
from skorch.callbacks import Callback, EarlyStopping, ProgressBar
from sklearn.utils._param_validation import StrOptions

from .._validation import (
    NON_NEGATIVE_REAL,
    POSITIVE_INT,
    POSITIVE_REAL,
    UNIT_INTERVAL_OPEN,
    check_random_state_seed,
    epoch_cap,
)
from ..base import SkorchParamsMixin
from ..distributed import from_rank0, rank
from .callbacks import PlateauLR, RankingValidation, TimeBudget, WeightAverage
from .checkpoint import ResumableCheckpoint
from .net import SIDNet, torch_seed

__all__ = ["Monitor", "TrainingMixin", "TRAINING_DOC", "FLOW_CONSTRAINTS", "training_doc"]


class Monitor(NamedTuple):
    """The score a fit is judged by each epoch.

    ``name``: its history key; ``score``: ``score(net) -> float`` recorded under ``name``
    every epoch (None: a key skorch records itself, e.g. ``"train_loss"``);
    ``lower_is_better``.
    """

    name: str
    score: Callable | None = None
    lower_is_better: bool = False


#: Parameter constraints of the flow's options (every torch estimator declares them).
FLOW_CONSTRAINTS = {
    "patience": [POSITIVE_INT, None],
    "max_time": [POSITIVE_REAL, None],
    "weight_decay": [NON_NEGATIVE_REAL],
    "lr_schedule": [StrOptions({"constant", "plateau"})],
    "ema_decay": [UNIT_INTERVAL_OPEN, None],
    "compile": [StrOptions({"auto"}), "boolean"],
    "checkpoint_dir": [str, os.PathLike, None],
    "callbacks": [list, None],
}

#: numpydoc entries of the flow's options, shared by every torch estimator (see
#: :func:`training_doc`); the estimators document ``max_epochs``, ``lr``, ``patience`` and
#: ``weight_decay`` themselves (their defaults differ with the model)
TRAINING_DOC = {
    "max_time": """    max_time : float or None, default=None
        Wall-clock budget of the fit in seconds: training stops after the first epoch
        that ends past it (early stopping's best epoch is still restored). None: no
        budget, ``max_epochs`` and early stopping decide.
""",
    "batch_size": """    batch_size : int, default={default}
        Training rows per batch.
""",
    "lr_schedule": """    lr_schedule : {{"constant", "plateau"}}, default="constant"
        ``"plateau"`` multiplies the learning rate by 0.3 after 3 epochs without a new
        best monitored score (skorch's ``LRScheduler`` with torch's ``ReduceLROnPlateau``;
        the rate is recorded as ``lr`` in ``history_``).
""",
    "ema_decay": """    ema_decay : float in (0, 1) or None, default=None
        Validate, early-stop and keep an exponential moving average of the weights,
        updated after every batch with this per-step decay (about ``1 / (1 - ema_decay)``
        steps; :class:`~sksid.training.WeightAverage`); the optimiser still steps the raw
        weights. None: the raw weights. Measured for IntRR: 0.999 lifts test NDCG@10 on
        Amazon Beauty on each of three seeds (+.0015 ± .0006) and ties on MovieLens-100k
        (docs/recommenders.md, "Weight averaging").
""",
    "device": """    device : {{"auto", "cpu", "cuda"}}, default="auto"
        Where the module trains and predicts (auto: CUDA when available). A model
        fitted on CUDA loads and predicts on a CPU-only machine.
""",
    "random_state": """    random_state : int, RandomState or None, default=None
        Seed of the initialisation, the validation split, the batch order and dropout:
        two fits with the same int give the same model on the same device (on a CPU
        bitwise, for a given number of torch threads: CPU fits run with deterministic
        kernels; on CUDA up to float rounding). None draws a seed (process 0's in a
        data-parallel fit).
""",
    "verbose": """    verbose : int, default=0
        1 prints skorch's epoch table (loss, monitored score, seconds) and a batch
        progress bar; no ANSI colour codes when the output is not a terminal.
""",
    "compile": """    compile : {{"auto", True, False}}, default={default}
        ``torch.compile`` the training forward ({auto}).
""",
    "checkpoint_dir": """    checkpoint_dir : str, path-like or None, default=None
        Directory where a skorch checkpoint is written at the end of every epoch
        (weights, optimizer, history, RNG, early-stopping, learning-rate schedule and
        averaging state; process 0 writes it in a data-parallel fit);
        ``fit(..., resume=True)`` continues an interrupted fit from it and gives the model
        an uninterrupted fit would have given (see ``docs/persistence.md``).
""",
    "callbacks": """    callbacks : list or None, default=None
        Extra skorch callbacks (``Callback`` instances or ``(name, Callback)`` pairs, e.g.
        ``LRScheduler``, ``Checkpoint``, ``GradientNormClipping``), run after the
        validation / early-stopping callbacks; copied at every fit, so the parameter
        itself is never modified and survives ``clone``.
""",
}


def training_doc(names, **fmt) -> str:
    """The numpydoc entries ``names`` of :data:`TRAINING_DOC`, in that order (``fmt``
    fills ``{default}`` / ``{auto}`` where an estimator's default differs)."""
    fmt = {"default": '"auto"', "auto": "auto: on CUDA only", **fmt}
    return "".join(TRAINING_DOC[n].format(**fmt) for n in names)


class TrainingMixin(SkorchParamsMixin):
    """The one fit flow (module docstring). Estimators declare :data:`FLOW_CONSTRAINTS`
    and call :meth:`_training_seed`, set ``device_``, then call :meth:`_train_net`."""

    #: what ``compile="auto"`` means for this estimator: compile on CUDA (True) or never
    _compile_auto = True
    #: parameters that may change between an interrupted fit and its resume
    _resumable_params = ("max_epochs", "max_time", "verbose", "checkpoint_dir")
    #: {name: default} of parameters added after checkpoints of the current format were
    #: written: at their default (which reproduces the earlier fit) they stay out of the
    #: fingerprint, so such an interrupted fit still resumes
    _fingerprint_new_params: dict = {}

    # ---- seed and device ------------------------------------------------------------
    def _training_seed(self, resume: bool) -> int:
        """The fit's seed: from ``random_state``, or (resume with ``random_state=None``)
        the one the interrupted fit drew; process 0's in a data-parallel fit."""
        if resume and self.checkpoint_dir is None:
            raise ValueError("fit(resume=True) needs checkpoint_dir: the directory the interrupted "
                             "fit wrote its checkpoints to")
        seed = check_random_state_seed(self.random_state)
        if resume and self.random_state is None:
            seed = ResumableCheckpoint.read_seed(self.checkpoint_dir)
        return int(from_rank0(seed))

    def _use_compile(self) -> bool:
        if self.compile == "auto":
            return self._compile_auto and str(self.device_).startswith("cuda")
        return bool(self.compile)

    # ---- the net and its callbacks ----------------------------------------------------
    def _build_net(self, module_cls, module_kwargs, callbacks, seed):
        """The (uninitialised) skorch net of this estimator: ``module_cls(**module_kwargs)``
        (overridden by ``module__*``) trained by AdamW with the estimator's ``lr``,
        ``max_epochs`` (capped by ``SKSID_MAX_EPOCHS``), ``batch_size``, ``weight_decay``,
        ``verbose`` and prefixed parameters, on ``device_``.

        :func:`sksid.load` rebuilds a saved model's net with it (``callbacks=None``)."""
        net_kwargs = self._net_kwargs(module_kwargs)
        net_kwargs.setdefault("optimizer__weight_decay", float(self.weight_decay))
        net_kwargs.setdefault("iterator_train__seed", seed)
        return SIDNet(module=module_cls, optimizer=torch.optim.AdamW, lr=self.lr,
                      max_epochs=int(self.max_epochs), batch_size=self.batch_size,
                      device=self.device_, callbacks=callbacks,
                      verbose=int(bool(self.verbose) and rank() == 0),
                      compile_forward=self._use_compile(), **net_kwargs)

    def _make_callbacks(self, monitor, checkpoint, model_callbacks, user_callbacks):
        """The flow's callbacks, in the order they must run at each epoch's end
        (``user_callbacks``: :meth:`_user_callbacks`)."""
        cbs = list(model_callbacks)
        if self.ema_decay is not None:  # before validation: validation sees the average
            cbs.append(("weight_average", WeightAverage(self.ema_decay)))
        if monitor is not None:
            if monitor.score is not None:
                cbs.append((monitor.name, RankingValidation(monitor.score, name=monitor.name)))
            if self.lr_schedule == "plateau":
                cbs.append(("lr_schedule", PlateauLR.plateau(monitor.name, monitor.lower_is_better)))
            if self.patience is not None:
                cbs.append(("early_stopping", EarlyStopping(
                    monitor=monitor.name, lower_is_better=monitor.lower_is_better, patience=self.patience,
                    load_best=True, sink=(print if self.verbose and rank() == 0 else _silent))))
        if checkpoint is not None:  # after early stopping (saves its state), before the budget
            cbs.append(("checkpoint", checkpoint))
        if self.max_time is not None:
            cbs.append(("time_budget", TimeBudget(float(self.max_time))))
        cbs.extend(user_callbacks)
        if self.verbose and rank() == 0:
            cbs.append(("progress", ProgressBar(postfix_keys=["train_loss"])))
        return cbs

    def _user_callbacks(self):
        """The ``callbacks`` parameter as named skorch callbacks, deep-copied so a fit never
        changes the estimator's parameter (skorch initialises callbacks in place)."""
        out = []
        for i, cb in enumerate(copy.deepcopy(list(self.callbacks or []))):
            name, cb = cb if isinstance(cb, tuple) and len(cb) == 2 and isinstance(cb[0], str) \
                else (f"user_{i}_{type(cb).__name__}", cb)
            if not isinstance(cb, Callback):
                raise ValueError(f"callbacks[{i}] must be a skorch Callback (or a (name, Callback) "
                                 f"pair), got {type(cb).__name__}")
            out.append((name, cb))
        return out

    # ---- the flow -----------------------------------------------------------------------
    def _train_net(self, module_cls, module_kwargs, train, *, seed, resume=False, monitor=None,
                   fingerprint_data=(), model_callbacks=(), init_module=None, history_keys=()):
        """Train ``module_cls(**module_kwargs)`` on the arrays ``train`` (a dict, the
        keyword arguments of ``module(**batch)``) and return ``(net, history)``.

        ``monitor``: the :class:`Monitor` of early stopping and the plateau schedule
        (None: neither runs). ``fingerprint_data``: further arrays that identify the fit
        (validation data) for a resumable checkpoint. ``model_callbacks``: the model's own
        callbacks, run first at each epoch's end. ``init_module(module)``: data-dependent
        initialisation after the net is built (not repeated on resume: the checkpoint's
        weights replace it). ``history_keys``: extra history keys to keep.
        """
        module_kwargs = {**module_kwargs, **self._params_for("module")}
        user_callbacks = self._user_callbacks()
        checkpoint = None
        if self.checkpoint_dir is not None:
            fp = self._fingerprint(train, fingerprint_data, module_kwargs, seed, user_callbacks)
            checkpoint = ResumableCheckpoint(self.checkpoint_dir, fingerprint=fp, seed=seed)
        net = self._build_net(module_cls, module_kwargs,
                              self._make_callbacks(monitor, checkpoint, model_callbacks, user_callbacks), seed)
        cap = epoch_cap(self.max_epochs, warn=type(self).__name__)
        if self.verbose and rank() == 0:  # the epoch table below says which model it follows
            print(f"{type(self).__name__}: training {module_cls.__name__} on {self.device_}, up to {cap} "
                  "epochs" + (f", early stopping on {monitor.name}" if monitor is not None and monitor.score
                              and self.patience is not None else ""), flush=True)
        with torch_seed(seed, self.device_):
            net.initialize()  # the module's initialisation draws as in a fresh fit, also on resume
            if init_module is not None:
                init_module(net.module_)
            if resume:
                done = checkpoint.restore(net)
                net.partial_fit(train, None, epochs=max(cap - done, 0))
            elif cap > 0:
                net.partial_fit(train, None, epochs=cap)
        keys = ("epoch", "train_loss") + ((monitor.name,) if monitor is not None and monitor.score else ()) \
            + tuple(history_keys) + ("lr", "dur")
        return net, self._end_training(net, keys)

    @staticmethod
    def _end_training(net, keys):
        """Drop the training-time callbacks (they hold data, closures and copies of weights,
        so the fitted model pickles small) and return the history rows restricted to
        ``keys``."""
        net.callbacks = None
        net.initialize_callbacks()
        return [{k: row[k] for k in keys if k in row} for row in net.history]

    def _fingerprint(self, train, more, module_kwargs, seed, user_callbacks=None):
        """:func:`joblib.hash` of the training arrays, further arrays ``more``, module
        arguments, seed and the parameters a resumed fit must share with the interrupted
        one (``user_callbacks``, the fit's copies of ``callbacks`` (default: made here), by
        their class and parameters: deep-copied instances hash alike in every process)."""
        new = self._fingerprint_new_params

        def kept(key, value):
            return not (key in new and value == new[key] and type(value) is type(new[key]))

        params = {k: v for k, v in self.get_params(deep=False).items()
                  if k not in self._resumable_params and kept(k, v)}
        if user_callbacks is None:
            user_callbacks = self._user_callbacks()
        params["callbacks"] = [_callback_spec(cb) for cb in user_callbacks]
        return joblib.hash((
            {k: np.asarray(v) for k, v in train.items()},
            [np.asarray(a) for a in more],
            {k: v for k, v in module_kwargs.items() if kept(k, v)},
            params,
            int(seed),
        ))


def _callback_spec(named):
    """A callback as data that hashes alike across processes: name, class, parameters."""
    name, cb = named
    try:
        params = cb.get_params(deep=False)
    except Exception:  # a callback whose constructor arguments are not all attributes
        params = {k: v for k, v in vars(cb).items() if not k.endswith("_")}
    return name, f"{type(cb).__module__}.{type(cb).__qualname__}", {k: _stable(v) for k, v in params.items()}


def _stable(value):
    """A value as something whose hash does not depend on the process: callables and other
    objects by their qualified name, containers element-wise."""
    if isinstance(value, (str, bytes, int, float, bool, type(None), np.ndarray, np.generic)):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_stable(v) for v in value)
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items()}
    if callable(value):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', type(value).__name__)}"
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _silent(*args, **kwargs):
    pass
