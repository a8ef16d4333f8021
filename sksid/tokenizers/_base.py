"""Machinery shared by every sksid tokenizer (ADC-SID, RQ-VAE, RQ-KMeans, OPQ, LETTER, MM-RQ-VAE).

Input forms (``fit``, ``transform``, ``fit_transform``):

* **dict** ``{modality: (n_items, d_m) array}``: named modalities; the key equal to
  ``behavior_modality`` (default ``"collab"``) is the behavioural embedding, every other
  key a content modality.
* **DataFrame**: columns are grouped by a ``"modality:"`` prefix (``"text:0"``,
  ``"text:1"``, ``"collab:0"`` ...); columns without a ``:`` form one content modality
  named ``"content"``.
* **2-D array**: split into modalities by ``modality_dims`` (dict name -> dim, or list of
  ``(name, dim)``, in column order); with ``modality_dims=None`` all columns are **one
  content modality** named ``"content"`` (no behavioural modality, hence no behavioural
  codes for ADC-SID).
* **list of item-id histories** (a ``list``/``tuple``/:class:`~sksid.sequences.SIDSequences`
  , an object array or a pandas Series of histories), with ``y`` the next items: the Pipeline path. Behavioural embeddings
  are learned by fitting a clone of ``behavior_estimator`` (default
  :class:`~sksid.recommenders.SASRecRecommender`) on ``(X, y)`` only, joined with the
  content arrays of ``item_features`` (rows = catalogue items), and the catalogue is
  quantised. ``transform(histories)`` returns ``SIDSequences(X, codes=, weights=,
  codebook_sizes=)``.
* **interaction frame** (a DataFrame with ``user_id`` and ``item_id`` columns, optional
  ``timestamp``), with ``y`` the 0/1 labels (required): the CTR-ranking Pipeline path. The positive
  rows, in time order, become one history per user
  (:func:`sksid.interactions.interactions_to_histories`) and the tokenizer fits on those
  as above; the catalogue is ``item_features``' rows, else ``n_items``, else one more
  than the largest item id of the frame. ``transform(frame)`` returns
  ``SIDInteractions(frame, codes=, weights=, codebook_sizes=)`` for
  :class:`sksid.SIDRanker`. Only the rows given to ``fit`` reach the behaviour model.

On feature input ``transform`` returns ``(codes, weights)``: int64 and float32 arrays of
shape ``(n_items, L)``.

Each modality is standardised with a fitted per-modality scaling (column means removed,
one scalar RMS scale per modality; stored in ``scalers_``): the geometry inside a
modality is kept, and modalities of different scales (unit sentence embeddings,
un-normalised SASRec vectors) weigh alike. Euclidean baselines additionally divide
modality ``m`` by ``sqrt(d_m)``, so the squared error they minimise equals the reported
reconstruction loss: the **sum over modalities of the per-dimension MSE** in the
standardised space, the same number for every tokenizer.
"""
from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import check_is_fitted

from .._validation import (
    POSITIVE_INT,
    TRAINING_CONSTRAINTS,
    UNKNOWN_ITEMS_HINT,
    StrictInterval,
    check_random_state_seed,
    check_sequences,
    check_targets,
    resolve_device,
)
from ..base import fill_docstring
from ..behavior import fit_behavior_model
from ..interactions import SIDInteractions, check_interactions, interactions_to_histories, is_interaction_frame
from ..sequences import SIDSequences, catalogue_of
from ..training import torch_seed
from ._input import FeatureInputMixin, feature_rows, is_histories, take_rows

__all__ = ["BaseTokenizer", "tiger_suffix", "tokenizer_docstring", "TOKENIZER_DOC", "TOKENIZER_IO_DOC"]

# numpydoc entries every tokenizer shares (put where a docstring says ``{tokenizer_common}``)
TOKENIZER_DOC = """    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the quantiser (and the default behaviour model) trains (auto: CUDA when
        available).
    random_state : int, RandomState or None, default=None
        Seed of the initialisation (k-means), the batch order and the behaviour model:
        the same int gives the same codes on the same device.
    verbose : int, default=0
        1 prints the epoch tables of the tokenizer's training and of the behaviour model it
        fits on histories (the default SASRec), 2 adds batch progress bars.
"""

