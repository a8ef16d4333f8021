"""SIDRanker: a CTR (binary) classifier on (user, item) rows fed item IDs and/or Semantic IDs."""
from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from ._validation import (
    NON_NEGATIVE_INT,
    NON_NEGATIVE_REAL,
    POSITIVE_INT,
    TRAINING_CONSTRAINTS,
    UNIT_INTERVAL_LEFT,
    check_codes,
    resolve_device,
)
from .base import CPUFallbackMixin, fill_docstring
from .interactions import SIDInteractions, check_interactions
from .nn.ranker import WEIGHT_MODES, PPNetRanker
from .training import FLOW_CONSTRAINTS, Monitor, TrainingMixin, eval_batches, training_doc

__all__ = ["SIDRanker"]


def _positive_histories(users, items, times, labels, order, H):
    """Per row (in ``order``), the last ``H`` positive items of its user strictly earlier
    in time (1-based ids, 0-padded), and per user the last ``H`` positives overall."""
    n = users.shape[0]
    hist = np.zeros((n, H), dtype=np.int64)
    last = {}
    if H == 0:
        return hist, last
    t = np.arange(n) if times is None else times
    by_user = order[np.argsort(users[order], kind="stable")]  # per user, time order
    bounds = np.flatnonzero(np.diff(users[by_user])) + 1
    for rows in np.split(by_user, bounds):
        pos = rows[labels[rows] == 1]
        if pos.size == 0:
            continue
        pos_items = items[pos] + 1
        # positives strictly earlier than each row (same timestamp: not yet seen)
        cnt = np.searchsorted(t[pos], t[rows], side="left") if times is not None else \
            np.searchsorted(pos, rows, side="left")
        for r, c in zip(rows, cnt):
            if c:
                h = pos_items[max(0, c - H):c]
                hist[r, H - h.size:] = h
        last[int(users[rows[0]])] = pos_items[-H:]
    return hist, last


