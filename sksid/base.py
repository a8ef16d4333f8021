"""Base classes shared by every sksid estimator.

* :class:`SkorchParamsMixin`: skorch-style ``module__*`` / ``optimizer__*`` /
  ``callbacks__*`` / ``iterator_train__*`` pass-through parameters that survive
  ``get_params``/``set_params``/``clone`` (and therefore Pipeline and GridSearchCV).
* :class:`BaseRecommender`: fit/predict on item-id histories; ``score`` is NDCG@top_k so
  that ``GridSearchCV`` works without an explicit scorer.
* :class:`TorchSequentialRecommender`: the training/prediction skeleton of every
  torch-backed sequential recommender (SASRec, IntRR, TIGER): causal training windows,
  a held-out validation target per user for early stopping on NDCG, a
  :class:`~sksid._skorch.SIDNet` built with ``module__`` parameters, batched top-K on the
  device, popularity fallback for empty histories, CPU loading of GPU-trained models.
"""
from __future__ import annotations

import copy
import hashlib
import inspect
import os
import re

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import StrOptions, validate_parameter_constraints
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback, EarlyStopping, ProgressBar

from .distributed import rank
from ._skorch import (PlateauLR, RankingValidation, ResumableCheckpoint, SIDNet, TimeBudget, WeightAverage,
                      eval_batches, torch_seed)
from ._validation import (
    epoch_cap,
    NON_NEGATIVE_REAL,
    POSITIVE_INT,
    POSITIVE_REAL,
    TRAINING_CONSTRAINTS,
    UNIT_INTERVAL_LEFT,
    UNIT_INTERVAL_OPEN,
    check_random_state_seed,
    check_sequences,
    check_targets,
    resolve_device,
)
from .metrics import _check_k
from .sequences import SIDSequences, pad_histories, training_windows

__all__ = ["SkorchParamsMixin", "CPUFallbackMixin", "BaseRecommender", "TorchSequentialRecommender",
           "drop_seen"]


# numpydoc entries shared by every torch recommender (put in each docstring by
# fill_docstring where it says ``{training}`` / ``{exclude_seen}``)
DOC_BLOCKS = {
    "training": """    max_time : float or None, default=None
        Wall-clock budget of the fit in seconds: training stops after the first epoch
        that ends past it (early stopping's best epoch is still restored). None: no
        budget, ``max_epochs`` and early stopping decide.
    batch_size : int, default=256
        Training windows per batch.
    weight_decay : float, default=0.0
        AdamW weight decay.
    lr_schedule : {"constant", "plateau"}, default="constant"
        ``"plateau"`` multiplies the learning rate by 0.3 after 3 epochs without a new
        best validation NDCG@10 (:class:`~sksid._skorch.PlateauLR`; needs validation;
        the rate is recorded as ``lr`` in ``history_``).
    ema_decay : float in (0, 1) or None, default=None
        Validate, early-stop and keep an exponential moving average of the weights,
        updated after every batch with this per-step decay (about ``1 / (1 - ema_decay)``
        steps; :class:`~sksid._skorch.WeightAverage`); the optimiser still steps the raw
        weights. None: the raw weights, as before. Measured for IntRR: 0.999 lifts test
        NDCG@10 on Amazon Beauty on each of three seeds (+.0015 ± .0006) and ties on
        MovieLens-100k (docs/recommenders.md, "Weight averaging").
    validation_fraction : float, default=0.1
        Share of the users whose target ``y`` is held out for early stopping when no
        ``eval_set`` is given (at least 500 users, or half of them on smaller data:
        NDCG on fewer is too noisy to stop on). Their histories still train; 0
        disables early stopping.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the module trains and predicts (auto: CUDA when available). A model
        fitted on CUDA loads and predicts on a CPU-only machine.
    random_state : int or None, default=None
        Seed of the initialisation, the validation split, the batch order and dropout:
        two fits with the same int give the same model on the same device (on a CPU
        bitwise, for a given number of torch threads: CPU fits run with deterministic
        kernels; on CUDA up to float rounding).
    verbose : int, default=0
        1 prints skorch's epoch table (loss, validation NDCG@10, seconds) and a batch
        progress bar; no ANSI colour codes when the output is not a terminal.
    compile : {"auto", True, False}, default="auto"
        ``torch.compile`` the training forward (auto: on CUDA only).
    checkpoint_dir : str, path-like or None, default=None
        Directory where a skorch checkpoint is written at the end of every epoch
        (weights, optimizer, history, RNG, early-stopping and learning-rate schedule
        state); ``fit(..., resume=True)`` continues an interrupted fit from it and gives
        the model an uninterrupted fit would have given (see ``docs/persistence.md``).
    callbacks : list or None, default=None
        Extra skorch callbacks (``Callback`` instances or ``(name, Callback)`` pairs, e.g.
        ``LRScheduler``, ``Checkpoint``, ``GradientNormClipping``), run after the
        validation / early-stopping callbacks; copied at every fit, so the parameter
        itself is never modified and survives ``clone``.
""",
    "exclude_seen": """    exclude_seen : bool, default=False
        ``predict`` drops the items of the history from each row
        (:meth:`~sksid.base.BaseRecommender.recommend`; off: the papers' protocol keeps
        them); a row left with fewer than ``top_k`` unseen items is padded with -1.
        Training and early stopping ignore it.
""",
}


