"""ADC-SID's per-item reliability (Eq. 15-17) on the estimator side: the interaction
counts, the reliability signal (behavioural norm or log count), its min/max over the
catalogue, and the network's batch inputs N_norm and w."""
from __future__ import annotations

import warnings

import numpy as np

from ..nn.alignment import alignment_strength, normalized_norm

RELIABILITIES = ("auto", "norm", "log_count")


class ReliabilityMixin:
    """Reliability inputs of :class:`~sksid.tokenizers.ADCSIDTokenizer` (its ``reliability``,
    ``alpha``, ``beta``, ``use_strength_controller`` and ``behavior_modality``).

    Sets ``item_counts_``, ``reliability_``, ``norm_min_``/``norm_max_`` and
    ``reliability_min_``/``reliability_max_`` at fit; see the estimator's docstring.
    """

    @staticmethod
    def _check_counts(counts, n):
        c = np.asarray(counts)
        if c.shape != (n,):
            raise ValueError(f"item_counts must have shape ({n},), got {c.shape}")
        if c.dtype.kind not in "fiub" or not np.all(np.isfinite(c)) or np.any(c < 0):
            raise ValueError("item_counts must be finite, non-negative numbers")
        return c.astype(np.float64)

    def _fit_reliability(self, raw, item_counts=None):
        """Resolve ``reliability_`` and Eq. 15's min/max over the training catalogue ``raw``;
        returns the interaction counts used (``item_counts``, else the histories' counts, or
        None)."""
        b = self.behavior_modality
        n = next(iter(raw.values())).shape[0]
        counts = item_counts
        if counts is not None:
            counts = self._check_counts(counts, n)
        elif getattr(self, "item_popularity_", None) is not None:
            counts = np.asarray(self.item_popularity_, dtype=np.float64)
        if self.reliability == "log_count" and counts is None and b in raw:
            raise ValueError('reliability="log_count" needs interaction counts: fit on '
                             'histories, or pass fit(X, item_counts=...)')
        self.item_counts_ = None if counts is None else counts.astype(np.int64)
        self.reliability_ = ("log_count" if self.reliability == "log_count"
                             or (self.reliability == "auto" and counts is not None) else "norm")
        if b in raw:
            norms = np.linalg.norm(raw[b].astype(np.float64), axis=1)
            self.norm_min_, self.norm_max_ = float(norms.min()), float(norms.max())  # Eq. 15
            vals = self._reliability_values(raw, counts)
            if counts is not None and self.reliability_ == "norm" and np.any(counts > 0):
                vals = vals[counts > 0]  # a cold item's (untrained) norm sets nothing
            lo, hi = float(vals.min()), float(vals.max())
            if hi - lo <= 1e-12 * max(abs(hi), 1.0):
                what = ("behavioural embeddings have the same norm (N_max == N_min)"
                        if self.reliability_ == "norm" else "items have the same interaction count")
                warnings.warn(f"all {what}: N_norm = 1 and alignment strength w = 1 for every "
                              "item", UserWarning)
                hi = lo
            self.reliability_min_, self.reliability_max_ = lo, hi
        else:
            self.norm_min_ = self.norm_max_ = None
            self.reliability_min_ = self.reliability_max_ = None
        return counts

    def _row_counts(self, raw, rows=None, n_rows=None, item_counts=None):
        """Counts of the rows ``rows`` of an input of ``n_rows`` rows, or None when counts
        are unknown (fitted without counts and none given, or no behavioural modality);
        ``item_counts`` are the whole input's counts (default: the fitted counts for the
        training catalogue's row count, else 0: new items)."""
        n = next(iter(raw.values())).shape[0]
        counts = None
        known = item_counts is not None or getattr(self, "item_counts_", None) is not None
        if known and self.behavior_modality in raw:
            n_total = n if n_rows is None else n_rows
            if item_counts is not None:
                counts = self._check_counts(item_counts, n_total)
            elif n_total == self.n_items_:  # the training catalogue
                counts = self.item_counts_.astype(np.float64)
            else:
                counts = np.zeros(n_total)
            counts = counts[rows] if rows is not None else counts
        return counts

    def _reliability_values(self, raw, counts):
        """Raw reliability signal of Eq. 15-16: ``||e_b||`` or ``log(1 + count)``."""
        if self.reliability_ == "log_count":
            return np.log1p(counts)
        return np.linalg.norm(raw[self.behavior_modality].astype(np.float64), axis=1)

    def _norm_inputs(self, raw, counts=None):
        """Eq. 15-17 for the rows of ``raw`` with the fitted min/max."""
        b = self.behavior_modality
        n = next(iter(raw.values())).shape[0]
        if b not in raw:
            return np.ones(n, np.float32), np.ones(n, np.float32)
        vals = self._reliability_values(raw, counts)
        n_norm = normalized_norm(vals, self.reliability_min_, self.reliability_max_)  # Eq. 16
        if self.use_strength_controller:
            w = alignment_strength(n_norm, self.alpha, self.beta)  # Eq. 17
        else:
            w = np.ones(n)
        return n_norm.astype(np.float32), w.astype(np.float32)

    def _data(self, std, raw, counts=None):
        """The network's inputs: standardised ``x__<modality>``, ``n_norm``, ``w``, row ids
        and, when counts are known, ``cold`` (count 0: the network ignores the item's
        behavioural embedding, see :class:`~sksid.nn.adcsid.ADCSIDModule`)."""
        n_norm, w = self._norm_inputs(raw, counts)
        data = {"x__" + m: a for m, a in std.items()}
        data["n_norm"] = n_norm
        data["w"] = w
        data["idx"] = np.arange(len(n_norm), dtype=np.int64)  # row ids (collision targets)
        if counts is not None and self.behavior_modality in raw:
            data["cold"] = np.asarray(counts) == 0
        return data

    def _warm_scaler(self, std, raw, counts):
        """Refit the behavioural modality's scaler on the items with interactions (a cold
        item's untrained row must not move anyone's standardisation); returns ``std`` with
        that modality standardised again."""
        b = self.behavior_modality
        if counts is None or b not in raw or not np.any(counts > 0) or np.all(counts > 0):
            return std
        a = raw[b][counts > 0].astype(np.float64)
        mean = a.mean(0)
        rms = float(np.sqrt(np.mean((a - mean) ** 2)))
        self.scalers_[b] = (mean.astype(np.float32), rms if rms > 1e-12 else 1.0)
        std = dict(std)
        std[b] = ((raw[b] - self.scalers_[b][0]) / self.scalers_[b][1]).astype(np.float32)
        return std
