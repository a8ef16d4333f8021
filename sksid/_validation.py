"""Validation shared by every estimator: parameter constraints, sequences, codes, devices.

Parameter constraints use scikit-learn's own machinery
(:mod:`sklearn.utils._param_validation`): every estimator declares
``_parameter_constraints`` by extending the dicts below and calls
``self._validate_params()`` at the start of ``fit``, so a bad value raises
:class:`~sklearn.utils._param_validation.InvalidParameterError` (a ``ValueError``)
naming the parameter, the accepted values and the value received.
"""
from __future__ import annotations

import numbers
import os
import re
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Hidden, StrOptions
from sklearn.utils._param_validation import Interval as _SklearnInterval

__all__ = [
    "check_sequences",
    "FRAME_HINT",
    "RAW_IDS_HINT",
    "UNKNOWN_ITEMS_HINT",
    "check_targets",
    "check_codes",
    "resolve_device",
    "check_random_state_seed",
    "StrictInterval",
    "DeviceOptions",
    "TRAINING_CONSTRAINTS",
    "BACKBONE_CONSTRAINTS",
    "LAYOUT_CONSTRAINTS",
]


# --------------------------------------------------------------------- parameter constraints
class StrictInterval(_SklearnInterval):
    """scikit-learn's :class:`~sklearn.utils._param_validation.Interval` without booleans.

    ``True`` is an ``Integral`` (and a ``Real``) in Python, so scikit-learn's interval
    accepts ``top_k=True`` as 1; a size, count or rate given as a boolean is a mistake.
    """

    def is_satisfied_by(self, val):
        if isinstance(val, (bool, np.bool_)):
            return False
        return super().is_satisfied_by(val)


class DeviceOptions(StrOptions):
    """``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:<index>"`` or ``"mps"``."""

    def __init__(self):
        super().__init__({"auto", "cpu", "cuda", "mps"})

    def is_satisfied_by(self, val):
        return super().is_satisfied_by(val) or (
            isinstance(val, str) and re.fullmatch(r"cuda:\d+", val) is not None)

    def __str__(self):
        return f"{super().__str__()} or 'cuda:<index>'"


POSITIVE_INT = StrictInterval(Integral, 1, None, closed="left")
NON_NEGATIVE_INT = StrictInterval(Integral, 0, None, closed="left")
POSITIVE_REAL = StrictInterval(Real, 0, None, closed="neither")
NON_NEGATIVE_REAL = StrictInterval(Real, 0, None, closed="left")
UNIT_INTERVAL_LEFT = StrictInterval(Real, 0, 1, closed="left")  # [0, 1)
UNIT_INTERVAL_OPEN = StrictInterval(Real, 0, 1, closed="neither")  # (0, 1)

#: Parameters of every torch-trained estimator (tokenizers and recommenders).
TRAINING_CONSTRAINTS = {
    "max_epochs": [POSITIVE_INT],
    "batch_size": [POSITIVE_INT],
    "lr": [POSITIVE_REAL],
    "device": [DeviceOptions(), torch.device, Hidden(None)],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}

#: environment variable that caps every estimator's training epochs (smoke runs of the
#: docs, README and notebooks: the same code, short training)
EPOCH_CAP_ENV = "SKSID_MAX_EPOCHS"


def epoch_cap(max_epochs: int, warn: str | None = None) -> int:
    """``max_epochs``, lowered to ``$SKSID_MAX_EPOCHS`` when that variable is set.

    The documented switch for smoke runs: the README's and the docs' code blocks and the
    notebooks run as written in CI with ``SKSID_MAX_EPOCHS=1``; results from such runs are
    not results. Unset or empty: ``max_epochs`` unchanged.

    ``warn``: the name of the estimator being fitted; when given and the cap lowers
    ``max_epochs``, a ``UserWarning`` says so (the training flow calls it once per fit).

    Examples
    --------
    >>> epoch_cap(100) == (100 if not os.environ.get("SKSID_MAX_EPOCHS") else
    ...                    min(100, int(os.environ["SKSID_MAX_EPOCHS"])))
    True
    """
    env = os.environ.get(EPOCH_CAP_ENV, "").strip()
    if not env:
        return int(max_epochs)
    try:
        cap = int(env)
    except ValueError:
        cap = 0
    if cap < 1:
        raise ValueError(f"${EPOCH_CAP_ENV} must be a positive integer, got {env!r}")
    if warn is not None and cap < int(max_epochs):
        warnings.warn(f"${EPOCH_CAP_ENV}={cap} caps {warn}'s max_epochs={int(max_epochs)} to {cap} "
                      f"epoch(s); unset {EPOCH_CAP_ENV} to train for max_epochs", UserWarning, stacklevel=3)
    return min(int(max_epochs), cap)


#: Backbone sizes of the Semantic-ID recommenders: ``None`` picks the device default.
BACKBONE_CONSTRAINTS = {name: [POSITIVE_INT, None]
                        for name in ("d_model", "n_layers", "n_heads", "head_dim", "d_ff")}