#: numpydoc entries of the input options every tokenizer shares
TOKENIZER_IO_DOC = """    modality_dims : dict or list of (name, dim), optional
        Column split of a 2-D array input; None: one content modality ``"content"``.
    behavior_modality : str, default="collab"
        Name of the behavioural modality.
    disambiguate : bool, default=False
        Append TIGER's extra code (0, 1, 2, ... within a colliding group, weight 1).
    behavior_estimator : estimator, optional
        Behaviour model for histories input (needs ``item_embeddings_``); default
        ``SASRecRecommender(random_state=..., device=device)``. Cloned, fitted on (X, y) only.
    n_items : int, optional
        Catalogue size on histories input without ``item_features``; None: that of
        :class:`~sksid.sequences.Histories` (``leave_last_out``'s parts), else inferred.
"""
TOKENIZER_DOC += TOKENIZER_IO_DOC


def tokenizer_docstring(cls):
    """Class decorator: fill ``{tokenizer_common}`` with :data:`TOKENIZER_DOC`."""
    return fill_docstring(cls, {"tokenizer_common": TOKENIZER_DOC})


def tiger_suffix(codes: np.ndarray) -> np.ndarray:
    """TIGER's disambiguation code: 0, 1, 2, ... within each group of identical tuples
    (in item order).

    Examples
    --------
    >>> tiger_suffix(np.array([[0, 1], [2, 2], [0, 1], [0, 1]])).tolist()
    [0, 0, 1, 2]
    """
    n = codes.shape[0]
    _, inv, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    inv = inv.reshape(-1)
    order = np.argsort(inv, kind="stable")
    first = np.zeros(len(counts), dtype=np.int64)
    first[1:] = np.cumsum(counts)[:-1]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - first[inv[order]]
    return rank


def _shared_items(codes: np.ndarray) -> np.ndarray:
    _, inv, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    return np.flatnonzero(counts[inv.reshape(-1)] > 1)


