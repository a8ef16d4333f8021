"""Code-table (quantisation) metrics: entropy, codebook utilisation, collision rate."""
from __future__ import annotations

import numpy as np

from .._validation import check_codes


def _check_codes(codes) -> np.ndarray:
    return check_codes(codes)[0]


def _check_sizes(codebook_size, codes: np.ndarray) -> np.ndarray:
    sizes = np.broadcast_to(np.asarray(codebook_size, dtype=np.int64), (codes.shape[1],)).copy()
    if np.any(sizes < 1):
        raise ValueError(f"codebook_size must be >= 1, got {codebook_size}")
    too_big = codes.max(axis=0) >= sizes
    if too_big.any():
        pos = int(np.flatnonzero(too_big)[0])
        raise ValueError(f"codes at position {pos} reach {int(codes[:, pos].max())} "
                         f">= codebook_size {int(sizes[pos])}")
    return sizes


def code_entropy(codes, codebook_size=None, per_position: bool = False,
                 normalize: bool = False) -> float | np.ndarray:
    """Shannon entropy, in **bits**, of the code distribution at each position.

    For position ``l``, ``H_l = -sum_c p_l(c) log2 p_l(c)`` with ``p_l(c)`` the share of
    items whose ``l``-th code is ``c``. The maximum is ``log2(codebook_size)`` (uniform use
    of every codeword).

    Parameters
    ----------
    codes : array-like of int, shape (n_items, L)
    codebook_size : int or sequence of int, optional
        Codewords per position; used to validate ``codes`` and for ``normalize``.
    per_position : bool, default=False
        Return the ``L`` entropies instead of their mean.
    normalize : bool, default=False
        Divide by ``log2(codebook_size)`` (needs ``codebook_size``), giving [0, 1].

    Returns
    -------
    float or ndarray of shape (L,)

    Examples
    --------
    >>> code_entropy([[0, 0], [1, 0], [2, 0], [3, 0]], per_position=True).tolist()
    [2.0, 0.0]
    >>> code_entropy([[0, 0], [1, 0], [2, 0], [3, 0]])
    1.0
    """
    codes = _check_codes(codes)
    sizes = _check_sizes(codebook_size, codes) if codebook_size is not None else None
    ent = np.empty(codes.shape[1])
    for pos in range(codes.shape[1]):
        p = np.bincount(codes[:, pos]) / codes.shape[0]
        p = p[p > 0]
        ent[pos] = float(-(p * np.log2(p)).sum()) + 0.0
    if normalize:
        if sizes is None:
            raise ValueError("normalize=True needs codebook_size")
        denom = np.log2(sizes.astype(float))
        ent = np.divide(ent, denom, out=np.zeros_like(ent), where=denom > 0)
    return ent if per_position else float(ent.mean())


def codebook_utilization(codes, codebook_size, per_position: bool = False) -> float | np.ndarray:
    """Fraction of the codewords used by at least one item, at each position.

    Parameters
    ----------
    codes : array-like of int, shape (n_items, L)
    codebook_size : int or sequence of int
        Codewords per position (one value for all, or one per position).
    per_position : bool, default=False
        Return the ``L`` fractions instead of their mean.

    Returns
    -------
    float or ndarray of shape (L,), in [0, 1]

    Examples
    --------
    >>> codebook_utilization([[0, 1], [1, 1], [2, 1]], codebook_size=4, per_position=True).tolist()
    [0.75, 0.25]
    """
    codes = _check_codes(codes)
    sizes = _check_sizes(codebook_size, codes)
    used = np.array([np.unique(codes[:, pos]).size for pos in range(codes.shape[1])], dtype=float)
    util = used / sizes
    return util if per_position else float(util.mean())


def collision_rate(codes, definition: str = "excess") -> float:
    """Share of items whose full code tuple does not identify them.

    Parameters
    ----------
    codes : array-like of int, shape (n_items, L)
    definition : {"excess", "shared"}, default="excess"
        ``"excess"``: ``1 - n_unique_tuples / n_items``, the share of items that need
        an extra disambiguation code (TIGER's rule; the usual "collision rate").
        ``"shared"``: the share of items whose tuple is held by at least one other item.
        Three items with one tuple give 2/3 and 1 respectively.

    Returns
    -------
    float in [0, 1)  (``"excess"``) or [0, 1] (``"shared"``)

    Examples
    --------
    >>> codes = [[0, 0], [0, 0], [0, 0], [1, 0]]
    >>> collision_rate(codes), collision_rate(codes, definition="shared")
    (0.5, 0.75)
    """
    codes = _check_codes(codes)
    _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    n = codes.shape[0]
    if definition == "excess":
        return float(1.0 - counts.size / n)
    if definition == "shared":
        return float(np.mean(counts[inverse.reshape(-1)] > 1))
    raise ValueError(f"definition must be 'excess' or 'shared', got {definition!r}")