# the transformer layout options of SASRec, IntRR, TIGER and RPG (sksid.nn.transformer.CausalTransformer)
LAYOUT_CONSTRAINTS = {"norm_first": ["boolean"], "init_std": [None, POSITIVE_REAL]}


def resolve_device(device: str | torch.device | None = "auto") -> str:
    """Resolve ``"auto"`` to ``"cuda"`` when a GPU is visible, else ``"cpu"``.

    Parameters
    ----------
    device : str, torch.device or None
        ``"auto"`` (or None), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns
    -------
    str
        A device string accepted by :func:`torch.device`.

    Examples
    --------
    >>> resolve_device("cpu")
    'cpu'
    """
    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    device = str(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available; "
            "use device='auto' or device='cpu'."
        )
    torch.device(device)  # raises on malformed strings
    return device


def check_random_state_seed(random_state) -> int:
    """Turn ``random_state`` (None, int or RandomState) into an int seed.

    The estimators validate ``random_state`` (``"random_state"`` constraint) before.
    """
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def _as_int_array(seq, i: int) -> np.ndarray:
    arr = np.asarray(seq)
    if arr.ndim != 1:
        if arr.ndim == 0:
            raise ValueError(f"sequence {i} is a scalar ({arr!r}); each sequence must be a 1-D array of item ids")
        raise ValueError(f"sequence {i} has shape {arr.shape}; each sequence must be 1-D")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    return _integer_ids(arr, f"sequence {i}")


#: how to turn raw ids (strings, sparse numbers) into the ids the models index by
RAW_IDS_HINT = ("Raw ids (strings, sparse numbers) are encoded to 0..n_items-1 by "
                "sksid.datasets.from_interactions(df, user_col=, item_col=, time_col=) (then "
                "ds.encode(raw_histories) / ds.decode(predictions)) or by "
                "sksid.preprocessing.ItemEncoder.")


def _integer_ids(arr: np.ndarray, name: str) -> np.ndarray:
    """``arr`` as int64 ids; NaN/inf, fractional, boolean or non-numeric values raise."""
    if arr.dtype.kind == "b":  # True/False would silently become items 1 and 0
        raise ValueError(f"{name} has dtype bool; item ids must be integers, not booleans")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or inf item ids")
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} contains non-integer item ids")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{name} has dtype {arr.dtype}; item ids must be integers in [0, n_items). "
                         + RAW_IDS_HINT)
    return arr.astype(np.int64, copy=False)


#: what to do when predict meets ids outside the fitted catalogue
UNKNOWN_ITEMS_HINT = (
    "The model knows the catalogue it was fitted on. Fit on histories that carry the whole "
    "catalogue (leave_last_out(...).X_train, or sksid.sequences.Histories(X, n_items=...)) "
    "or pass n_items=<catalogue size> to the model; raw ids (strings, sparse numbers) are "
    "encoded by SequenceDataset.encode (sksid.datasets.from_interactions) or "
    "sksid.preprocessing.ItemEncoder.")


#: what a recommender takes instead of a (user, item, time) frame
FRAME_HINT = (
    "recommenders (and a tokenizer -> recommender Pipeline) take one history per user, a "
    "list of 1-D int arrays of item ids, oldest first (ids in [0, n_items)). From a (user, "
    "item, time) DataFrame: ds = sksid.datasets.from_interactions(df, user_col=..., "
    "item_col=..., time_col=...), then split = sksid.model_selection.leave_last_out(ds) "
    "gives the train/validation/test (X, y) parts.")


