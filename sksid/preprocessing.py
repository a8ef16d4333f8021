"""Raw item ids to the contiguous ``0..n_items-1`` the models index by, and back.

Every sksid model indexes item tables by id, so ids must be dense: a catalogue of 30
items with ids up to 87,000 would build an 87,001-row model. :class:`ItemEncoder` learns
the raw ids (ints or strings) once and maps histories, targets, interaction frames and
predictions in both directions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from .interactions import ITEM_COL

__all__ = ["ItemEncoder"]


class ItemEncoder(TransformerMixin, BaseEstimator):
    """Encode raw item ids as ``0..n_items-1`` (sorted raw order) and decode predictions.

    Parameters
    ----------
    column : str, default="item_id"
        Item column when ``X`` is a pandas DataFrame (e.g. a (user, item, label) frame
        for :class:`~sksid.SIDRanker`, or a (user, item, timestamp) log).
    handle_unknown : {"error", "drop"}, default="error"
        Raw ids not seen by ``fit`` raise (naming them) or are dropped from histories
        (a DataFrame row with one raises either way: dropping rows would misalign ``y``).

    Attributes
    ----------
    classes_ : ndarray
        The raw ids; ``classes_[i]`` is the raw id of encoded item ``i``.
    n_items_ : int

    Notes
    -----
    A scikit-learn Pipeline transforms ``X`` only, never ``y``. On (user, item, label)
    frames, where ``y`` holds labels, the encoder is a Pipeline step like any other. For
    next-item histories, where ``y`` holds item ids too, encode before the Pipeline:
    ``enc.fit(X, y)``, then ``pipe.fit(enc.transform(X), enc.transform_targets(y))`` and
    ``enc.inverse_transform(pipe.predict(enc.transform(X_new)))``.

    Examples
    --------
    >>> import numpy as np
    >>> enc = ItemEncoder().fit([np.array([87000, 12]), np.array([12, 5])], [40])
    >>> enc.classes_.tolist(), [h.tolist() for h in enc.transform([np.array([12, 87000])])]
    ([5, 12, 40, 87000], [[1, 3]])
    >>> enc.inverse_transform(np.array([[3, -1]])).tolist()
    [[87000, -1]]
    """

    _parameter_constraints: dict = {
        "column": [str],
        "handle_unknown": [StrOptions({"error", "drop"})],
    }

    def __init__(self, column=ITEM_COL, handle_unknown="error"):
        self.column = column
        self.handle_unknown = handle_unknown

    def fit(self, X, y=None):
        """Learn the raw ids of histories ``X`` (or ``X[column]`` of a DataFrame) and of
        next items ``y`` (ignored for a DataFrame, where ``y`` holds labels)."""
        self._validate_params()
        raw = [self._raw_ids(X)]
        if y is not None and not isinstance(X, pd.DataFrame):
            raw.append(self._check_1d(y, "y"))
        ids = np.concatenate([r for r in raw if r.size]) if any(r.size for r in raw) else np.array([])
        if ids.size == 0:
            raise ValueError("ItemEncoder.fit got no item id at all")
        self.classes_ = np.unique(ids)
        self.n_items_ = int(self.classes_.size)
        return self

    def transform(self, X):
        """Encoded histories (list of int64 arrays), or a copy of a DataFrame whose item
        column is encoded."""
        check_is_fitted(self, "classes_")
        if isinstance(X, pd.DataFrame):
            out = X.copy()
            out[self.column] = self._encode(self._raw_ids(X), drop=False)
            return out
        return [self._encode(self._check_1d(h, "each history"), drop=self.handle_unknown == "drop")
                for h in self._histories(X)]

    def transform_targets(self, y):
        """Encoded next items ``y`` (int64 array); unknown ids raise."""
        check_is_fitted(self, "classes_")
        return self._encode(self._check_1d(y, "y"), drop=False)

    def inverse_transform(self, ids):
        """Raw ids of encoded ids (any shape); -1 (padding of ``exclude_seen``) stays -1."""
        check_is_fitted(self, "classes_")
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise ValueError(f"encoded ids must be integers, got dtype {ids.dtype}")
        if ids.size and (ids.max() >= self.n_items_ or ids.min() < -1):
            raise ValueError(f"encoded ids must lie in [0, {self.n_items_}) (or be -1), got "
                             f"[{ids.min()}, {ids.max()}]")
        out = self.classes_[np.clip(ids, 0, None)]
        if (ids == -1).any():
            out = out.astype(object) if out.dtype.kind not in "iuf" else out
            out = np.where(ids == -1, -1, out)
        return out

    # -- helpers ---------------------------------------------------------------------
    def _histories(self, X):
        if isinstance(X, (str, bytes)) or not hasattr(X, "__iter__"):
            raise ValueError("X must be a list of item-id histories or a DataFrame with a "
                             f"{self.column!r} column")
        return list(X)

    def _raw_ids(self, X):
        if isinstance(X, pd.DataFrame):
            if self.column not in X.columns:
                raise ValueError(f"the DataFrame has no {self.column!r} column (columns: "
                                 f"{list(X.columns)}); set column=")
            return self._check_1d(X[self.column].to_numpy(), f"column {self.column!r}")
        hs = [self._check_1d(h, "each history") for h in self._histories(X)]
        hs = [h for h in hs if h.size]
        return np.concatenate(hs) if hs else np.array([])

    @staticmethod
    def _check_1d(a, what):
        a = np.asarray(a)
        if a.ndim != 1:
            raise ValueError(f"{what} must be 1-D, got shape {a.shape}")
        if a.dtype.kind == "f":
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{what} contains NaN or infinite ids")
            if not np.all(a == np.round(a)):
                raise ValueError(f"{what} contains non-integer float ids")
            a = a.astype(np.int64)
        return a

    def _encode(self, raw, drop):
        if raw.size == 0:
            return np.zeros(0, dtype=np.int64)
        pos = np.searchsorted(self.classes_, raw)
        known = (pos < self.n_items_) & (self.classes_[np.minimum(pos, self.n_items_ - 1)] == raw)
        if not known.all():
            if not drop:
                unknown = np.unique(raw[~known])[:5].tolist()
                raise ValueError(f"unknown raw item ids {unknown} (not seen by fit); refit the "
                                 "encoder on the whole catalogue, or handle_unknown='drop' for "
                                 "histories")
            pos = pos[known]
        return pos.astype(np.int64)
