"""RPG (Hou et al., KDD'25, "Generating Long Semantic IDs in Parallel for Recommendation").

Every item is a long, unordered Semantic ID of ``m`` sub-codes (product quantisation:
one code of ``K`` entries per position). Its input token is the mean of its ``m``
sub-code embeddings; a causal transformer reads the history; from each hidden state
``m`` heads predict the next item's ``m`` sub-codes in parallel, as cosine logits
between the head's output and that position's sub-code embeddings (tied to the input
table) over a temperature. Training: the mean cross-entropy over the ``m`` positions at
every position of the causal row. Decoding scores an item by the sum of its sub-codes'
log-probabilities: over every item (:meth:`RPGModule.rank_exact`) or over the items a
beam reaches on an item-item graph (:meth:`RPGModule.rank_graph`, the paper's
graph-constrained decoding). Follows the authors' code (``facebookresearch/RPG_KDD2025``,
``genrec/models/RPG/model.py``); differences are stated where they occur.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from .transformer import CausalTransformer, gather_last

__all__ = ["RPGModule"]


class RPGModule(nn.Module):
    """Mean-of-sub-code item tokens, a causal transformer and ``m`` parallel code heads.

    Parameters
    ----------
    n_items : int
    codes : array-like of shape (n_items, m), int
        Sub-code of every item at every position (``0 <= codes[:, j] < codebook_sizes[j]``).
    codebook_sizes : sequence of m ints
        Entries per position; the table holds ``max(codebook_sizes)`` rows per position and
        logits of the entries past a position's size are masked.
    d_model, n_layers, n_heads, d_ff, dropout, max_len : transformer sizes.
    temperature : float, default=0.03
        Divides the cosine logits.
    norm_first, init_std : see :class:`~sksid.nn.transformer.CausalTransformer`.

    Examples
    --------
    >>> m = RPGModule(4, codes=[[0, 1], [1, 0], [1, 1], [0, 0]], codebook_sizes=(2, 2),
    ...               d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=3)
    >>> out = m(items=torch.tensor([[0, 1, -1]]))
    >>> m.loss(out, targets=torch.tensor([[1, 2, -1]])).ndim
    0
    >>> m.rank_exact(torch.tensor([[0, 1, -1]]), torch.tensor([2]), k=2)[0].shape
    torch.Size([1, 2])
    """

    data_parallel = True  # sksid.distributed may split its batches over processes

    def __init__(self, n_items, codes, codebook_sizes, d_model=64, n_layers=2, n_heads=2, d_ff=256,
                 dropout=0.2, max_len=20, temperature=0.03, norm_first=True, init_std=None):
        super().__init__()
        codes = torch.as_tensor(np.asarray(codes, dtype=np.int64))
        sizes = [int(s) for s in codebook_sizes]
        m, K = codes.shape[1], max(sizes)
        if codes.shape[0] != n_items or len(sizes) != m:
            raise ValueError(f"codes of shape {tuple(codes.shape)} for n_items={n_items} and "
                             f"{len(sizes)} codebook sizes")
        self.n_items, self.n_codes, self.codebook_size = int(n_items), m, K
        self.temperature = float(temperature)
        self.register_buffer("codes", codes)
        # one table of m * K rows: position j's entry c is row j * K + c
        self.register_buffer("token_ids", codes + torch.arange(m) * K)
        invalid = torch.arange(K)[None, :] >= torch.tensor(sizes)[:, None]
        self.register_buffer("invalid", invalid)  # (m, K): entries past a position's size
        self.masked = bool(invalid.any())
        self.token_emb = nn.Embedding(m * K, d_model)
        nn.init.normal_(self.token_emb.weight, std=0.02)
        self.emb_ln = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.backbone = CausalTransformer(d_model, n_layers, n_heads, d_ff, dropout, max_len,
                                          norm_first=norm_first, init_std=init_std)
        # one residual head per position, h + SiLU(W_j h + b_j), the identity at initialisation
        # (the authors' ResBlock, all m heads as one batched weight)
        self.head_weight = nn.Parameter(torch.zeros(m, d_model, d_model))
        self.head_bias = nn.Parameter(torch.zeros(m, d_model))

    # ---- encoder -----------------------------------------------------------------------------
    def item_tokens(self, items):
        """Input tokens of item ids (any shape, ``-1`` padding -> zeros): the mean of the
        item's ``m`` sub-code embeddings."""
        idx = items.clamp(min=0)
        emb = self.token_emb(self.token_ids[idx]).mean(-2)
        return emb.masked_fill((items < 0).unsqueeze(-1), 0.0)

    def encode(self, items):
        """Hidden states (B, T, d) of right-padded item histories."""
        return self.backbone(self.emb_ln(self.item_tokens(items)))

    def forward(self, items, targets=None):
        return {"hidden": self.encode(items)}

    def code_logits(self, h):
        """Logits (N, m, K) of every position's sub-codes from hidden states (N, d): cosine
        of head j's output and position j's entries over the temperature, in float32."""
        with torch.autocast(h.device.type, enabled=False):
            h = h.float()
            z = h.unsqueeze(1) + F.silu(torch.einsum("nd,mde->nme", h, self.head_weight.float())
                                        + self.head_bias.float())
            table = self.token_emb.weight.float().view(self.n_codes, self.codebook_size, -1)
            logits = torch.einsum("nmd,mkd->nmk", F.normalize(z, dim=-1), F.normalize(table, dim=-1))
            logits = logits / self.temperature
        if self.masked:
            logits = logits.masked_fill(self.invalid, float("-inf"))
        return logits

    def loss(self, out, targets, **_):
        """Mean cross-entropy over the ``m`` positions and every real position of the rows."""
        mask = targets >= 0
        logits = self.code_logits(out["hidden"][mask])
        labels = self.codes[targets[mask]]
        return F.cross_entropy(logits.reshape(-1, self.codebook_size), labels.reshape(-1))

    # ---- decoding ----------------------------------------------------------------------------
    def log_probs(self, items, lengths):
        """Per-position log-softmax (B, m, K) of the next item's sub-codes after each history."""
        h = gather_last(self.encode(items), lengths)
        return F.log_softmax(self.code_logits(h), dim=-1)

    def item_scores(self, logp, items=None):
        """Summed sub-code log-probabilities ``Σ_j logp[:, j, codes[i, j]]``: of the items
        ``items`` (B, C) of each row, or (``items=None``) of every catalogue item (B, n_items),
        gathered one position at a time."""
        B = logp.shape[0]
        if items is None:
            scores = logp.new_zeros(B, self.n_items)
            for j in range(self.n_codes):  # m gathers of (B, n_items), no per-item loop
                scores += logp[:, j].index_select(1, self.codes[:, j])
            return scores
        flat = self.token_ids[items].reshape(B, -1)  # (B, C * m) rows of the flat (m * K) table
        return logp.reshape(B, -1).gather(1, flat).view(*items.shape, self.n_codes).sum(-1)

    def rank_exact(self, items, lengths, k):
        """Top-``k`` ``(ids, scores)`` (B, k) over the whole catalogue (the authors' default
        decoding, which ranks by the mean: the same order)."""
        top = self.item_scores(self.log_probs(items, lengths)).topk(k, dim=1)
        return top.indices, top.values

    def start_beam(self, items, lengths, width):
        """Initial beam (B, width) of distinct items: ``width`` items evenly spaced over the
        catalogue from an offset that hashes the history, so a user's start does not depend
        on the batch (the authors draw ``width`` uniform random items)."""
        n = self.n_items
        T = items.shape[1]
        mult = (torch.arange(T, device=items.device) * 40503 + 12345) % 65521 + 1
        offset = ((items.clamp(min=0) * mult).sum(1) + lengths * 7919) % n
        return (offset[:, None] + torch.arange(width, device=items.device) * (n // width)) % n

    def rank_graph(self, items, lengths, k, neighbors, beam_width=50, steps=3):
        """Top-``k`` ``(ids, scores)`` by beam search on the item graph ``neighbors``
        (n_items, g): start from :meth:`start_beam`; each step scores the beam and its
        items' neighbours (distinct) and keeps the best ``beam_width``; return the best ``k``.

        The authors' rule, with the beam itself kept among the candidates (theirs are the
        neighbours only, which hold the beam when every item is its own neighbour), so the
        best score never drops. Scores are exact
        summed log-probabilities; when the candidates cover the catalogue (``beam_width``
        or ``g`` >= n_items) the result is the exact top-``k``."""
        logp = self.log_probs(items, lengths)
        width = min(max(int(beam_width), k), self.n_items)
        beam = self.start_beam(items, lengths, width)
        for _ in range(int(steps)):
            cand = torch.cat([beam, neighbors[beam].flatten(1)], dim=1).sort(dim=1).values
            scores = self.item_scores(logp, cand)
            dup = torch.zeros_like(cand, dtype=torch.bool)
            dup[:, 1:] = cand[:, 1:] == cand[:, :-1]
            top = scores.masked_fill(dup, float("-inf")).topk(width, dim=1)
            beam = cand.gather(1, top.indices)
        top = self.item_scores(logp, beam).topk(k, dim=1)
        return beam.gather(1, top.indices), top.values

    def item_graph(self, n_neighbors, chunk=1 << 22):
        """Item-item graph (n_items, g): each item's ``g`` most similar items (itself
        among them), similarity = the mean over positions of the cosine between the two
        items' learned sub-code embeddings (the authors' rule; their ``(cos + 1) / 2``
        ranks the same). Items sharing a sub-code get that position's maximum. One matmul
        of the concatenated normalised sub-code embeddings per block of rows."""
        table = F.normalize(self.token_emb.weight.float(), dim=-1)
        V = table[self.token_ids].flatten(1) / self.n_codes ** 0.5  # (n, m * d): V V^T = mean cosine
        g = min(int(n_neighbors), self.n_items)
        rows = max(1, chunk // self.n_items)
        return torch.cat([(V[i:i + rows] @ V.t()).topk(g, dim=1).indices
                          for i in range(0, self.n_items, rows)])
