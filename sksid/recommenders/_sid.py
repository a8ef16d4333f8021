"""Shared base of the Semantic-ID recommenders (IntRR, TIGER).

Reads the catalogue's codes from the :class:`~sksid.sequences.SIDSequences` a tokenizer
passes down a Pipeline (or from ``fit(X, y, codes=..., weights=...)``), disambiguates
colliding tuples with TIGER's extra-level rule, and ranks by constrained beam search
over the catalogue trie (:mod:`sksid.nn.beam`). Training, early stopping, batching and
the popularity fallback are those of :class:`~sksid.base.TorchSequentialRecommender`.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._validation import check_sequences
from ..base import TorchSequentialRecommender
from ..nn.beam import disambiguate
from ..sequences import SIDSequences, pad_histories

__all__ = ["SIDRecommenderBase"]

_NO_CODES = ("{name} needs the items' Semantic IDs: put a tokenizer before it in a Pipeline "
             "(e.g. Pipeline([('tok', RQKMeansTokenizer()), ('rec', {name}())])) or pass "
             "fit(X, y, codes=...) with an (n_items, L) int array.")


class SIDRecommenderBase(TorchSequentialRecommender):
    """Base class of generative recommenders over Semantic IDs.

    Subclasses set ``_module_class`` and ``_sid_module_kwargs()``; the module must
    implement ``rank(items, lengths, k, beam_width) -> (ids, scores)``.

    Fitted attributes added to the base ones: ``codes_`` (n_items, L'), ``weights_``,
    ``codebook_sizes_`` (after disambiguation, ``L' = L`` or ``L + 1``),
    ``code_length_`` (L, as given), ``n_colliding_items_``.
    """

    _needs_codes = True

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, X, y=None, eval_set=None, codes=None, weights=None):
        """Fit on histories ``X`` (and next items ``y``) with the catalogue's codes.

        Parameters
        ----------
        X : SIDSequences or list of 1-D int arrays
            Histories. A :class:`~sksid.sequences.SIDSequences` (what a tokenizer's
            ``transform`` returns) carries ``codes``, ``weights`` and ``codebook_sizes``.
        y : array-like of shape (n_users,), optional
            Next item of each history.
        eval_set : tuple (X_valid, y_valid), optional
            Explicit early-stopping data (see :meth:`TorchSequentialRecommender.fit`).
        codes : array-like of shape (n_items, L), optional
            Codes for plain-list ``X`` (override those of an ``SIDSequences``).
        weights : array-like of shape (n_items, L), optional
            Per-code loss weights (ones when absent).

        Returns
        -------
        self
        """
        self._fit_codes = (codes, weights)
        try:
            return super().fit(X, y, eval_set=eval_set)
        finally:
            del self._fit_codes

    def _prepare_catalogue(self, X, y):
        codes, weights = getattr(self, "_fit_codes", (None, None))
        sizes = None
        if codes is None and isinstance(X, SIDSequences):
            codes, sizes = X.codes, X.codebook_sizes
            if weights is None:
                weights = X.weights
        if codes is None:
            raise ValueError(_NO_CODES.format(name=type(self).__name__))
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[0] == 0 or codes.shape[1] == 0:
            raise ValueError(f"codes must be a non-empty 2-D (n_items, L) array, got shape {codes.shape}")
        if codes.dtype.kind not in "iu":
            raise ValueError(f"codes must be integers, got dtype {codes.dtype}")
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float32)
            if weights.shape != codes.shape:
                raise ValueError(f"weights shape {weights.shape} differs from codes shape {codes.shape}")
            if not np.all(np.isfinite(weights)) or weights.min() < 0:
                raise ValueError("weights must be finite and non-negative")
        n_items = codes.shape[0]
        check_sequences(X, n_items=n_items)
        if y is not None and len(y) and int(np.max(y)) >= n_items:
            raise ValueError(f"y contains item ids >= the number of coded items ({n_items})")
        self.code_length_ = int(codes.shape[1])
        self.codes_, self.weights_, self.codebook_sizes_, self.n_colliding_items_ = disambiguate(
            codes, weights, sizes)
        self.n_items_ = n_items
        self._check_beam(self.top_k)

    def _check_beam(self, k):
        bw = self.beam_width
        if isinstance(bw, bool) or not isinstance(bw, (int, np.integer)) or bw < 1:
            raise ValueError(f"beam_width must be a positive int, got {bw!r}")
        if bw < k:
            raise ValueError(f"beam_width={bw} must be >= top_k={k}: the beam holds the returned items")

    def _sid_module_kwargs(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _module_kwargs(self):
        kw = dict(n_items=self.n_items_, codes=self.codes_, codebook_sizes=self.codebook_sizes_,
                  weights=self.weights_)
        kw.update(self._sid_module_kwargs())
        return kw

    # -- predict -------------------------------------------------------------------------
    def _check_predict_input(self, X):
        check_is_fitted(self, "net_")
        if isinstance(X, SIDSequences):
            if X.code_length != self.code_length_ or X.n_items != self.n_items_:
                raise ValueError(
                    f"codes at predict have shape ({X.n_items}, {X.code_length}) but the model was "
                    f"fitted on ({self.n_items_}, {self.code_length_}); refit or use the tokenizer "
                    "fitted with this model")
            given = X.codes
            fitted = self.codes_[:, : self.code_length_]
            if not np.array_equal(given, fitted):
                warnings.warn("codes at predict differ from those seen at fit; the model keeps "
                              "using the codes it was fitted on", UserWarning, stacklevel=3)
        self._check_top_k(self.n_items_)
        self._check_beam(self.top_k)
        return check_sequences(X, n_items=self.n_items_)

    def _rank(self, module, items, lengths, k):
        ids, _ = module.rank(items, lengths, k, max(int(self.beam_width), k))
        return ids

    def predict_scores(self, X):
        """Top-``top_k`` ids and their beam log-probabilities (sum over levels).

        Returns
        -------
        ids : ndarray (n_users, top_k), int64
        scores : ndarray (n_users, top_k), float32
            Summed level log-probabilities, decreasing; NaN for empty histories (answered
            by the popularity ranking).
        """
        seqs = self._check_predict_input(X)
        items, lengths = pad_histories(seqs, self.max_len)
        module = self.net_.module_
        k = self.top_k
        ids, scores = self._eval_batches(
            module, lambda it, ln: module.rank(it, ln, k, int(self.beam_width)), items, lengths)
        ids = ids.astype(np.int64, copy=False)
        scores = scores.astype(np.float32, copy=False)
        empty = lengths == 0
        if empty.any():
            ids[empty] = self.popular_items_[:k]
            scores[empty] = np.nan
        return ids, scores

    @property
    def tokens_per_item_(self) -> int:
        """Backbone tokens per history item (IntRR: 1; TIGER: the code length)."""
        raise NotImplementedError
