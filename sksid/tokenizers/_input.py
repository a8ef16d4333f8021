"""Feature input of the tokenizers: the forms ``fit``/``transform`` accept (a dict of
modalities, a DataFrame with ``"modality:"`` column prefixes, a 2-D array split by
``modality_dims``) parsed into ``{modality: float32 (n, d)}``, and the per-modality
standardisation (see :mod:`sksid.tokenizers._base`)."""
from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["FeatureInputMixin", "DEFAULT_MODALITY", "feature_rows", "take_rows", "is_histories"]

DEFAULT_MODALITY = "content"


def is_histories(X) -> bool:
    """A list / tuple of histories, a 1-D object array of them, or a pandas Series of them."""
    if isinstance(X, (list, tuple)):
        return True
    if hasattr(X, "index") and hasattr(X, "to_numpy") and not hasattr(X, "columns"):  # a Series
        X = X.to_numpy()
    return isinstance(X, np.ndarray) and X.dtype == object and X.ndim == 1


def feature_rows(X) -> int:
    """Row count of a feature input (dict of modalities, DataFrame or 2-D array-like)."""
    if isinstance(X, Mapping):
        counts = {name: int(np.shape(a)[0]) if np.ndim(a) else 0 for name, a in X.items()}
        if len(set(counts.values())) > 1:
            raise ValueError(f"modalities have different row counts: {counts}")
        return next(iter(counts.values()), 0)
    shape = getattr(X, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) else len(X)


def take_rows(X, rows):
    """Rows ``rows`` (a slice or an index array) of a feature input; memory-mapped arrays
    stay on disk for a slice."""
    if isinstance(X, Mapping):
        return {name: a[rows] for name, a in X.items()}
    if hasattr(X, "iloc"):
        return X.iloc[rows]
    return X[rows] if hasattr(X, "shape") else np.asarray(X)[rows]


class FeatureInputMixin:
    """Parsing and standardisation of feature input (``modality_dims``; fitted
    ``modality_dims_``, ``scalers_``)."""

    def _modality_spec(self, n_features):
        md = self.modality_dims
        if md is None:
            return [(DEFAULT_MODALITY, n_features)]
        items = list(md.items()) if isinstance(md, dict) else [tuple(p) for p in md]
        names = [str(n) for n, _ in items]
        if len(set(names)) != len(names):
            raise ValueError(f"modality_dims has duplicate modality names: {names}")
        for n, d in items:
            if not isinstance(d, numbers.Integral) or d < 1:
                raise ValueError(f"modality_dims[{n!r}] must be a positive int, got {d!r}")
        total = sum(int(d) for _, d in items)
        if total != n_features:
            raise ValueError(f"modality_dims sum to {total} columns but X has {n_features} features")
        return [(str(n), int(d)) for n, d in items]

    def _parse_features(self, X, reset: bool) -> dict:
        """Return ``{modality: float32 (n, d)}`` from any feature form; validates."""
        if sp.issparse(X):
            raise TypeError("sparse input is not supported by the tokenizers; pass a dense array "
                            "(e.g. X.toarray())")
        if isinstance(X, Mapping):
            if not X:
                raise ValueError("X is an empty dict: at least one modality is required")
            out, n_rows = {}, None
            for name, arr in X.items():
                if not isinstance(name, str):
                    raise TypeError(f"modality names must be str, got {name!r}")
                a = np.asarray(arr)
                if a.dtype.kind not in "fiub":
                    raise ValueError(f"modality {name!r} has dtype {a.dtype}; expected numbers")
                a = a.astype(np.float32)
                if a.ndim != 2:
                    raise ValueError(f"modality {name!r} must be 2-D (n_items, d), got shape {a.shape}")
                if a.shape[1] == 0:
                    raise ValueError(f"modality {name!r} has 0 columns")
                if not np.all(np.isfinite(a)):
                    raise ValueError(f"modality {name!r} contains NaN or inf")
                if n_rows is not None and a.shape[0] != n_rows:
                    raise ValueError(f"modalities have different row counts: {name!r} has "
                                     f"{a.shape[0]} rows, {next(iter(out))!r} has {n_rows}")
                n_rows = a.shape[0]
                out[name] = a
            if not reset:
                check_is_fitted(self, "modality_dims_")
                unknown = [m for m in out if m not in self.modality_dims_]
                if unknown:
                    raise ValueError(f"unknown modality name(s) {unknown}; the tokenizer was "
                                     f"fitted on {list(self.modality_dims_)}")
                missing = [m for m in self.modality_dims_ if m not in out]
                if missing:
                    raise ValueError(f"missing modality(ies) {missing}; fitted on {list(self.modality_dims_)}")
                out = {m: out[m] for m in self.modality_dims_}
        else:
            arr = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32],
                                ensure_min_samples=1)
            arr = np.asarray(arr, dtype=np.float32)
            names = getattr(self, "feature_names_in_", None)
            if reset:
                if names is not None and any(":" in str(c) for c in names):
                    groups = {}
                    for j, c in enumerate(names):
                        m = str(c).split(":", 1)[0] if ":" in str(c) else DEFAULT_MODALITY
                        groups.setdefault(m, []).append(j)
                    self._column_groups_ = {m: np.array(ix) for m, ix in groups.items()}
                else:
                    spec, start, groups = self._modality_spec(arr.shape[1]), 0, {}
                    for m, d in spec:
                        groups[m] = np.arange(start, start + d)
                        start += d
                    self._column_groups_ = groups
            if not reset and not hasattr(self, "_column_groups_"):
                raise ValueError("this tokenizer was fitted on a dict of modalities (or on "
                                 "histories); pass a dict {modality: array} to transform")
            out = {m: np.ascontiguousarray(arr[:, ix]) for m, ix in self._column_groups_.items()}
        if reset:
            self.modality_dims_ = {m: int(a.shape[1]) for m, a in out.items()}
        else:
            for m, a in out.items():
                if a.shape[1] != self.modality_dims_[m]:
                    raise ValueError(f"modality {m!r} has {a.shape[1]} columns, expected "
                                     f"{self.modality_dims_[m]} as in fit")
        return out

    def _fit_scalers(self, feats):
        self.scalers_ = {}
        for m, a in feats.items():
            a = a.astype(np.float64)
            mean = a.mean(0)
            rms = float(np.sqrt(np.mean((a - mean) ** 2)))
            mean = mean.astype(np.float32)
            self.scalers_[m] = (mean, rms if rms > 1e-12 else 1.0)

    def _standardize(self, feats):
        return {m: ((a - self.scalers_[m][0]) / self.scalers_[m][1]).astype(np.float32)
                for m, a in feats.items()}

    @staticmethod
    def _balanced_concat(std):
        """Concatenation with modality ``m`` divided by sqrt(d_m) (equal modality weight), in
        the modalities' sorted name order, so the codes do not depend on dict key order."""
        return np.concatenate([std[m] / np.sqrt(std[m].shape[1]) for m in sorted(std)], 1).astype(np.float32)
