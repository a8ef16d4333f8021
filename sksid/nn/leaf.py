"""Learned disambiguation of colliding Semantic IDs (the "leaf" of the catalogue trie).

Items that share a code tuple get TIGER's extra last code ``0, 1, 2, ...``
(:func:`~sksid.nn.beam.disambiguate`). That code carries no meaning (it follows item ids),
so a codebook for it cannot be learned: its accuracy equals the share of suffix-0 items.
Here the last level is scored instead from the **items** of the group: the logit of slot
``j`` under prefix ``p`` is ``q · e(item(p, j)) / τ``, where ``e`` is an item embedding
(IntRR: the item's unique-ID anchor of the RAN; TIGER: an item table of its own). The
slot of a non-colliding item is its group's only slot, so its leaf log-probability is 0.
"""
from __future__ import annotations

import torch

__all__ = ["group_slots", "leaf_logits", "MASKED"]

MASKED = -1e9  # finite: a row of masked slots stays NaN-free through log_softmax


def group_slots(trie) -> torch.Tensor:
    """Item ids of every slot of each item's collision group, ``(n_items, K_last)`` (-1: none).

    ``trie`` is a :class:`~sksid.nn.beam.PrefixTrie` of disambiguated codes whose last level
    is the disambiguation code.

    Examples
    --------
    >>> from sksid.nn.beam import PrefixTrie
    >>> group_slots(PrefixTrie([[0, 0], [0, 1], [1, 0]], (2, 2))).tolist()
    [[0, 1], [0, 1], [2, -1]]
    """
    last = trie.n_levels - 1
    child = trie.next_prefixes(last, trie.item_prefix(last))  # (n_items, K) prefix ids at full depth
    return torch.where(child >= 0, trie.leaf_item[child.clamp(min=0)], child)


def leaf_logits(q, slot_items, embed, tau=1.0):
    """Slot logits ``q · embed(item) / τ`` (..., K); empty slots get :data:`MASKED`.

    Parameters
    ----------
    q : Tensor (..., d)
        Query of the last level (IntRR: the RAN's conditioned query; TIGER: the state).
    slot_items : LongTensor (..., K)
        Item id of every slot (-1: empty).
    embed : callable
        ``embed(ids) -> (..., d)`` item embeddings.
    """
    valid = slot_items >= 0
    e = embed(slot_items.clamp(min=0)).to(q.dtype)
    lg = (q.unsqueeze(-2) * e).sum(-1).float() / tau
    return lg.masked_fill(~valid, MASKED)
