"""The torch-backed sequential recommender (:class:`TorchSequentialRecommender`): the
skeleton SASRec, IntRR, TIGER and RPG share. It turns histories into causal training windows
and a held-out validation target per user, trains through the one flow of
:mod:`sksid.training` (early stopping on validation NDCG@10), and ranks on the device in
batches, with the popularity ranking for empty histories."""
from __future__ import annotations

import numpy as np

from .._validation import (
    POSITIVE_INT,
    TRAINING_CONSTRAINTS,
    UNIT_INTERVAL_LEFT,
    check_sequences,
    check_targets,
    resolve_device,
)
from ..base import CPUFallbackMixin
from ..metrics import ndcg_at_k
from ..sequences import SIDSequences, pad_histories, training_windows
from ..training import FLOW_CONSTRAINTS, Monitor, TrainingMixin, eval_batches, training_doc
from ._base import EXCLUDE_SEEN_DOC, BaseRecommender

__all__ = ["TorchSequentialRecommender", "RECOMMENDER_DOC"]

MIN_VALIDATION_USERS = 500

#: numpydoc entries every torch recommender shares (``{training}``, ``{exclude_seen}`` in
#: its docstring, filled by :func:`sksid.base.fill_docstring`)
RECOMMENDER_DOC = {
    "training": training_doc(["max_time", "batch_size"], default=256)
    + """    weight_decay : float, default=0.0
        AdamW weight decay.
""" + training_doc(["lr_schedule", "ema_decay"]) + """    validation_fraction : float, default=0.1
        Share of the users whose target ``y`` is held out for early stopping when no
        ``eval_set`` is given (at least 500 users, or half of them on smaller data:
        NDCG on fewer is too noisy to stop on). Their histories still train; 0
        disables early stopping.
""" + training_doc(["device", "random_state", "verbose", "compile", "checkpoint_dir", "callbacks"]),
    "exclude_seen": EXCLUDE_SEEN_DOC,
}


class TorchSequentialRecommender(CPUFallbackMixin, TrainingMixin, BaseRecommender):
    """Skeleton of the torch-backed sequential recommenders.

    Subclasses set ``_module_class`` and implement ``_module_kwargs(catalogue, seed)``,
    ``_train_inputs(inputs, targets, catalogue)`` (the dict passed to ``module(**batch)``
    in training) and ``_rank(module, items, lengths, k)`` (top-``k`` ids of a padded
    batch, on the device); ``catalogue`` is what ``_prepare_catalogue`` returned. Shared
    parameters (documented on each subclass): ``max_len``, ``validation_fraction``,
    ``top_k`` and the options of the training flow (:mod:`sksid.training`).
    """

    _module_class = None
    _needs_codes = False

    _fitted_attr = "net_"
    _parameter_constraints: dict = {
        **BaseRecommender._parameter_constraints,
        **TRAINING_CONSTRAINTS,
        **FLOW_CONSTRAINTS,
        "dropout": [UNIT_INTERVAL_LEFT],
        "max_len": [POSITIVE_INT],
        "validation_fraction": [UNIT_INTERVAL_LEFT],
    }

    # ---- hooks ------------------------------------------------------------------------
    def _module_kwargs(self, catalogue, seed) -> dict:  # pragma: no cover - abstract
        """The module's arguments (``catalogue``: what :meth:`_prepare_catalogue` returned;
        ``seed``: the fit's seed, for data-dependent initialisations)."""
        raise NotImplementedError

    def _train_inputs(self, inputs: np.ndarray, targets: np.ndarray, catalogue) -> dict:
        """The arrays of ``module(**batch)`` in training (``catalogue``: what
        :meth:`_prepare_catalogue` returned)."""
        return {"items": inputs, "targets": targets}

    def _rank(self, module, items, lengths, k, validation=False):  # pragma: no cover - abstract
        raise NotImplementedError

    def _prepare_catalogue(self, X, seqs, y):
        """Set ``n_items_`` (and the fitted codes of SID models) from the training input
        ``X`` (validated as ``seqs``, ``y``) and return the fit-time catalogue data the
        module needs beyond its fitted attributes (None here; SID models: the behaviour
        model's item table a tokenizer passed)."""
        self.n_items_ = self._catalogue_size(X, seqs, y)
        return None

    # ---- fit ---------------------------------------------------------------------------
    def _validate_fit_input(self, X, y):
        if isinstance(X, SIDSequences):
            seqs = check_sequences(X, n_items=X.n_items)
        else:
            seqs = check_sequences(X)
        y = None if y is None else check_targets(y, len(seqs))
        return seqs, y

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
        return self._fit(X, y, eval_set, resume)

    def _fit(self, X, y, eval_set, resume, **catalogue_args):
        """:meth:`fit`; ``catalogue_args`` go to :meth:`_prepare_catalogue` (SID models'
        ``codes``, ``weights``)."""
        self._validate_params()
        seed = self._training_seed(resume)
        seqs, y = self._validate_fit_input(X, y)
        catalogue = self._prepare_catalogue(X, seqs, y, **catalogue_args)
        n_items = self.n_items_
        if y is not None and y.size and y.max() >= n_items:
            raise ValueError(f"y contains item id {int(y.max())} >= n_items ({n_items})")
        self._check_top_k(n_items)
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
        self._fit_popularity(seqs, None if y is None else y[~held], n_items)

        monitor, valid = None, ()
        if valid_X is not None and len(valid_X):
            v_items, v_len = pad_histories(valid_X, self.max_len)
            valid = (v_items, v_len, valid_y)

            def valid_ndcg(net):
                k = min(10, n_items)  # catalogues smaller than 10 items: NDCG over all
                return ndcg_at_k(valid_y, self._predict_padded(net.module_, v_items, v_len, k, validation=True), k)

            monitor = Monitor("valid_ndcg", valid_ndcg)
        self.net_, self.history_ = self._train_net(
            self._module_class, self._module_kwargs(catalogue, seed), self._train_inputs(inputs, targets, catalogue),
            seed=seed, resume=resume, monitor=monitor, fingerprint_data=valid)
        self.n_epochs_ = len(self.history_)
        self._after_training(valid)
        return self

    def _after_training(self, valid):
        """Hook run once the net is trained: ``valid`` is ``(items, lengths, targets)`` of the
        early-stopping validation set (padded), or ``()`` without one. Nothing here."""

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

