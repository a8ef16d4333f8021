"""TIGER-style flattened generation: L code tokens per item, next item's codes decoded one by one.

TIGER proper (Rajput et al., 2023) is an encoder-decoder; this baseline is the
decoder-only "flattened" variant that IntRR compares against (docs/recommenders.md): every history
item enters the same :class:`~sksid.nn.transformer.CausalTransformer` as its ``L`` code
tokens (token embedding per (level, code) + level embedding), so the sequence is ``L``
times longer, and the next item's codes are generated autoregressively. Training is
teacher-forced on every position of the flattened window; inference prefills the
history once (keeping every layer's keys/values) and then decodes the ``L`` levels
incrementally, one token per beam and level, through the shared constrained
:func:`~sksid.nn.beam.beam_search`. Output logits are tied to the level's token
embeddings (as IntRR's are tied to its codebooks).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from .beam import PrefixTrie, beam_search, constrain
from .intrr import weighted_level_ce
from .leaf import group_slots, leaf_logits
from .transformer import CausalTransformer

__all__ = ["TIGERModule"]


class TIGERModule(nn.Module):
    """Decoder-only flattened SID generator (the TIGER baseline of IntRR).

    Parameters
    ----------
    n_items : int
    codes : array-like of shape (n_items, L), int
        Disambiguated SIDs.
    codebook_sizes : sequence of int of length L
    weights : array-like of shape (n_items, L), optional
        Per-code loss weights; ones when absent.
    d_model, n_layers, n_heads, head_dim, d_ff, dropout, max_len : backbone sizes
        (``max_len`` in items; the backbone holds ``(max_len + 1) * L`` positions).
    use_code_weights : bool, default=True
    leaf : bool, default=False
        The last level is a disambiguation code scored by a learned item table
        (:mod:`sksid.nn.leaf`) instead of code tokens.
    constrained : bool, default=False
        Trie-constrained softmax in training and decoding (:func:`~sksid.nn.beam.constrain`).
    norm_first, init_std : backbone layout and initialisation
        (:class:`~sksid.nn.transformer.CausalTransformer`); post-norm leaves the token
        embedding un-normalised for the backbone's input LayerNorm.

    Examples
    --------
    >>> m = TIGERModule(4, codes=[[0, 0], [0, 1], [1, 0], [1, 1]], codebook_sizes=(2, 2),
    ...                 d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=3)
    >>> batch = dict(items=torch.tensor([[0, 1, -1]]), targets=torch.tensor([[1, 2, -1]]))
    >>> m.loss(m(**batch), **batch).ndim
    0
    """

    data_parallel = True  # sksid.distributed may split its batches over processes

    def __init__(self, n_items, codes, codebook_sizes, weights=None, d_model=256, n_layers=4,
                 n_heads=6, head_dim=64, d_ff=1024, dropout=0.15, max_len=20, use_code_weights=True,
                 leaf=False, constrained=False, norm_first=True, init_std=None):
        super().__init__()
        codes = np.asarray(codes, dtype=np.int64)
        sizes = [int(k) for k in codebook_sizes]
        self.n_items = int(n_items)
        self.L = codes.shape[1]
        self.codebook_sizes = tuple(sizes)
        w = np.ones(codes.shape, np.float32) if weights is None else np.asarray(weights, np.float32)
        self.use_code_weights = bool(use_code_weights) and not np.all(w == 1.0)
        self.register_buffer("sid", torch.as_tensor(codes))
        self.register_buffer("level_loss_weights", torch.as_tensor(w))  # (n_items, L) per-level loss weights
        offsets = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64)
        self.register_buffer("offsets", torch.as_tensor(offsets))
        self.n_tokens = int(sum(sizes))
        self.tok_emb = nn.Embedding(self.n_tokens + 1, d_model, padding_idx=self.n_tokens)
        nn.init.normal_(self.tok_emb.weight, std=0.02)
        with torch.no_grad():
            self.tok_emb.weight[self.n_tokens].zero_()
        self.lvl_emb = nn.Embedding(self.L, d_model)
        nn.init.normal_(self.lvl_emb.weight, std=0.02)
        # post-norm: the backbone normalises the token + level + position sum instead
        self.emb_ln = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.backbone = CausalTransformer(d_model, n_layers, n_heads, d_ff, dropout,
                                          (max_len + 1) * self.L, head_dim=head_dim,
                                          norm_first=norm_first, init_std=init_std)
        self.trie = PrefixTrie(codes, sizes)
        self.leaf = bool(leaf) and self.L > 1
        self.constrained = bool(constrained)
        if self.leaf:
            self.register_buffer("slots", group_slots(self.trie))
            self.item_emb = nn.Embedding(self.n_items, d_model)
            nn.init.normal_(self.item_emb.weight, std=0.02)

    # -- tokens --------------------------------------------------------------------------
    def flatten(self, items):
        """Token ids (B, T*L) of right-padded item histories (padding -> pad token)."""
        tok = self.sid[items.clamp(min=0)] + self.offsets
        tok = torch.where((items >= 0).unsqueeze(-1), tok, torch.full_like(tok, self.n_tokens))
        return tok.flatten(1)

    def _embed(self, tok, levels):
        return self.emb_ln(self.tok_emb(tok) + self.lvl_emb(levels))

    def embed_history(self, items):
        """Backbone input (B, T*L, d): ``L`` tokens per history item."""
        tok = self.flatten(items)
        levels = torch.arange(tok.shape[1], device=tok.device) % self.L
        return self._embed(tok, levels)

    def level_table(self, level):
        o = int(self.offsets[level])
        return self.tok_emb.weight[o:o + self.codebook_sizes[level]]

    # -- training ------------------------------------------------------------------------
    def forward(self, items, targets=None):
        full = torch.cat([items, torch.full_like(items[:, :1], -1)], dim=1)
        if targets is not None:
            full[:, 1:] = torch.where(targets >= 0, targets, full[:, 1:])
        hidden = self.backbone(self.embed_history(full))
        return {"hidden": hidden.view(items.shape[0], items.shape[1] + 1, self.L, -1)}

    def _prediction_states(self, hidden):
        """States (N, T, L, d) predicting each level of item ``t + 1``."""
        first = hidden[:, :-1, self.L - 1:]  # after the last token of item t
        rest = hidden[:, 1:, : self.L - 1]  # after token l-1 of item t+1
        return torch.cat([first, rest], dim=2)

    def loss(self, out, targets, **_):
        mask = targets >= 0
        t = targets[mask]
        states = self._prediction_states(out["hidden"])[mask]  # (n, L, d)
        logits = [states[:, l] @ self.level_table(l).t() for l in range(self.L)]
        if self.leaf:
            logits[-1] = leaf_logits(states[:, -1], self.slots[t], self.item_emb)
        if self.constrained:
            logits = [constrain(lg, self.trie.item_children(l, t)) for l, lg in enumerate(logits)]
        return weighted_level_ce(logits, self.sid[t], self.level_loss_weights[t] if self.use_code_weights else None)

    # -- inference (prefill + incremental decoding) --------------------------------------
    def _qkv(self, blk, x):
        q, k, v = blk.qkv(blk.attention_input(x)).view(*x.shape[:-1], 3, blk.n_heads, blk.head_dim).unbind(-3)
        return q, k, v

    def prefill(self, items):
        """Run the history once; returns states (B, T*L, d) and per-layer (k, v) (B, H, S, hd)."""
        bb = self.backbone
        x = self.embed_history(items)
        S = x.shape[1]
        if S > bb.max_positions:
            raise ValueError(f"sequence of {S} tokens exceeds max_positions={bb.max_positions}")
        x = bb.input(x + bb.pos.weight[:S])
        cache = []
        for blk in bb.blocks:
            q, k, v = (t.transpose(1, 2) for t in self._qkv(blk, x))
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = blk.add_attention(x, blk.proj(a.transpose(1, 2).reshape(x.shape[0], S, -1)))
            x = blk.add_feed_forward(x)
            cache.append((k, v))
        return bb.output(x), cache

    def rank(self, items, lengths, k, beam_width):
        """Top-``k`` items (B, k) and summed level log-probs; KV-cached decoding."""
        B = items.shape[0]
        n_tok = lengths.clamp(min=1) * self.L  # empty rows are answered by popularity upstream
        hidden, hist = self.prefill(items)
        S = hidden.shape[1]
        key_ok = (torch.arange(S, device=items.device).view(1, S) < n_tok.view(B, 1)).view(B, 1, 1, S)
        h_last = hidden.gather(1, (n_tok - 1).view(B, 1, 1).expand(-1, 1, hidden.shape[-1])).squeeze(1)
        blocks = self.backbone.blocks
        state = {"beam": None}

        def step(level, codes, parent, prefix):
            if level == 0:
                return F.log_softmax((h_last @ self.level_table(0).t()).float(), -1).unsqueeze(1)
            W = codes.shape[1]
            tok = codes[..., -1] + self.offsets[level - 1]
            lvl = torch.full_like(tok, level - 1)
            pos = (n_tok + level - 1).view(B, 1).expand(-1, W)
            x = self.backbone.input(self._embed(tok, lvl) + self.backbone.pos(pos))
            new_cache = []
            for i, blk in enumerate(blocks):
                q, k_new, v_new = self._qkv(blk, x)  # (B, W, H, hd)
                kh, vh = hist[i]
                if state["beam"] is None:
                    bk = k_new.unsqueeze(3)
                    bv = v_new.unsqueeze(3)
                else:
                    pk, pv = state["beam"][i]
                    idx = parent.view(B, W, 1, 1, 1).expand(-1, -1, *pk.shape[2:])
                    bk = torch.cat([pk.gather(1, idx), k_new.unsqueeze(3)], dim=3)
                    bv = torch.cat([pv.gather(1, idx), v_new.unsqueeze(3)], dim=3)
                new_cache.append((bk, bv))
                scale = blk.head_dim ** -0.5
                sh = torch.einsum("bwhd,bhsd->bwhs", q, kh) * scale
                sh = sh.masked_fill(~key_ok, float("-inf"))
                sb = torch.einsum("bwhd,bwhjd->bwhj", q, bk) * scale
                p = torch.cat([sh, sb], dim=-1).float().softmax(-1).to(q.dtype)
                a = (torch.einsum("bwhs,bhsd->bwhd", p[..., :S], vh)
                     + torch.einsum("bwhj,bwhjd->bwhd", p[..., S:], bv))
                x = blk.add_feed_forward(blk.add_attention(x, blk.proj(a.reshape(B, W, -1))))
            state["beam"] = new_cache
            h = self.backbone.output(x)
            if self.leaf and level == self.L - 1:
                child = self.trie.next_prefixes(level, prefix)
                slot_items = torch.where(child >= 0, self.trie.leaf_item[child.clamp(min=0)], child)
                return F.log_softmax(leaf_logits(h, slot_items, self.item_emb), -1)
            return F.log_softmax((h @ self.level_table(level).t()).float(), -1)

        return beam_search(step, self.trie, B, beam_width, k, renormalize=self.constrained)

    def level_logprobs(self, items, lengths):
        """Brute force: log-probability (B, n_items) of every catalogue item after each history.

        Runs the full flattened sequence once per (user, item) pair: for tests and tiny
        catalogues only.
        """
        B, T = items.shape
        n = self.n_items
        full = torch.cat([items, torch.full_like(items[:, :1], -1)], dim=1)
        full = full.unsqueeze(1).expand(-1, n, -1).clone()  # (B, n, T+1)
        cand = torch.arange(n, device=items.device).view(1, n).expand(B, -1)
        full.scatter_(2, lengths.view(B, 1, 1).expand(-1, n, 1), cand.unsqueeze(-1))
        full = full.reshape(B * n, T + 1)
        hidden = self.backbone(self.embed_history(full)).view(B * n, T + 1, self.L, -1)
        states = self._prediction_states(hidden)  # (B*n, T, L, d)
        pos = (lengths.clamp(min=1) - 1).repeat_interleave(n)
        st = states[torch.arange(B * n, device=items.device), pos]  # (B*n, L, d)
        sid = self.sid[cand.reshape(-1)]
        total = 0.0
        for l in range(self.L):
            if self.leaf and l == self.L - 1:
                lg = leaf_logits(st[:, l], self.slots[cand.reshape(-1)], self.item_emb)
            else:
                lg = st[:, l] @ self.level_table(l).t()
            if self.constrained:
                lg = constrain(lg, self.trie.item_children(l, cand.reshape(-1)))
            lp = F.log_softmax(lg.float(), -1)
            total = total + lp.gather(1, sid[:, l:l + 1]).squeeze(1)
        return total.view(B, n)