def fill_docstring(cls, blocks=None):
    """Put the numpydoc entries of ``blocks`` (default :data:`DOC_BLOCKS`) where the
    class docstring has a line ``    {name}``; a placeholder left unfilled raises."""
    doc = cls.__doc__
    for name, text in (DOC_BLOCKS if blocks is None else blocks).items():
        doc = doc.replace("    {" + name + "}\n", text)
    left = re.findall(r"^    \{(\w+)\}$", doc, flags=re.M)
    if left:
        raise RuntimeError(f"{cls.__name__}'s docstring has unfilled blocks {left}")
    cls.__doc__ = doc
    return cls


MIN_VALIDATION_USERS = 500
_PREFIXES = ("module__", "optimizer__", "callbacks__", "iterator_train__", "iterator_valid__")


class SkorchParamsMixin:
    """skorch-style prefixed parameters for sklearn estimators.

    ``Est(module__n_heads=4)`` stores ``module__n_heads`` as a parameter; ``get_params``
    returns it, ``set_params(module__n_heads=2)`` changes it and ``clone`` copies it, so
    ``GridSearchCV(param_grid={"rec__module__n_heads": [2, 4]})`` works.
    """

    _param_prefixes = _PREFIXES

    def _store_prefixed(self, kwargs):
        for key, value in kwargs.items():
            if not key.startswith(self._param_prefixes):
                raise TypeError(
                    f"{type(self).__name__}.__init__() got an unexpected keyword argument {key!r}; "
                    f"extra parameters must start with one of {self._param_prefixes}"
                )
            setattr(self, key, value)

    def _prefixed_names(self):
        return sorted(k for k in vars(self) if k.startswith(self._param_prefixes))

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update({k: getattr(self, k) for k in self._prefixed_names()})
        return params

    def set_params(self, **params):
        prefixed = {k: v for k, v in params.items() if k.startswith(self._param_prefixes)}
        for key, value in prefixed.items():
            setattr(self, key, value)
        rest = {k: v for k, v in params.items() if k not in prefixed}
        if rest:
            super().set_params(**rest)
        return self

    def _params_for(self, prefix: str) -> dict:
        p = prefix + "__"
        return {k[len(p):]: getattr(self, k) for k in self._prefixed_names() if k.startswith(p)}

    def _net_kwargs(self, module_kwargs: dict) -> dict:
        """skorch keyword arguments: the module's (overridden by ``module__*``) and every
        other prefixed parameter."""
        module_kwargs = dict(module_kwargs)
        module_kwargs.update(self._params_for("module"))
        net_kwargs = {f"module__{k}": v for k, v in module_kwargs.items()}
        for prefix in ("optimizer", "iterator_train", "iterator_valid", "callbacks"):
            net_kwargs.update({f"{prefix}__{k}": v for k, v in self._params_for(prefix).items()})
        return net_kwargs

    # ---- the one training skeleton of every torch estimator ---------------------------
    def _net_options(self) -> dict:
        """Extra :class:`~sksid._skorch.SIDNet` arguments of this estimator (hook)."""
        return {}

    def _build_net(self, module_cls, module_kwargs, callbacks, seed):
        """The (uninitialised) skorch net of this estimator: ``module_cls(**module_kwargs)``
        (overridden by ``module__*``) trained by AdamW with the estimator's ``lr``,
        ``max_epochs`` (capped by ``SKSID_MAX_EPOCHS``), ``batch_size``, ``weight_decay``
        (when it has one), ``verbose`` and prefixed parameters, on ``device_``.

        Every torch estimator (recommenders, tokenizers, the ranker) builds its net here, and
        :func:`sksid.load` rebuilds a saved model's net with it (``callbacks=None``)."""
        net_kwargs = self._net_kwargs(module_kwargs)
        if getattr(self, "weight_decay", None) is not None:
            net_kwargs.setdefault("optimizer__weight_decay", self.weight_decay)
        net_kwargs.setdefault("iterator_train__seed", seed)
        return SIDNet(module=module_cls, optimizer=torch.optim.AdamW, lr=self.lr,
                      max_epochs=epoch_cap(self.max_epochs), batch_size=self.batch_size,
                      device=self.device_, callbacks=callbacks, verbose=int(bool(self.verbose) and rank() == 0),
                      **self._net_options(), **net_kwargs)

    @staticmethod
    def _end_training(net, keys):
        """Drop the training-time callbacks (they hold data, closures and copies of weights,
        so the fitted model pickles small) and return the history rows restricted to
        ``keys``."""
        net.callbacks = None
        net.initialize_callbacks()
        return [{k: row[k] for k in keys if k in row} for row in net.history]