@fill_docstring(blocks={
    "training": training_doc(["max_time", "lr_schedule", "ema_decay"]),
    "training_device": training_doc(["device", "random_state", "verbose", "compile", "checkpoint_dir",
                                     "callbacks"], auto="auto: off for this model, not measured faster; True compiles"),
})
class SIDRanker(CPUFallbackMixin, TrainingMixin, ClassifierMixin, BaseEstimator):
    """CTR ranker on (user, item) rows: item IDs, Semantic IDs, or SIDs with importance weights.

    A binary classifier (skorch-trained :class:`~sksid.nn.ranker.PPNetRanker`). The item
    representation follows what ``fit`` receives: no codes -> an item-ID embedding; codes
    -> the item-ID embedding and one embedding per code level, concatenated (SIDs alone
    with ``item_id=False``); codes and weights -> each code embedding scaled (or gated) by
    its importance weight. ADC-SID feeds the ranking model "both the mapping between item
    IDs and SIDs and the learned importance weights", hence item ID + SIDs by default.
    Inside ``Pipeline([("tok", ADCSIDTokenizer()), ("rank", SIDRanker())])`` the
    tokenizer hands codes and weights over (:class:`~sksid.interactions.SIDInteractions`).

    Input features of a row: the user embedding, the item representation, the mean
    representation of the user's previous positive items (``history_len`` most recent;
    at fit, only rows strictly earlier in time; at predict, the user's training
    positives: labels of the rows being predicted are never used) and the standardised
    extra numeric columns.

    Parameters
    ----------
    embedding_dim : int, default=16
        Size of the user, item-ID and every code embedding.
    hidden_dims : tuple of int, default=(64, 32)
        Widths of the hidden layers of the scoring network.
    backbone : {"ppnet", "mlp"}, default="ppnet"
        ``"ppnet"``: every hidden layer is scaled by a personalised gate
        ``2 sigmoid(G([user embedding, stop_grad(input)]))`` (PPNet, the ranking backbone
        of ADC-SID's experiments); ``"mlp"``: a plain MLP.
    gate_hidden_dim : int, default=64
        Hidden width of each PPNet gate network.
    item_id : bool, default=True
        Include the item-ID embedding. ``False`` (needs codes): items are represented
        by their SIDs alone, so every item with codes is represented alike whether it
        had training rows or not.
    code_weights : bool, default=True
        Use the codes' importance weights when given (``False``: every code counts alike).
    weight_mode : {"scale", "gate"}, default="scale"
        How a weight enters: ``"scale"`` multiplies the code embedding by the weight;
        ``"gate"`` by ``2 sigmoid(a_l w + b_l)``, learned per level. See docs/ranking.md
        for the measurement behind the default.
    history_len : int, default=20
        Previous positive items averaged into the history feature; 0 switches it off.
    dropout : float, default=0.0
        Dropout after every hidden layer.
    max_epochs : int, default=20
        Epoch cap; early stopping usually ends the fit sooner.
    batch_size : int, default=512
        Rows per training batch.
    lr : float, default=1e-3
        AdamW learning rate.
    weight_decay : float, default=0.0
        AdamW weight decay.
    patience : int or None, default=2
        Early-stopping patience (epochs without a better validation AUC, best epoch
        restored); None: no early stopping.
    validation_fraction : float in [0, 1), default=0.1
        The latest rows (in time) held out for early stopping on AUC (best epoch
        restored); 0 trains on every row for ``max_epochs``.
    {training}
    user_col : str, default="user_id"
        Column of a DataFrame ``X`` holding user ids (integers >= 0).
    item_col : str, default="item_id"
        Column holding item ids (integers >= 0, the codes' row space).
    time_col : str or None, default="timestamp"
        Column that orders the rows (history features, validation split); not a
        feature. Every column other than these three is a numeric extra feature.
    {training_device}
    **kwargs
        skorch-style ``module__*``, ``optimizer__*``, ``iterator_train__*`` parameters.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
    n_users_, n_items_ : int
        Sizes of the user and item id spaces (items: the codes' rows when given).
    item_representation_ : str
        ``"id"``, ``"sid"``, ``"sid+weights"``, ``"id+sid"`` or ``"id+sid+weights"``.
    known_users_, known_items_ : ndarray of bool
        Users and items with at least one training row.
    extra_names_ : list of str
    net_ : SIDNet
    history_ : list of dict
        Per epoch: ``train_loss``, ``valid_auc`` (with validation), ``dur``.
    n_epochs_, device_

    Notes
    -----
    **Unknown ids at predict** (a documented cold-start fallback with a
    :class:`UserWarning` giving the count): a user without a training row gets the zero
    user embedding and an empty history; an item without a training row gets a zero
    item-ID embedding, while its SIDs (when the codes cover it) still represent it,
    which is what Semantic IDs are for. An item id outside the codes' catalogue raises.
    With item IDs only, any unseen item id falls back to the zero embedding.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.RandomState(0)
    >>> X = pd.DataFrame({"user_id": rng.randint(0, 20, 400), "item_id": rng.randint(0, 30, 400)})
    >>> y = (X["item_id"] % 2 == 0).astype(int)
    >>> codes = np.stack([np.arange(30) % 2, np.arange(30) // 2], 1)
    >>> clf = SIDRanker(max_epochs=30, lr=1e-2, validation_fraction=0.0, device="cpu",
    ...                 random_state=0).fit(X, y, codes=codes)
    >>> clf.predict_proba(X).shape, clf.item_representation_
    ((400, 2), 'id+sid')
    >>> bool(clf.score(X, y) > 0.9)
    True
    """

    _parameter_constraints: dict = {
        **TRAINING_CONSTRAINTS,
        "embedding_dim": [POSITIVE_INT],
        "hidden_dims": [tuple, list],
        "backbone": [StrOptions({"ppnet", "mlp"})],
        "gate_hidden_dim": [POSITIVE_INT],
        "item_id": ["boolean"],
        "code_weights": ["boolean"],
        "weight_mode": [StrOptions(set(WEIGHT_MODES))],
        "history_len": [NON_NEGATIVE_INT],
        "dropout": [UNIT_INTERVAL_LEFT],
        "weight_decay": [NON_NEGATIVE_REAL],
        **FLOW_CONSTRAINTS,
        "validation_fraction": [UNIT_INTERVAL_LEFT],
        "user_col": [str],
        "item_col": [str],
        "time_col": [str, None],
    }

    def __init__(self, embedding_dim=16, hidden_dims=(64, 32), backbone="ppnet", gate_hidden_dim=64,
                 item_id=True, code_weights=True, weight_mode="scale", history_len=20, dropout=0.0,
                 max_epochs=20, batch_size=512, lr=1e-3, weight_decay=0.0, patience=2,
                 validation_fraction=0.1, max_time=None, lr_schedule="constant", ema_decay=None,
                 user_col="user_id", item_col="item_id", time_col="timestamp", device="auto",
                 random_state=None, verbose=0, compile="auto", checkpoint_dir=None, callbacks=None, **kwargs):
        self.embedding_dim = embedding_dim
        self.hidden_dims = hidden_dims
        self.backbone = backbone
        self.gate_hidden_dim = gate_hidden_dim
        self.item_id = item_id
        self.code_weights = code_weights
        self.weight_mode = weight_mode
        self.history_len = history_len
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.max_time = max_time
        self.lr_schedule = lr_schedule
        self.ema_decay = ema_decay
        self.user_col = user_col
        self.item_col = item_col
        self.time_col = time_col
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.compile = compile
        self.checkpoint_dir = checkpoint_dir
        self.callbacks = callbacks
        self._store_prefixed(kwargs)

    # ---- input ------------------------------------------------------------------------
    def _rows(self, X):
        return check_interactions(X, user_col=self.user_col, item_col=self.item_col, time_col=self.time_col)

    def _check_hidden_dims(self):
        dims = tuple(self.hidden_dims)
        if not dims or not all(POSITIVE_INT.is_satisfied_by(h) for h in dims):
            raise ValueError(f"hidden_dims must be a non-empty tuple of positive ints, got {self.hidden_dims!r}")
        return dims

    def _encode_labels(self, y, n):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"y must be 1-D with one label per row of X ({n}), got shape {y.shape}")
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or inf")
        kind = type_of_target(y)
        classes = np.unique(y)
        if classes.size == 1:
            raise ValueError(f"y holds a single class ({classes[0]!r}); SIDRanker needs both a positive "
                             "and a negative label (e.g. rating > 3 vs <= 3)")
        if kind != "binary":
            raise ValueError(f"SIDRanker is a binary classifier but y is {kind!r} (values "
                             f"{classes[:10].tolist()}); binarise it, e.g. y = (rating > 3).astype(int)")
        self.classes_ = classes
        return (y == classes[1]).astype(np.float32)

    def _item_index(self, items, warn):
        """1-based item indices; unknown ids -> 0 (or an error when codes exist)."""
        idx = items + 1
        outside = items >= self.n_items_
        if outside.any():
            if self.codes_ is not None:
                raise ValueError(f"X holds item id {int(items.max())} but the codes cover {self.n_items_} "
                                 "items; pass codes (a tokenizer fitted) for the whole catalogue")
            idx = np.where(outside, 0, idx)
        unseen = outside | ~self.known_items_[np.minimum(items, self.n_items_ - 1)]
        if warn and unseen.any() and self.item_representation_.startswith("id"):
            what = ("their SIDs still represent them" if self.codes_ is not None
                    else "they get a zero item embedding (cold start)")
            warnings.warn(f"{int(unseen.sum())} row(s) hold items without a training row; their item-ID "
                          f"embedding is zero, {what}", UserWarning, stacklevel=3)
        return idx

    def _user_index(self, users, warn):
        known = np.zeros(users.shape[0], bool)
        inside = users < self.n_users_
        known[inside] = self.known_users_[users[inside]]
        if warn and not known.all():
            warnings.warn(f"{int((~known).sum())} row(s) hold users without a training row; they get the "
                          "zero user embedding and an empty history (cold start)", UserWarning, stacklevel=3)
        return np.where(known, users + 1, 0)

    def _extra(self, rows):
        if rows.extra.shape[1] != len(self.extra_names_) or rows.extra_names != self.extra_names_:
            raise ValueError(f"X has the extra columns {rows.extra_names}, but the ranker was fitted with "
                             f"{self.extra_names_}")
        return ((rows.extra - self.extra_mean_) / self.extra_scale_).astype(np.float32)

    # ---- fit --------------------------------------------------------------------------
    _compile_auto = False  # not measured faster on this MLP; compile=True asks for it

    def fit(self, X, y, codes=None, weights=None, resume=False):
        """Fit on interaction rows ``X`` and their binary labels ``y``.

        Parameters
        ----------
        X : DataFrame, 2-D array or SIDInteractions
            ``user_col``, ``item_col`` (integer ids >= 0), optional ``time_col`` and
            numeric extra columns; an array holds user, item, extras. A
            :class:`~sksid.interactions.SIDInteractions` (a tokenizer's ``transform``)
            brings its codes and weights.
        y : array-like of shape (n_rows,)
            Two classes; ``classes_[1]`` is the positive one.
        codes : array-like of shape (n_items, L), optional
            Semantic IDs of every catalogue item (row ``i`` = item id ``i``).
        weights : array-like of shape (n_items, L), optional
            Importance weight of every code (needs ``codes``).
        resume : bool, default=False
            Continue an interrupted fit from the latest checkpoint in ``checkpoint_dir``
            (same data and parameters; ``max_epochs``, ``max_time`` and ``verbose`` may
            change).

        Returns
        -------
        self
        """
        self._validate_params()
        seed = self._training_seed(resume)
        hidden = self._check_hidden_dims()
        sizes = None
        if isinstance(X, SIDInteractions) and codes is None:
            codes, weights, sizes = X.codes, (X.weights if weights is None else weights), X.codebook_sizes
        rows = self._rows(X)
        n = len(rows)
        labels = self._encode_labels(y, n)
        if weights is not None and codes is None:
            raise ValueError("weights were given without codes; pass codes=(n_items, L) as well")
        if codes is not None:
            codes, weights = check_codes(codes, weights)
            if rows.items.max() >= codes.shape[0]:
                raise ValueError(f"codes has {codes.shape[0]} rows but X holds item id {int(rows.items.max())}: "
                                 "codes needs one row per catalogue item (row i = item id i); refit the "
                                 "tokenizer on the whole catalogue")
        if not self.code_weights:
            weights = None
        use_id = bool(self.item_id)
        if codes is None and not use_id:
            raise ValueError("item_id=False needs codes: pass fit(X, y, codes=...) or use a tokenizer")
        self.codes_, self.weights_ = codes, weights
        self.item_representation_ = "+".join(
            (["id"] if use_id else []) + (["sid"] if codes is not None else [])
            + (["weights"] if weights is not None else []))
        self.n_items_ = int(codes.shape[0]) if codes is not None else int(rows.items.max()) + 1
        self.n_users_ = int(rows.users.max()) + 1
        self.known_users_ = np.bincount(rows.users, minlength=self.n_users_) > 0
        self.known_items_ = np.bincount(rows.items, minlength=self.n_items_) > 0
        self.extra_names_ = list(rows.extra_names)
        self.extra_mean_ = rows.extra.mean(0) if rows.extra.shape[1] else np.zeros(0, np.float32)
        sd = rows.extra.std(0) if rows.extra.shape[1] else np.ones(0, np.float32)
        self.extra_scale_ = np.where(sd > 1e-12, sd, 1.0).astype(np.float32)

        order = rows.time_order()
        H = int(self.history_len)
        hist, last = _positive_histories(rows.users, rows.items, rows.times, labels.astype(np.int64),
                                         order, H)
        self.user_histories_ = np.zeros((self.n_users_ + 1, H), dtype=np.int64)  # row 0: unknown user
        for u, h in last.items():
            self.user_histories_[u + 1, H - h.size:] = h

        data = {"user": rows.users + 1, "item": rows.items + 1, "history": hist,
                "extra": self._extra(rows), "label": labels}
        self.device_ = resolve_device(self.device)
        n_val = int(round(self.validation_fraction * n))
        val_rows = order[n - n_val:] if n_val else order[:0]
        if n_val and np.unique(labels[val_rows]).size < 2:
            val_rows = order[:0]  # AUC needs both classes: no early stopping
        train_mask = np.ones(n, bool)
        train_mask[val_rows] = False
        train = {k: v[train_mask] for k, v in data.items()}
        if np.unique(train["label"]).size < 2:
            raise ValueError("the training rows (after the validation hold-out) hold a single class; "
                             "lower validation_fraction or add rows of both classes")

        monitor, valid = None, {}
        if val_rows.size:
            valid = {k: v[val_rows] for k, v in data.items()}

            def valid_auc(net):
                from sklearn.metrics import roc_auc_score
                return roc_auc_score(valid["label"], self._logits(net.module_, valid))

            monitor = Monitor("valid_auc", valid_auc)

        module_kwargs = dict(
            n_users=self.n_users_, n_items=self.n_items_, dim=self.embedding_dim, hidden_dims=hidden,
            backbone=self.backbone, gate_hidden_dim=self.gate_hidden_dim, use_history=H > 0,
            n_extra=len(self.extra_names_), dropout=self.dropout, codes=codes, weights=weights,
            codebook_sizes=sizes, use_item_id=use_id, weight_mode=self.weight_mode)
        known = np.zeros(self.n_items_ + 1, np.float32)
        known[1:] = self.known_items_

        def init_module(module):  # which item ids have a trained embedding (cold start: zero)
            module.items.id_known.copy_(torch.as_tensor(known))

        self.net_, self.history_ = self._train_net(
            PPNetRanker, module_kwargs, train, seed=seed, resume=resume, monitor=monitor,
            fingerprint_data=[valid[k] for k in sorted(valid)], init_module=init_module)
        self.n_epochs_ = len(self.history_)
        return self

    # ---- predict ----------------------------------------------------------------------
    def _logits(self, module, data):
        bs = max(int(self.batch_size), 2048)
        (out,) = eval_batches(module, lambda u, i, h, e: module(u, i, h, e)["logits"],
                              (data["user"], data["item"], data["history"], data["extra"]), bs, self.device_)
        return out.astype(np.float64)

    def decision_function(self, X):
        """Logit of the positive class for every row of ``X`` (shape ``(n_rows,)``)."""
        check_is_fitted(self, "net_")
        rows = self._rows(X)
        users = self._user_index(rows.users, warn=True)
        data = {"user": users, "item": self._item_index(rows.items, warn=True),
                "history": self.user_histories_[users], "extra": self._extra(rows)}
        return self._logits(self.net_.module_, data)

    def predict_proba(self, X):
        """Probabilities of ``classes_``, shape ``(n_rows, 2)``."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.stack([1.0 - p, p], 1)

    def predict(self, X):
        """The more probable class of every row (threshold 0.5)."""
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.requires_fit = True
        tags.input_tags.allow_nan = False
        return tags
