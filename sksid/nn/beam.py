"""Semantic-ID catalogue tables and the constrained beam search shared by IntRR and TIGER.

* :func:`disambiguate` applies TIGER's collision rule: items that share a code tuple get
  an extra last level ``0, 1, 2, ...`` (by item id), so every full tuple names one item.
* :class:`PrefixTrie` is a sparse trie of the catalogue's tuples: for level ``l`` the
  sorted keys ``parent * K_l + code`` of the length-``l+1`` prefixes (looked up by binary
  search: ``next_prefixes`` gives the child-prefix ids, ``-1`` where no catalogue item
  continues the prefix) and, at the end, the item id of every full tuple. It is an
  ``nn.Module`` of buffers so that it moves with the model to the device.
* :func:`beam_search` is the one vectorised search: at each level it expands every beam
  by the whole codebook, masks invalid prefixes through the trie, and keeps the
  ``beam_width`` best sums of level log-probabilities. Models only provide a ``step``
  function (IntRR: one MLP on ``[C_{l-1}[y]; h_u]``; TIGER: one incremental transformer
  step per level).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["disambiguate", "PrefixTrie", "beam_search", "constrain"]


def disambiguate(codes, weights=None, codebook_sizes=None):
    """Make every item's code tuple unique with TIGER's extra-level rule.

    Items sharing a tuple get an appended code ``0, 1, 2, ...`` (ordered by item id) with
    weight 1; when no tuple is shared, the inputs are returned unchanged.

    Parameters
    ----------
    codes : array-like of shape (n_items, L), int
    weights : array-like of shape (n_items, L), optional (ones when absent)
    codebook_sizes : sequence of int of length L, optional (``codes.max(0) + 1``)

    Returns
    -------
    codes : ndarray (n_items, L or L + 1), int64
    weights : ndarray (n_items, L or L + 1), float32
    codebook_sizes : tuple of int
    n_colliding : int
        Number of items that share their tuple with another item.

    Examples
    --------
    >>> c, w, k, n = disambiguate([[0, 1], [0, 1], [1, 0]])
    >>> c.tolist(), k, n
    ([[0, 1, 0], [0, 1, 1], [1, 0, 0]], (2, 2, 2), 2)
    """
    codes = np.asarray(codes, dtype=np.int64)
    if codes.ndim != 2 or codes.shape[0] == 0 or codes.shape[1] == 0:
        raise ValueError(f"codes must be a non-empty 2-D (n_items, L) array, got shape {codes.shape}")
    n, L = codes.shape
    weights = np.ones(codes.shape, np.float32) if weights is None else np.asarray(weights, np.float32)
    if weights.shape != codes.shape:
        raise ValueError(f"weights shape {weights.shape} differs from codes shape {codes.shape}")
    if codes.min() < 0:
        raise ValueError("codes must be non-negative")
    if codebook_sizes is None:
        codebook_sizes = codes.max(axis=0) + 1
    sizes = tuple(int(k) for k in codebook_sizes)
    if len(sizes) != L:
        raise ValueError(f"codebook_sizes has {len(sizes)} entries for codes of length {L}")
    too_big = codes.max(axis=0) >= np.asarray(sizes)
    if too_big.any():
        raise ValueError(f"codes exceed codebook_sizes {sizes} at level(s) {np.flatnonzero(too_big).tolist()}")
    _, inv, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    inv = inv.reshape(-1)
    if counts.max() == 1:
        return codes.copy(), weights.copy(), sizes, 0
    order = np.lexsort((np.arange(n), inv))  # by group, then by item id
    sorted_inv = inv[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_inv)) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, n]))
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n) - group_start
    n_colliding = int(counts[counts > 1].sum())
    return (np.hstack([codes, rank[:, None]]),
            np.hstack([weights, np.ones((n, 1), np.float32)]),
            sizes + (int(counts.max()),), n_colliding)


class PrefixTrie(nn.Module):
    """Trie of the catalogue's (unique) code tuples, as sparse device buffers.

    Level ``l`` stores one sorted key ``parent * K_l + code`` per length-``l+1`` prefix
    (its id is the key's rank), so memory is ``O(n_items · L)`` whatever the codebook
    sizes: a dense ``(n_prefix_l, K_l)`` table would take 800 MB per level for a million
    items and ``K = 100``. :meth:`next_prefixes` answers "which prefix does code ``c`` lead to
    from prefix ``p``" for any batch of prefixes by binary search. The buffers are
    derived from the codes (rebuilt with the model, not saved in its ``state_dict``).

    Parameters
    ----------
    codes : array-like of shape (n_items, L), int
        Disambiguated codes (every row unique; see :func:`disambiguate`).
    codebook_sizes : sequence of int of length L

    Attributes
    ----------
    keys_<l> : LongTensor (n_prefix_{l+1},)
        Sorted ``parent * K_l + code`` of every length-``l+1`` prefix.
    leaf_item : LongTensor (n_items,)
        Item id of every full tuple (prefix id at depth L).
    item_prefix_<l> : LongTensor (n_items,)
        Prefix id of every item at depth ``l``.

    Examples
    --------
    >>> t = PrefixTrie([[0, 1], [1, 0]], (2, 2))
    >>> t.child(0).tolist(), t.child(1).tolist()
    ([[0, 1]], [[-1, 0], [1, -1]])
    >>> t.next_prefixes(1, torch.tensor([1, 0])).tolist()
    [[1, -1], [-1, 0]]
    """

    def __init__(self, codes, codebook_sizes):
        super().__init__()
        codes = np.asarray(codes, dtype=np.int64)
        n, L = codes.shape
        sizes = [int(k) for k in codebook_sizes]
        prefix = np.zeros(n, np.int64)
        n_prefix = 1
        self.n_levels = L
        self.codebook_sizes = tuple(sizes)
        depth_ids = []
        for l in range(L):
            depth_ids.append(prefix.copy())
            key = prefix * sizes[l] + codes[:, l]
            uniq, new = np.unique(key, return_inverse=True)
            self.register_buffer(f"keys_{l}", torch.as_tensor(uniq), persistent=False)
            prefix, n_prefix = new.reshape(-1), uniq.size
        if n_prefix != n:
            raise ValueError(f"{n - n_prefix} items share a full code tuple; disambiguate the codes first")
        leaf = np.empty(n, np.int64)
        leaf[prefix] = np.arange(n)
        self.register_buffer("leaf_item", torch.as_tensor(leaf), persistent=False)
        for l, pid in enumerate(depth_ids):
            self.register_buffer(f"item_prefix_{l}", torch.as_tensor(pid), persistent=False)

    #: largest ``n_prefix_l · K_l`` for which a level's child table is kept dense (built
    #: on first use, per device, 16 MB of int64 at most) instead of binary-searched at
    #: every call: training asks for every target's children at every level, the beam
    #: for every beam's, so small and medium catalogues look them up; a million-item
    #: catalogue's deep levels stay sparse
    dense_children_max = 1 << 21

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_dense", None)  # derived from the buffers, rebuilt on first use
        return state

    def _dense_children(self, level):
        """Dense (n_prefix_level, K_level) child ids of a small enough level, else None;
        decided and built once per (level, device), never saved or pickled."""
        keys = getattr(self, f"keys_{level}", None)
        if keys is None:
            return None
        cache = self.__dict__.setdefault("_dense", {})
        key = (level, str(keys.device))
        if key not in cache:
            n_prefix = self.n_prefixes[level]
            small = n_prefix * self.codebook_sizes[level] <= self.dense_children_max
            cache[key] = (self._search_children(level, torch.arange(n_prefix, device=keys.device))
                          if small else None)
        return cache[key]

    def next_prefixes(self, level: int, prefix: torch.Tensor) -> torch.Tensor:
        """Child prefix ids (..., K_level) of prefix ids ``prefix`` (...), -1 where no
        catalogue item continues the prefix with that code."""
        dense = self._buffers.get(f"children_{level}")  # models pickled before the sparse trie
        if dense is None:
            dense = self._dense_children(level)
        if dense is not None:
            return dense[prefix]
        return self._search_children(level, prefix)

    def _search_children(self, level, prefix):
        """:meth:`next_prefixes` by binary search in the level's sorted keys."""
        keys = getattr(self, f"keys_{level}")
        K = self.codebook_sizes[level]
        want = prefix.unsqueeze(-1) * K + torch.arange(K, device=keys.device)
        pos = torch.searchsorted(keys, want).clamp(max=keys.numel() - 1)
        return torch.where(keys[pos] == want, pos, torch.full_like(pos, -1))

    def child(self, level: int) -> torch.Tensor:
        """Dense child table (n_prefix_level, K_level) of every prefix (small tries only)."""
        return self.next_prefixes(level, torch.arange(self.n_prefixes[level], device=self.leaf_item.device))

    def n_children(self, level: int) -> torch.Tensor:
        """Number of valid codes of every prefix at depth ``level`` (n_prefix_level,)."""
        dense = self._buffers.get(f"children_{level}")
        if dense is not None:
            return (dense >= 0).sum(1)
        keys = getattr(self, f"keys_{level}")
        return torch.bincount(torch.div(keys, self.codebook_sizes[level], rounding_mode="floor"),
                              minlength=self.n_prefixes[level])

    def item_prefix(self, level: int) -> torch.Tensor:
        """Prefix id (at depth ``level``, i.e. before code ``level``) of every item (n_items,)."""
        return getattr(self, f"item_prefix_{level}")

    def item_children(self, level: int, items: torch.Tensor) -> torch.Tensor:
        """Bool mask (..., K_level) of the codes that extend each item's own prefix at ``level``
        to some catalogue item (the choices a trie-constrained softmax normalises over)."""
        return self.next_prefixes(level, self.item_prefix(level)[items]) >= 0

    @property
    def widest(self) -> int:
        """Most candidates any level can hold: an exhaustive search needs this many beams."""
        return max(self.n_prefixes[1:] + (self.leaf_item.shape[0],))

    @property
    def n_prefixes(self) -> tuple:
        """Number of distinct prefixes that level ``l`` expands (1 at the root)."""
        if "children_0" in self._buffers:  # models pickled before the sparse trie
            return tuple(int(self._buffers[f"children_{l}"].shape[0]) for l in range(self.n_levels))
        return (1,) + tuple(int(getattr(self, f"keys_{l}").numel()) for l in range(self.n_levels - 1))


def constrain(logits, valid):
    """Mask codes that lead to no catalogue item (``valid`` False) before a softmax.

    With it, each level's softmax is taken over the valid children of the prefix only, so
    ``Σ_l log p(s_l | s_<l)`` is a normalised distribution over the catalogue's items and
    a level whose code is forced by the prefix costs nothing.
    """
    return logits.masked_fill(~valid, -1e9)


@torch.no_grad()
def beam_search(step, trie: PrefixTrie, batch_size: int, beam_width: int, k: int,
                renormalize: bool = False, item_bonus=None):
    """Constrained beam search over the levels of a Semantic ID.

    Parameters
    ----------
    step : callable
        ``step(level, codes, parent, prefix) -> logp``: ``codes`` (B, W, level) are the
        codes chosen so far by each of the W beams, ``parent`` (B, W) the index of each
        beam in the previous level's beams (None at level 0, where W = 1), ``prefix``
        (B, W) the trie prefix id of each beam; returns the log-probabilities
        (B, W, K_level) of the next code. Stateful steps (TIGER's KV cache) reorder their
        state with ``parent``; the learned leaf (:mod:`sksid.nn.leaf`) reads ``prefix``.
    trie : PrefixTrie
    batch_size : int
    beam_width : int
        Beams kept after each level (at most ``W x K`` candidates exist).
    k : int
        Items returned (``k <= beam_width``).
    renormalize : bool, default=False
        Renormalise each level's log-probabilities over the valid children of the beam's
        prefix (the trie-constrained softmax the model was trained with, see
        :func:`constrain`).
    item_bonus : FloatTensor (B, n_items), optional
        Per-item score added to every candidate at the last level, after renormalising
        (IntRR's UID head: ``μ · log p_uid(i)``). With an exhaustive beam the search then
        ranks every item by ``Σ_l log p_l + bonus``; with a narrow one the bonus reranks
        the items whose prefixes survived.

    Returns
    -------
    items : LongTensor (B, k)
        Distinct catalogue ids, best first.
    scores : FloatTensor (B, k)
        Summed level log-probabilities (plus ``item_bonus``) of the returned items.

    Notes
    -----
    With ``W`` beams kept and every catalogue prefix extending to at least one item, the
    search keeps ``min(W, n_prefix_l)`` valid beams at each level, hence returns ``k``
    real and distinct items whenever ``k <= min(beam_width, n_items)``.
    """
    if k > beam_width:
        raise ValueError(f"beam_width={beam_width} must be >= k={k}")
    device = trie.leaf_item.device
    B = batch_size
    prefix = torch.zeros(B, 1, dtype=torch.long, device=device)
    score = torch.zeros(B, 1, device=device)
    codes = torch.zeros(B, 1, 0, dtype=torch.long, device=device)
    parent = None
    for level in range(trie.n_levels):
        logp = step(level, codes, parent, prefix).float()  # (B, W, K)
        K = logp.shape[-1]
        child = trie.next_prefixes(level, prefix)  # (B, W, K)
        if renormalize:
            logp = torch.log_softmax(constrain(logp, child >= 0), -1)
        if item_bonus is not None and level == trie.n_levels - 1:
            leaf = trie.leaf_item[child.clamp(min=0)].view(B, -1)
            logp = logp + item_bonus.float().gather(1, leaf).view(logp.shape)
        cand = (score.unsqueeze(-1) + logp).masked_fill(child < 0, float("-inf")).view(B, -1)
        score, idx = cand.topk(min(beam_width, cand.shape[1]), dim=1)
        parent = torch.div(idx, K, rounding_mode="floor")
        code = idx - parent * K
        prefix = child.view(B, -1).gather(1, idx).clamp(min=0)  # invalid beams keep score -inf
        codes = torch.cat([codes.gather(1, parent.unsqueeze(-1).expand(-1, -1, level)),
                           code.unsqueeze(-1)], dim=-1)
    items = trie.leaf_item[prefix]
    return items[:, :k], score[:, :k]