def check_sequences(X, *, n_items: int | None = None, allow_empty: bool = True,
                    name: str = "X", unknown_hint: str = "") -> list[np.ndarray]:
    """Validate a collection of item-id histories.

    Parameters
    ----------
    X : sequence of 1-D array-like of int
        One history per user, oldest item first.
    n_items : int, optional
        Size of the fitted catalogue. Ids outside ``[0, n_items)`` raise.
    allow_empty : bool, default=True
        Whether empty histories are accepted (recommenders answer them with a
        documented fallback); when False they raise.
    name : str
        Name used in error messages.
    unknown_hint : str, default=""
        Appended to the message of ids outside ``[0, n_items)`` (what to do about them).

    Returns
    -------
    list of ndarray of int64

    Examples
    --------
    >>> [s.tolist() for s in check_sequences([[0, 1], [2]], n_items=3)]
    [[0, 1], [2]]
    """
    if X is None:
        raise ValueError(f"{name} is None; expected a list of item-id sequences")
    if (hasattr(X, "columns") and hasattr(X, "groupby")) or hasattr(X, "frame"):
        raise TypeError(f"{name} is a {type(X).__name__}: " + FRAME_HINT)
    if isinstance(X, np.ndarray) and X.dtype != object and X.ndim == 2:
        seqs = [X[i] for i in range(X.shape[0])]
    elif isinstance(X, (str, bytes)) or not hasattr(X, "__len__"):
        raise TypeError(f"{name} must be a list of 1-D integer arrays, got {type(X).__name__}")
    else:
        seqs = list(X)
    if len(seqs) == 0:
        raise ValueError(f"{name} is empty: at least one sequence is required")
    out = [_as_int_array(s, i) for i, s in enumerate(seqs)]
    lo = min((int(s.min()) for s in out if s.size), default=0)
    if lo < 0:
        raise ValueError(f"{name} contains negative item ids (min {lo}); ids must lie in [0, n_items)")
    if n_items is not None:
        hi = max((int(s.max()) for s in out if s.size), default=-1)
        if hi >= n_items:
            bad = sum(int((s >= n_items).any()) for s in out)
            raise ValueError(
                f"{name} contains unknown item ids: max id {hi} but the catalogue has "
                f"{n_items} items ({bad} sequence(s) affected); ids must lie in [0, {n_items})."
                + (" " + unknown_hint if unknown_hint else ""))
    if not allow_empty:
        n_empty = sum(s.size == 0 for s in out)
        if n_empty:
            raise ValueError(f"{name} contains {n_empty} empty sequence(s)")
    return out


def check_targets(y, n_samples: int, *, n_items: int | None = None, name: str = "y") -> np.ndarray:
    """Validate next-item targets: one int id per history."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one next item per history), got shape {y.shape}")
    if y.shape[0] != n_samples:
        raise ValueError(f"{name} has {y.shape[0]} entries but X has {n_samples} sequences")
    y = _integer_ids(y, name)
    if y.size and y.min() < 0:
        raise ValueError(f"{name} contains negative item ids")
    if n_items is not None and y.size and y.max() >= n_items:
        raise ValueError(f"{name} contains unknown item id {int(y.max())} (catalogue has {n_items} items)")
    return y


def check_codes(codes, weights=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate a catalogue's Semantic IDs and their optional per-code weights.

    Parameters
    ----------
    codes : array-like of shape (n_items, L)
        Non-negative integer codes (an integer dtype: float codes are rejected rather
        than truncated).
    weights : array-like of shape (n_items, L), optional
        Finite, non-negative weights.

    Returns
    -------
    codes : ndarray of int64
    weights : ndarray of float32 or None

    Examples
    --------
    >>> check_codes([[0, 1], [1, 0]])[0].dtype
    dtype('int64')
    """
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must be 2-D (n_items, L), got shape {codes.shape}")
    if codes.shape[0] == 0 or codes.shape[1] == 0:
        raise ValueError(f"codes must be non-empty (at least one item and one level), got shape "
                         f"{codes.shape}")
    if codes.dtype.kind not in "iu":
        raise ValueError(f"codes must be integers, got dtype {codes.dtype}")
    if codes.min() < 0:
        raise ValueError(f"codes must be non-negative, got a minimum of {int(codes.min())}")
    codes = codes.astype(np.int64, copy=False)
    if weights is not None:
        weights = np.asarray(weights)
        if weights.shape != codes.shape:
            raise ValueError(f"weights shape {weights.shape} differs from codes shape {codes.shape}")
        if weights.dtype.kind not in "fiub":
            raise ValueError(f"weights must be numbers, got dtype {weights.dtype}")
        weights = weights.astype(np.float32)
        if not np.all(np.isfinite(weights)) or weights.min() < 0:
            raise ValueError("weights must be finite and non-negative")
    return codes, weights


def check_dense_codes(codes, max_unused: int = 4096, max_use: float = 0.1) -> None:
    """Raise when a level's code values are sparse labels rather than codebook indices.

    Codebook sizes are inferred as ``codes.max(0) + 1`` when none are given, so a level
    with 30 distinct values up to 870,000 would build an 870,001-entry codebook (and a fit
    running for minutes). A level is rejected when its inferred size exceeds
    ``max_unused`` and under ``max_use`` of its values occur.

    Examples
    --------
    >>> check_dense_codes(np.array([[0, 5], [1, 870_000]]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: codes level 1 has 2 distinct values but a maximum of 870000 ...
    """
    codes = np.asarray(codes)
    for level in range(codes.shape[1]):
        size = int(codes[:, level].max()) + 1
        if size <= max_unused:
            continue
        used = np.unique(codes[:, level]).size
        if used < max_use * size:
            raise ValueError(
                f"codes level {level} has {used} distinct values but a maximum of {size - 1} "
                f"(a codebook of {size} entries); remap each level to 0..K-1, e.g. "
                "np.unique(codes[:, l], return_inverse=True)[1]")


def warn_count(count: int, what: str, category=UserWarning) -> None:
    """Warn with an explicit count when rows are dropped or altered."""
    if count:
        warnings.warn(f"{count} {what}", category, stacklevel=3)
