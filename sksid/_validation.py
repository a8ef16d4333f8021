"""Input validation shared by every estimator: sequences, item features, devices."""
from __future__ import annotations

import numbers
import warnings

import numpy as np
import torch

__all__ = [
    "check_sequences",
    "check_targets",
    "resolve_device",
    "check_random_state_seed",
]


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
    """Turn ``random_state`` (None, int or RandomState) into an int seed."""
    if random_state is None:
        return int(np.random.randint(0, 2**31 - 1))
    if isinstance(random_state, numbers.Integral):
        if random_state < 0:
            raise ValueError(f"random_state must be non-negative, got {random_state}")
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    raise ValueError(f"random_state must be None, an int or a RandomState, got {random_state!r}")


def _as_int_array(seq, i: int) -> np.ndarray:
    arr = np.asarray(seq)
    if arr.ndim != 1:
        if arr.ndim == 0:
            raise ValueError(f"sequence {i} is a scalar ({arr!r}); each sequence must be a 1-D array of item ids")
        raise ValueError(f"sequence {i} has shape {arr.shape}; each sequence must be 1-D")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    return _integer_ids(arr, f"sequence {i}")


def _integer_ids(arr: np.ndarray, name: str) -> np.ndarray:
    """``arr`` as int64 ids; NaN/inf, fractional or non-numeric values raise."""
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or inf item ids")
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} contains non-integer item ids")
    elif arr.dtype.kind not in "iub":
        raise ValueError(f"{name} has dtype {arr.dtype}; item ids must be integers")
    return arr.astype(np.int64, copy=False)


def check_sequences(X, *, n_items: int | None = None, allow_empty: bool = True,
                    name: str = "X") -> list[np.ndarray]:
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
                f"{name} contains unknown item ids: max id {hi} but the fitted catalogue has "
                f"{n_items} items ({bad} sequence(s) affected). Map new items before predicting."
            )
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


def warn_count(count: int, what: str, category=UserWarning) -> None:
    """Warn with an explicit count when rows are dropped or altered."""
    if count:
        warnings.warn(f"{count} {what}", category, stacklevel=3)