def drop_seen(ids, scores, seqs, k):
    """Remove each row's history items from a ranking and keep its first ``k`` entries.

    Parameters
    ----------
    ids : ndarray (n_users, m), int
        Ranked item ids, best first (-1: no item).
    scores : ndarray (n_users, m), float
    seqs : list of 1-D int arrays
        The histories as passed (every item counts as seen, not only the last ``max_len``).
    k : int

    Returns
    -------
    (ids, scores) of shape (n_users, k). A row left with fewer than ``k`` unseen items is
    padded with id -1 and score -inf.

    Examples
    --------
    >>> ids, sc = drop_seen(np.array([[3, 1, 2]]), np.array([[4., 2., 1.]]), [np.array([1])], 3)
    >>> ids.tolist(), sc.tolist()
    ([[3, 2, -1]], [[4.0, 1.0, -inf]])
    """
    ids = np.asarray(ids, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float32)
    n, m = ids.shape
    lengths = np.fromiter((s.size for s in seqs), dtype=np.int64, count=n)
    H = max(int(lengths.max(initial=0)), 1)
    hist = np.full((n, H), -2, dtype=np.int64)  # -2 never matches an id or the -1 padding
    if lengths.sum():
        rows = np.repeat(np.arange(n), lengths)
        cols = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        hist[rows, cols] = np.concatenate([s for s in seqs if s.size])
    out_ids = np.full((n, k), -1, dtype=np.int64)
    out_sc = np.full((n, k), -np.inf, dtype=np.float32)
    step = max(1, (1 << 24) // max(m * H, 1))  # bound the (rows, m, H) comparison
    for a in range(0, n, step):
        b = min(n, a + step)
        keep = (ids[a:b] >= 0) & ~(ids[a:b, :, None] == hist[a:b, None, :]).any(-1)
        order = np.argsort(~keep, axis=1, kind="stable")[:, :k]  # kept entries first, in rank order
        take_ids = np.take_along_axis(ids[a:b], order, 1)
        take_sc = np.take_along_axis(scores[a:b], order, 1)
        valid = np.arange(order.shape[1])[None, :] < keep.sum(1, keepdims=True)
        out_ids[a:b, : order.shape[1]] = np.where(valid, take_ids, -1)
        out_sc[a:b, : order.shape[1]] = np.where(valid, take_sc, -np.inf)
    return out_ids, out_sc


class BaseRecommender(BaseEstimator):
    """Common API of sksid recommenders: ``fit(X, y)``, ``predict(X)``, ``score(X, y)``.

    ``X`` is a list of 1-D int arrays (histories, oldest first); ``y`` holds the next item
    of each history. ``predict`` returns an ``(n_users, top_k)`` array of item ids, best
    first.

    Parameters are declared in ``_parameter_constraints`` (subclasses extend the dict)
    and validated by ``fit``; those read again at predict time (``top_k``) are
    re-validated there, since ``set_params`` may have changed them after fit.
    """

    _parameter_constraints: dict = {
        "top_k": [POSITIVE_INT],
        "n_items": [POSITIVE_INT, None],
        "device": TRAINING_CONSTRAINTS["device"],
        "random_state": ["random_state"],
    }

    def recommend(self, X, k=None, exclude_seen=False):
        """Top-``k`` items and their scores for each history, best first.

        The same call on every recommender. Scores are the model's own: interaction
        counts (MostPopular), logits (SASRec), summed level log-probabilities (IntRR,
        TIGER; NaN for an empty history, answered by the popularity ranking).

        Parameters
        ----------
        X : list of 1-D int arrays or SIDSequences
            Histories (oldest first).
        k : int, optional
            Items per history (default: ``top_k``); at most the catalogue size. SID models
            widen the beam to ``k`` when ``k > beam_width``.
        exclude_seen : bool, default=False
            Drop every item of the history from its row (all of the history as passed,
            not only the last ``max_len``). A row left with fewer than ``k`` unseen items
            is padded with id -1 and score -inf.

        Returns
        -------
        ids : ndarray of shape (n_users, k), int64
        scores : ndarray of shape (n_users, k), float32
        """
        seqs = self._check_predict_input(X)
        k = self.top_k if k is None else _check_k(k)
        if k > self.n_items_:
            raise ValueError(f"k={k} exceeds the number of catalogue items ({self.n_items_})")
        wide = k
        if exclude_seen:  # enough candidates that k survive once the history is removed
            wide = min(self.n_items_, k + max((np.unique(s).size for s in seqs), default=0))
        ids, scores = self._top_items(X, seqs, wide)
        if exclude_seen:
            return drop_seen(ids, scores, seqs, k)
        return ids.astype(np.int64, copy=False), scores.astype(np.float32, copy=False)

    def predict(self, X):
        """Top-``top_k`` next-item ids for each history, best first:
        ``recommend(X, top_k, exclude_seen)[0]``.

        Histories longer than ``max_len`` are truncated to their most recent items; an
        empty history gets the training popularity ranking; unknown item ids raise.

        Returns
        -------
        ndarray of shape (n_users, top_k), int64
        """
        return self.recommend(X, self.top_k, bool(getattr(self, "exclude_seen", False)))[0]

    #: the fitted attribute whose absence means "not fitted" (``check_is_fitted``)
    _fitted_attr = "n_items_"

    def _check_predict_input(self, X):
        """Validated histories of a predict / recommend call (fitted, ``top_k`` still valid,
        ids inside the fitted catalogue)."""
        check_is_fitted(self, self._fitted_attr)
        self._check_top_k(self.n_items_)
        return check_sequences(X, n_items=self.n_items_)

    def _top_items(self, X, seqs, k):  # pragma: no cover - abstract
        """``(ids, scores)`` of the ``k`` best items per validated history ``seqs``."""
        raise NotImplementedError

    def score(self, X, y):
        """NDCG@``top_k`` of the predictions for ``X`` against the next items ``y``."""
        from .metrics import ndcg_at_k

        pred = self.predict(X)
        return float(ndcg_at_k(np.asarray(y), pred, pred.shape[1]))

    def _revalidate_params(self, *names):
        """Validate the named parameters against their declared constraints (predict time)."""
        validate_parameter_constraints(
            {n: self._parameter_constraints[n] for n in names},
            {n: getattr(self, n) for n in names}, caller_name=type(self).__name__)

    def _catalogue_size(self, X, seqs, y):
        """Catalogue size of a fit: the ``n_items`` parameter, else the coded catalogue of
        an ``SIDSequences``, else the largest id in ``X``/``y`` + 1. Ids outside it raise;
        items of the catalogue that training never saw are legal at predict time."""
        given = getattr(self, "n_items", None)
        coded = X.n_items if isinstance(X, SIDSequences) else None
        if coded is not None:
            return self._check_n_items_matches_codes(coded)
        if given is None:
            return _infer_n_items(seqs, y)
        n = int(given)
        hi = _max_id(seqs, y)
        if hi >= n:
            raise ValueError(f"X/y contain item id {hi} but n_items={n}; ids must lie in [0, n_items)")
        return n

    def _check_n_items_matches_codes(self, coded):
        """The catalogue of coded items (``coded`` rows); an ``n_items`` that disagrees raises."""
        given = getattr(self, "n_items", None)
        if given is not None and int(given) != coded:
            raise ValueError(f"n_items={given} but the codes cover {coded} items; drop n_items "
                             "(the codes define the catalogue) or code the whole catalogue")
        return int(coded)

    def _check_top_k(self, n_items):
        self._revalidate_params("top_k")
        if self.top_k > n_items:
            raise ValueError(f"top_k={self.top_k} exceeds the number of catalogue items ({n_items})")

    def _fit_popularity(self, X, y, n_items):
        counts = np.zeros(n_items, dtype=np.int64)
        for s in X:
            np.add.at(counts, s, 1)
        if y is not None:
            np.add.at(counts, y, 1)
        self.item_popularity_ = counts
        # stable: ties broken by the smaller id
        self.popular_items_ = np.argsort(-counts, kind="stable")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.requires_fit = True
        return tags


class CPUFallbackMixin:
    """Device handling of a fitted torch estimator (``net_`` and ``device_``).

    Unpickling on a machine without CUDA moves a GPU-fitted estimator to the CPU: skorch
    already maps the net's tensors to the CPU (with a ``DeviceWarning``); this keeps the
    estimator's ``device_`` and its net's ``device`` consistent with them.
    :meth:`to_device` moves a fitted model explicitly.
    """

    def to_device(self, device):
        """Move a fitted model to ``device`` (e.g. after loading a GPU model on a CPU)."""
        check_is_fitted(self, "net_")
        self.device_ = resolve_device(device)
        self.net_.device = self.device_
        self.net_.module_.to(self.device_)
        return self

    def __setstate__(self, state):
        dev = state.get("device_")
        if dev is not None and str(dev).startswith("cuda") and not torch.cuda.is_available():
            state["device_"] = "cpu"
            net = state.get("net_")
            if net is not None:
                net.device = "cpu"
                net.module_.to("cpu")
        # a model pickled by an earlier sksid gains the parameters added since at their
        # defaults (which reproduce the earlier behaviour), so get_params / clone still work
        for name, param in inspect.signature(type(self).__init__).parameters.items():
            if param.default is not inspect.Parameter.empty and name not in state:
                state[name] = param.default
        self.__dict__.update(state)


# ids are "sparse" (raw, never remapped) when a catalogue inferred from the largest id
# would hold more than this many rows and under SPARSE_IDS_MAX_USE of them occur
SPARSE_IDS_MIN_ROWS = 10_000
SPARSE_IDS_MAX_USE = 0.1


def _max_id(X, y):
    """Largest item id in histories ``X`` and targets ``y`` (-1 when there is none)."""
    hi = max((int(s.max()) for s in X if s.size), default=-1)
    if y is not None and len(y):
        hi = max(hi, int(np.max(y)))
    return hi


def _infer_n_items(X, y):
    hi = _max_id(X, y)
    if hi < 0:
        raise ValueError("cannot infer the catalogue size: X and y contain no item at all")
    if hi + 1 > SPARSE_IDS_MIN_ROWS:
        parts = [s for s in X if s.size] + ([np.asarray(y)] if y is not None and len(y) else [])
        used = np.unique(np.concatenate(parts)).size
        if used < SPARSE_IDS_MAX_USE * (hi + 1):
            raise ValueError(
                f"item ids look raw: {used} distinct ids but the largest is {hi}, so the model "
                f"would hold {hi + 1} item rows; remap them to 0..{used - 1} with "
                "sksid.preprocessing.ItemEncoder, or pass n_items= if the catalogue really "
                "has that many items")
    return hi + 1


class TorchSequentialRecommender(CPUFallbackMixin, SkorchParamsMixin, BaseRecommender):
    """Skeleton of the torch-backed sequential recommenders.

    Subclasses set ``_module_class`` and implement ``_module_kwargs()``,
    ``_train_inputs(inputs, targets)`` (the dict passed to ``module(**batch)`` during
    training) and ``_rank(module, items, lengths, k)`` (top-``k`` ids of a padded batch,
    on the device). Shared parameters (documented on each subclass): ``max_len``,
    ``max_epochs``, ``batch_size``, ``lr``, ``weight_decay``, ``patience``,
    ``validation_fraction``, ``top_k``, ``device``, ``random_state``, ``verbose``,
    ``compile``, ``checkpoint_dir``.
    """

    _module_class = None
    _needs_codes = False

    _fitted_attr = "net_"
    _parameter_constraints: dict = {
        **BaseRecommender._parameter_constraints,
        **TRAINING_CONSTRAINTS,
        "callbacks": [list, None],
        "dropout": [UNIT_INTERVAL_LEFT],
        "max_len": [POSITIVE_INT],
        "max_time": [POSITIVE_REAL, None],
        "weight_decay": [NON_NEGATIVE_REAL],
        "patience": [POSITIVE_INT],
        "validation_fraction": [UNIT_INTERVAL_LEFT],
        "compile": [StrOptions({"auto"}), "boolean"],
        "checkpoint_dir": [str, os.PathLike, None],
        "lr_schedule": [StrOptions({"constant", "plateau"})],
        "ema_decay": [UNIT_INTERVAL_OPEN, None],
    }

    # ---- hooks ------------------------------------------------------------------------
    def _module_kwargs(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _train_inputs(self, inputs: np.ndarray, targets: np.ndarray) -> dict:
        return {"items": inputs, "targets": targets}

    def _rank(self, module, items, lengths, k, validation=False):  # pragma: no cover - abstract
        raise NotImplementedError

    def _prepare_catalogue(self, X, seqs, y):
        """Set ``n_items_`` (and codes for SID models) from the training input ``X``
        (validated as ``seqs``, ``y``)."""
        self.n_items_ = self._catalogue_size(X, seqs, y)

    # ---- fit ---------------------------------------------------------------------------
    def _validate_fit_input(self, X, y):
        if isinstance(X, SIDSequences):
            seqs = check_sequences(X, n_items=X.n_items)
        else:
            seqs = check_sequences(X)
        y = None if y is None else check_targets(y, len(seqs))
        return seqs, y

    def _make_callbacks(self, valid_fn, checkpoint=None):
        cbs = []
        if getattr(self, "ema_decay", None) is not None:  # first: validation sees the average
            cbs.append(("weight_average", WeightAverage(self.ema_decay)))
        if valid_fn is not None:
            cbs.append(("valid_ndcg", RankingValidation(valid_fn, name="valid_ndcg")))
            if getattr(self, "lr_schedule", "constant") == "plateau":
                cbs.append(("lr_schedule", PlateauLR("valid_ndcg")))
            cbs.append(("early_stopping", EarlyStopping(
                monitor="valid_ndcg", lower_is_better=False, patience=self.patience,
                load_best=True, sink=(print if self.verbose else (lambda *a, **k: None)))))
        if checkpoint is not None:  # after early stopping (saves its state), before the budget
            cbs.append(("checkpoint", checkpoint))
        if self.max_time is not None:
            cbs.append(("time_budget", TimeBudget(float(self.max_time))))
        cbs.extend(self._user_callbacks())
        if self.verbose:
            cbs.append(("progress", ProgressBar(postfix_keys=["train_loss"])))
        return cbs

    def _user_callbacks(self):
        """The ``callbacks`` parameter as named skorch callbacks, deep-copied so a fit never
        changes the estimator's parameter (skorch initialises callbacks in place)."""
        out = []
        for i, cb in enumerate(copy.deepcopy(list(getattr(self, "callbacks", None) or []))):
            name, cb = cb if isinstance(cb, tuple) and len(cb) == 2 and isinstance(cb[0], str) \
                else (f"user_{i}_{type(cb).__name__}", cb)
            if not isinstance(cb, Callback):
                raise ValueError(f"callbacks[{i}] must be a skorch Callback (or a (name, Callback) "
                                 f"pair), got {type(cb).__name__}")
            out.append((name, cb))
        return out

    def fit(self, X, y=None, eval_set=None, resume=False):
        """Fit on histories ``X`` and their next items ``y``.

        Every position of every ``X[i] + [y[i]]`` is a training target (causal
        teacher forcing, windows of ``max_len`` items). Unless ``eval_set`` is given, the
        next item ``y[i]`` of a random ``validation_fraction`` of users (at least 500
        users, or half of them on smaller data) is held out and
        NDCG@10 on it drives early stopping (best epoch restored).

        Parameters
        ----------
        X : list of 1-D int arrays or SIDSequences
        y : array-like of shape (n_users,), optional
        eval_set : tuple (X_valid, y_valid), optional
            Explicit validation histories and targets for early stopping (e.g. the
            leave-last-out validation split); then no training target is held out.
        resume : bool, default=False
            Continue an interrupted fit from the latest checkpoint in ``checkpoint_dir``
            (same data and parameters; ``max_epochs``, ``max_time`` and ``verbose`` may
            change): weights, optimizer, history, RNG and early-stopping state are
            restored, and the result equals that of an uninterrupted fit.

        Returns
        -------
        self
        """
        self._validate_params()
        if resume and self.checkpoint_dir is None:
            raise ValueError("fit(resume=True) needs checkpoint_dir: the directory the interrupted "
                             "fit wrote its checkpoints to")
        seqs, y = self._validate_fit_input(X, y)
        self._prepare_catalogue(X, seqs, y)
        n_items = self.n_items_
        if y is not None and y.size and y.max() >= n_items:
            raise ValueError(f"y contains item ids >= n_items ({n_items})")
        self._check_top_k(n_items)
        seed = check_random_state_seed(self.random_state)
        if resume and self.random_state is None:  # the seed the interrupted fit drew
            seed = ResumableCheckpoint.read_seed(self.checkpoint_dir)
        self.device_ = resolve_device(self.device)
        rng = np.random.RandomState(seed)

        valid_X = valid_y = None
        held = np.zeros(len(seqs), dtype=bool)
        if eval_set is not None:
            valid_X = check_sequences(eval_set[0], n_items=n_items, name="eval_set X")
            valid_y = check_targets(eval_set[1], len(valid_X), n_items=n_items, name="eval_set y")
        elif y is not None and self.validation_fraction > 0:
            # at least MIN_VALIDATION_USERS (or all): NDCG@10 on a few dozen users is too
            # noisy to stop on (MovieLens-100k's 10 % is 94 users); only their last
            # training target leaves training, their histories still train
            n_val = max(int(round(self.validation_fraction * len(seqs))),
                        min(MIN_VALIDATION_USERS, len(seqs) // 2))
            if n_val > 0:
                held[rng.choice(len(seqs), size=n_val, replace=False)] = True
                valid_X = [s for s, h in zip(seqs, held) if h]
                valid_y = y[held]
        train_y = None if y is None else np.where(held, -1, y)
        inputs, targets = self._windows(seqs, train_y)
        if inputs.shape[0] == 0:
            raise ValueError("no training pairs: every sequence (with its target) has fewer than 2 items")
        self._fit_popularity([s for s in seqs], None if y is None else y[~held], n_items)

        valid_fn = None
        if valid_X is not None and len(valid_X):
            v_items, v_len = pad_histories(valid_X, self.max_len)

            def valid_fn(net, _items=v_items, _len=v_len, _y=valid_y):
                from .metrics import ndcg_at_k
                k = min(10, n_items)  # catalogues smaller than 10 items: NDCG over all
                ids = self._predict_padded(net.module_, _items, _len, k, validation=True)
                return ndcg_at_k(_y, ids, k)

        module_kwargs = self._module_kwargs()
        module_kwargs.update(self._params_for("module"))
        train = self._train_inputs(inputs, targets)
        checkpoint = None
        if self.checkpoint_dir is not None:
            valid = () if valid_fn is None else (v_items, v_len, valid_y)
            checkpoint = ResumableCheckpoint(
                self.checkpoint_dir, fingerprint=self._fingerprint(train, valid, module_kwargs, seed), seed=seed)
        self.net_ = self._build_net(self._module_class, module_kwargs,
                                    self._make_callbacks(valid_fn, checkpoint), seed)
        with torch_seed(seed, self.device_):
            if resume:
                self.net_.initialize()  # the module's initialisation draws as in a fresh fit
                done = checkpoint.restore(self.net_)
                self.net_.partial_fit(train, None, epochs=max(epoch_cap(self.max_epochs) - done, 0))
            else:
                self.net_.fit(train, None)
        self.history_ = self._end_training(self.net_, ("epoch", "train_loss", "valid_ndcg", "lr", "dur"))
        self.n_epochs_ = len(self.history_)
        return self

    def _net_options(self):
        return {"compile_forward": self._use_compile()}

    #: parameters that may change between an interrupted fit and its resume
    _resumable_params = ("max_epochs", "max_time", "verbose", "checkpoint_dir")
    #: {name: default} of parameters added after checkpoints were written: at their default
    #: (which reproduces the earlier fit) they stay out of the fingerprint, so an interrupted
    #: fit of an earlier sksid still resumes
    _fingerprint_new_params: dict = {"ema_decay": None}  # added 2026-12-07

    def _fingerprint(self, train, valid, module_kwargs, seed):
        """sha256 of the training data, validation data, module arguments, seed and the
        parameters a resumed fit must share with the interrupted one."""
        h = hashlib.sha256()

        def add(value):
            if isinstance(value, np.ndarray):
                h.update(f"{value.dtype.str}{value.shape}".encode())
                h.update(np.ascontiguousarray(value).tobytes())
            else:
                h.update(repr(value).encode())

        for key in sorted(train):
            add(key)
            add(np.asarray(train[key]))
        for arr in valid:
            add(np.asarray(arr))
        new = self._fingerprint_new_params

        def omitted(key, value):
            return key in new and value == new[key] and type(value) is type(new[key])

        for key in sorted(module_kwargs):
            if not omitted(key, module_kwargs[key]):
                add(key)
                add(module_kwargs[key])
        params = self.get_params(deep=False)
        for key in sorted(params):
            if key not in self._resumable_params and not omitted(key, params[key]):
                add((key, params[key]))
        add(seed)
        return h.hexdigest()

    def _use_compile(self):
        if self.compile == "auto":
            return self.device_.startswith("cuda")
        return bool(self.compile)

    def _windows(self, seqs, y):
        """Training windows; targets of held-out rows are dropped (y == -1)."""
        if y is None:
            return training_windows(seqs, None, self.max_len)
        keep = y >= 0
        parts = []
        if keep.any():
            parts.append(training_windows([s for s, k in zip(seqs, keep) if k], y[keep], self.max_len))
        if (~keep).any():
            parts.append(training_windows([s for s, k in zip(seqs, keep) if not k], None, self.max_len))
        return tuple(np.concatenate(p) for p in zip(*parts))

    # ---- predict -----------------------------------------------------------------------
    def _eval_batches(self, module, fn, items, lengths, batch_size=None):
        """Run ``fn(items, lengths)`` over padded histories in batches, in eval mode.

        ``fn`` returns a tensor or a tuple of tensors per batch (on the device, no grad,
        bf16 autocast on CUDA); the results come back as numpy arrays, concatenated.
        """
        batch_size = batch_size or max(self.batch_size, 256)
        return eval_batches(module, fn, (items, lengths), batch_size, self.device_)

    def _inference_batch_size(self, module, k, validation=False):
        """Users per inference batch (None: the default); SID models lower it for wide beams."""
        return None

    def _predict_padded(self, module, items, lengths, k, batch_size=None, validation=False):
        """Top-``k`` ids for padded histories (early stopping's per-epoch ranking); empty
        ones get the popularity ranking.

        ``validation`` marks the per-epoch early-stopping evaluation (models may rank
        more cheaply there, see :class:`~sksid.recommenders._sid.SIDRecommenderBase`)."""
        (out,) = self._eval_batches(module, lambda it, ln: self._rank(module, it, ln, k, validation),
                                    items, lengths,
                                    batch_size or self._inference_batch_size(module, k, validation))
        out = out.astype(np.int64, copy=False)
        empty = lengths == 0
        if empty.any():
            out[empty] = self.popular_items_[:k]
        return out

    def _rank_scores(self, module, items, lengths, k):  # pragma: no cover - abstract
        """``(ids, scores)`` tensors (B, k) of the ``k`` best items of a padded batch."""
        raise NotImplementedError

    def _top_items(self, X, seqs, k):
        items, lengths = pad_histories(seqs, self.max_len)
        module = self.net_.module_
        ids, scores = self._eval_batches(module, lambda it, ln: self._rank_scores(module, it, ln, k),
                                         items, lengths, self._inference_batch_size(module, k))
        ids = ids.astype(np.int64, copy=False)
        scores = scores.astype(np.float32, copy=False)
        empty = lengths == 0
        if empty.any():  # cold start: the training popularity ranking, no model score
            ids[empty] = self.popular_items_[:k]
            scores[empty] = np.nan
        return ids, scores



def clone_module_state(module):
    """A detached copy of a module's state dict (for tests and analysis)."""
    return copy.deepcopy({k: v.detach().cpu() for k, v in module.state_dict().items()})