class BaseTokenizer(FeatureInputMixin, TransformerMixin, BaseEstimator):
    """Common fit/transform skeleton of the tokenizers (see the module docstring).

    Subclasses implement ``_fit_features(std, raw, seed, resume, **fit_args) -> state``
    (``fit_args``: the subclass's extra ``fit`` arguments; ``state``: what encoding the
    training catalogue needs, passed to ``_encode_fitted``), ``_encode(std, raw,
    rows=None, n_rows=None, **transform_args) -> (codes, weights, recon_per_item)``
    (``rows``: the slice of the input's ``n_rows`` rows being encoded; ``transform``
    encodes feature input in chunks of ``_transform_chunk`` rows, so its working memory
    does not grow with the catalogue) and ``_code_length()``; they may override
    ``_encode_fitted(std, raw, state)`` and ``_behavior_positions()``. They extend
    ``_parameter_constraints`` (validated at the start of ``fit``); the torch-trained
    ones derive from :class:`~sksid.tokenizers._torch.TorchTokenizer`.
    """

    _parameter_constraints: dict = {
        "codebook_size": [StrictInterval(Integral, 2, None, closed="left")],
        "device": TRAINING_CONSTRAINTS["device"],
        "random_state": TRAINING_CONSTRAINTS["random_state"],
        "verbose": TRAINING_CONSTRAINTS["verbose"],
        "modality_dims": [dict, list, tuple, None],
        "behavior_modality": [str],
        "disambiguate": ["boolean"],
        "behavior_estimator": [HasMethods(["fit"]), None],
        "n_items": [POSITIVE_INT, None],
    }

    _transform_chunk = 1 << 16  # rows per transform chunk (feature input)

    def _check_n_items(self, n):
        K = self.codebook_size
        if n < max(K, 2):
            raise ValueError(f"{type(self).__name__} got n_samples = {n} item(s), but "
                             f"codebook_size={K} needs at least {max(K, 2)} items to fit")

    # ---- histories path ------------------------------------------------------------
    def _features_from_histories(self, X, y, item_features, seed, n_items_seen=0):
        """The modalities of a histories fit: the content of ``item_features`` and the
        behavioural item table of :func:`sksid.behavior.fit_behavior_model` on ``(X, y)``."""
        seqs = check_sequences(X)
        if y is None:
            raise ValueError("fitting a tokenizer on interaction histories needs y (the next items)")
        y = check_targets(y, len(seqs))
        content = {}
        if item_features is not None:
            if not isinstance(item_features, Mapping):
                raise TypeError("item_features must be a dict {modality: (n_items, d) array} "
                                "(or a sksid.feature_store.FeatureStore)")
            if self.behavior_modality in item_features:
                raise ValueError(f"item_features must not contain the behavioural modality "
                                 f"{self.behavior_modality!r}: it is learned from X, y")
            content = self._parse_features(item_features, reset=True)
        hi = max(max((int(s.max()) for s in seqs if s.size), default=-1), int(y.max()) if y.size else -1)
        carried = catalogue_of(X)  # Histories (leave_last_out's parts): the split's catalogue
        if content:
            n_items = next(iter(content.values())).shape[0]
            if carried is not None and carried > n_items:
                raise ValueError(f"item_features have {n_items} rows but the histories carry a "
                                 f"catalogue of {carried} items; give one feature row per item "
                                 "of the dataset (sksid.features.item_features(dataset))")
        elif self.n_items is not None:
            n_items = int(self.n_items)
        else:
            n_items = max(hi + 1, n_items_seen, carried or 0)
        if max(hi + 1, n_items_seen) > n_items:
            hi = max(hi, n_items_seen - 1)
            raise ValueError(f"X/y contain item id {hi} but the catalogue has {n_items} items")
        behavior = fit_behavior_model(seqs, y, n_items, self.behavior_estimator, seed=seed,
                                      device=self.device, verbose=self.verbose)
        self.behavior_estimator_ = behavior.estimator
        self.item_popularity_ = behavior.counts
        self.item_embeddings_ = behavior.item_embeddings
        feats = dict(content)
        feats[self.behavior_modality] = behavior.item_embeddings
        self.modality_dims_ = {m: int(a.shape[1]) for m, a in feats.items()}
        return feats

    # ---- fit / transform -------------------------------------------------------------
    def fit(self, X, y=None, item_features=None, resume=False):
        """Learn the codebooks (see the module docstring for the input forms).

        Parameters
        ----------
        X : dict, DataFrame, 2-D array, list of item-id histories or interaction frame
        y : array-like of int, optional
            Next item of each history (histories), 0/1 label of each row (interaction
            frame); ignored for features.
        item_features : dict of str to array, optional
            Content features of the catalogue (histories only).
        resume : bool, default=False
            Continue an interrupted fit from the latest checkpoint in ``checkpoint_dir``
            (same data and parameters; ``max_epochs``, ``max_time`` and ``verbose`` may
            change). Only the torch-trained tokenizers (ADC-SID, RQ-VAE, LETTER, MM-RQ-VAE) write
            checkpoints; the others refuse it.

        Returns
        -------
        self
        """
        return self._fit(X, y, item_features, resume)

    def _training_seed(self, resume):
        if resume:
            raise ValueError(f"{type(self).__name__} has no checkpoints to resume from")
        return check_random_state_seed(self.random_state)

    def _fit(self, X, y, item_features, resume=False, **fit_args):
        """:meth:`fit`; ``fit_args`` go to ``_fit_features``."""
        self._validate_params()
        seed = self._training_seed(resume)
        device = resolve_device(self.device)
        for attr in ("behavior_estimator_", "item_popularity_", "item_embeddings_", "_column_groups_"):
            self.__dict__.pop(attr, None)
        if is_interaction_frame(X):
            if y is None:  # the CTR path needs labels; next-item recommenders need histories
                raise ValueError(
                    "X is a DataFrame of interaction rows but y is None. For CTR ranking "
                    "(tokenizer -> SIDRanker) pass y, the 0/1 label of each row. For next-item "
                    "recommendation (tokenizer -> IntRR / TIGER / RPG) pass histories: ds = "
                    "sksid.datasets.from_interactions(df, user_col=..., item_col=..., time_col=...), "
                    "split = sksid.model_selection.leave_last_out(ds), then fit(split.X_train, "
                    "split.y_train).")
            hist, nxt, n_seen = interactions_to_histories(X, y)
            raw = self._features_from_histories(hist, nxt, item_features, seed, n_items_seen=n_seen)
            self.input_kind_ = "interactions"
        elif is_histories(X):
            raw = self._features_from_histories(X, y, item_features, seed)
            self.input_kind_ = "histories"
        else:
            if item_features is not None:
                raise ValueError("item_features is only used with interaction histories; "
                                 "pass every modality in X")
            raw = self._parse_features(X, reset=True)
            self.input_kind_ = "features"
        n = next(iter(raw.values())).shape[0]
        self._check_n_items(n)
        self._check_modalities(raw)
        self._fit_scalers(raw)
        std = self._standardize(raw)
        self.device_ = device
        with torch_seed(seed, device):
            state = self._fit_features(std, raw, seed, resume, **fit_args)
        codes, weights, recon = self._encode_fitted(std, raw, state)
        codes = self._resolve_codes(codes, lambda idx: {m: a[idx] for m, a in std.items()})
        self.recon_loss_ = float(np.mean(recon))
        self.code_length_ = codes.shape[1]
        self.collisions_ = _shared_items(codes)
        self.collision_rate_ = float(1.0 - np.unique(codes, axis=0).shape[0] / n)
        self.codes_, self.weights_ = self._finish_codes(codes, weights)
        extra = [int(self.codes_[:, -1].max()) + 1] if self.disambiguate else []
        self.codebook_sizes_ = tuple(self._codebook_sizes()) + tuple(extra)
        self.n_items_ = n
        return self

    def _check_modalities(self, raw):
        """Hook: modality-specific checks (ADC-SID)."""

    def _resolve_codes(self, codes, rows_of):
        """Hook: rework the codes of a whole input (fit's catalogue, every chunk of a
        ``transform`` joined) before disambiguation; ``rows_of(idx)`` gives the standardised
        modalities of the rows ``idx``. LETTER separates colliding items here."""
        return codes

    def _encode_fitted(self, std, raw, state):
        """Encode the training catalogue right after fitting (``state``: what
        ``_fit_features`` returned)."""
        return self._encode(std, raw)

    def _codebook_sizes(self):
        return [self.codebook_size] * self._code_length()

    def _finish_codes(self, codes, weights):
        codes = codes.astype(np.int64)
        weights = weights.astype(np.float32)
        if self.disambiguate:
            codes = np.concatenate([codes, tiger_suffix(codes)[:, None]], 1)
            weights = np.concatenate([weights, np.ones((len(codes), 1), np.float32)], 1)
        return codes, weights

    def transform(self, X):
        """Codes of items (feature input) or histories with the fitted codes attached.

        Parameters
        ----------
        X : dict, DataFrame, 2-D array, list of item-id histories or interaction frame

        Returns
        -------
        (codes, weights) : int64 and float32 arrays of shape (n_items, L)
            For feature input. With ``disambiguate=True`` the extra last code is computed
            within the given rows (pass the whole catalogue).
        SIDSequences
            For a list of item-id histories (ids must lie in ``[0, n_items_)``).
        SIDInteractions
            For an interaction frame (item ids must lie in ``[0, n_items_)``): the rows
            unchanged, with the catalogue's codes and weights.
        """
        return self._transform(X)

    def _transform(self, X, **transform_args):
        """:meth:`transform`; ``transform_args`` go to ``_encode`` (feature input)."""
        check_is_fitted(self, "codes_")
        if is_interaction_frame(X):
            frame = X.frame if isinstance(X, SIDInteractions) else X
            items = check_interactions(frame).items
            if items.max() >= self.n_items_:
                raise ValueError(
                    f"X holds item id {int(items.max())} but the tokenizer's catalogue has "
                    f"{self.n_items_} items and no codes for it; fit with item_features "
                    "covering the whole catalogue (or n_items=<catalogue size>)")
            return SIDInteractions(frame, codes=self.codes_, weights=self.weights_,
                                   codebook_sizes=self.codebook_sizes_)
        if is_histories(X):
            seqs = check_sequences(X, n_items=self.n_items_, unknown_hint=UNKNOWN_ITEMS_HINT)
            return SIDSequences(seqs, codes=self.codes_, weights=self.weights_,
                                codebook_sizes=self.codebook_sizes_,
                                item_embeddings=getattr(self, "item_embeddings_", None))
        n = feature_rows(X)
        step = max(1, int(self._transform_chunk))
        codes, weights = [], []
        for start in range(0, max(n, 1), step):  # bounded working memory for any catalogue size
            rows = slice(start, min(start + step, n))
            raw = self._parse_features(X if n <= step else take_rows(X, rows), reset=False)
            c, w, _ = self._encode(self._standardize(raw), raw, rows=rows, n_rows=n, **transform_args)
            codes.append(c)
            weights.append(w)
        codes = self._resolve_codes(np.concatenate(codes), lambda idx: self._standardize(
            self._parse_features(take_rows(X, idx), reset=False)))
        return self._finish_codes(codes, np.concatenate(weights))

    def fit_transform(self, X, y=None, item_features=None):
        """``fit(X, y, item_features)`` then ``transform(X)``."""
        return self.fit(X, y, item_features=item_features).transform(X)

    # ---- report ----------------------------------------------------------------------
    def _behavior_positions(self):
        return np.zeros(0, dtype=np.int64)

    def quantization_report(self, item_popularity=None):
        """Quantisation metrics of the fitted catalogue codes.

        Parameters
        ----------
        item_popularity : array-like of int, shape (n_items_,), optional
            Training interaction counts; defaults to the counts of the histories the
            tokenizer was fitted on (Pipeline path), else to the ``item_counts`` given to
            ``fit`` (ADC-SID). Without counts there is no popularity table.

        Returns
        -------
        dict
            ``recon_loss`` (sum over modalities of the per-dimension MSE, standardised
            space), ``entropy`` (bits, per codebook), ``utilization`` (per codebook),
            ``collision_rate`` (before disambiguation), ``code_length`` and
            ``popularity``: a DataFrame with one row per stratum (head = top 25% of
            items by popularity, tail = bottom 25%, all) giving the mean behavioural
            code weight and the mean number of active (weight > 0) behavioural experts
            (NaN for tokenizers without behavioural codes).
        """
        import pandas as pd

        from ..metrics import code_entropy, codebook_utilization, collision_rate, popularity_strata

        check_is_fitted(self, "codes_")
        L = self.code_length_
        codes = self.codes_[:, :L]
        sizes = list(self.codebook_sizes_[:L])
        rep = {
            "recon_loss": self.recon_loss_,
            "entropy": code_entropy(codes, sizes, per_position=True),
            "utilization": codebook_utilization(codes, sizes, per_position=True),
            "collision_rate": collision_rate(codes),
            "code_length": L,
        }
        if item_popularity is None:
            item_popularity = getattr(self, "item_popularity_", None)
        if item_popularity is None:
            item_popularity = getattr(self, "item_counts_", None)
        if item_popularity is None:
            rep["popularity"] = None
            return rep
        pop = np.asarray(item_popularity)
        if pop.shape != (self.n_items_,):
            raise ValueError(f"item_popularity must have shape ({self.n_items_},), got {pop.shape}")
        head, tail = popularity_strata(pop, 0.25)
        bpos = self._behavior_positions()
        rows = []
        for name, mask in (("head", head), ("tail", tail), ("all", np.ones_like(head))):
            if bpos.size and mask.any():
                w = self.weights_[mask][:, bpos]
                rows.append({"stratum": name, "n_items": int(mask.sum()),
                             "mean_behavior_weight": float(w.mean()),
                             "active_behavior_experts": float((w > 0).sum(1).mean())})
            else:
                rows.append({"stratum": name, "n_items": int(mask.sum()),
                             "mean_behavior_weight": np.nan, "active_behavior_experts": np.nan})
        rep["popularity"] = pd.DataFrame(rows).set_index("stratum")
        return rep

    # ---- tags -------------------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.requires_fit = True
        tags.input_tags.allow_nan = False
        return tags
