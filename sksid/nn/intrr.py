"""IntRR module: RAN tokens (one per item) + causal transformer + recursive SID decoding.

See docs/recommenders.md. ``L = L_rec + λ·L_aln`` with ``L_rec = Σ_l CE_l`` over every training
position (per-level weighted by the target item's tokenizer weights) and
``L_aln = Σ_l CE(q_l C_lᵀ, s_l)`` over the items of the batch.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from .beam import PrefixTrie, beam_search, constrain
from .leaf import group_slots, leaf_logits
from .ran import RAN, _check_mode
from .transformer import CausalTransformer, gather_last

__all__ = ["IntRRModule", "weighted_level_ce"]


def weighted_level_ce(logits, labels, weights=None):
    """``Σ_l mean_i w_il · CE(logits_l[i], labels[i, l])`` (unweighted when ``weights`` is None)."""
    total = 0.0
    for level, lg in enumerate(logits):
        ce = F.cross_entropy(lg.float(), labels[:, level], reduction="none")
        if weights is not None:
            ce = ce * weights[:, level]
        total = total + ce.mean()
    return total


class IntRRModule(nn.Module):
    """IntRR: SID redistribution (RAN) and length reduction (one token per item).

    Parameters
    ----------
    n_items : int
    codes : array-like of shape (n_items, L), int
        Disambiguated stage-1 SIDs (labels of the alignment loss and of L_rec).
    codebook_sizes : sequence of int of length L
    weights : array-like of shape (n_items, L), optional
        Per-code loss weights (ADC-SID); ones when absent.
    d_model, n_layers, n_heads, head_dim, d_ff, dropout, max_len : backbone sizes.
    alignment_weight : float, default=0.1
        λ of ``L = L_rec + λ·L_aln``.
    input_mode : {"redistribution", "teacher_forcing"}, default="redistribution"
    output_mode : {"teacher_forcing", "redistribution"}, default="teacher_forcing"
    tau : float, default=1.0
    use_code_weights : bool, default=True
    conditioning : {"prefix", "previous"}, default="prefix"
        What each level's MLP sees: the sum of all previous codewords or the previous one.
    leaf : bool, default=False
        The last level is a disambiguation code (:func:`~sksid.nn.beam.disambiguate`)
        scored by the items' UID anchors (:mod:`sksid.nn.leaf`) instead of a codebook.
    uid_in_token : bool, default=False
        Add the item's UID anchor ``e_i`` to its token (``Σ_l c_l + e_i``).
    constrained : bool, default=False
        Trie-constrained softmax: each level normalises over the codes that continue the
        prefix to a catalogue item, in training and decoding (:func:`~sksid.nn.beam.constrain`).
    uid_weight : float, default=0.0
        μ of the UID head (beyond the paper): the user state also scores every item by its
        UID anchor, ``p_uid(i) ∝ exp(h_u · e_i / τ)``; the loss adds ``μ · CE(p_uid, i)``
        and decoding ranks by ``Σ_l log p_l + μ · log p_uid(i)``. 0 disables it.
    uid_init : array-like of shape (n_items, d_model), optional
        Initial UID embeddings (:class:`~sksid.nn.ran.RAN`).
    norm_first : bool, default=True
        Pre-norm blocks with a LayerNorm on each token; False: post-norm blocks with one
        LayerNorm over the token + position sum (SASRec's original and RecBole's layout),
        see :class:`~sksid.nn.transformer.CausalTransformer`.
    init_std : float or None, default=None
        N(0, init_std) initialisation of the backbone's weights (RecBole: 0.02); None keeps
        PyTorch's defaults. The RAN's tables keep their own initialisation.

    Examples
    --------
    >>> m = IntRRModule(4, codes=[[0, 0], [0, 1], [1, 0], [1, 1]], codebook_sizes=(2, 2),
    ...                 d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=3)
    >>> batch = dict(items=torch.tensor([[0, 1, -1]]), targets=torch.tensor([[1, 2, -1]]))
    >>> m.loss(m(**batch), **batch).ndim
    0
    """

    def __init__(self, n_items, codes, codebook_sizes, weights=None, d_model=256, n_layers=4,
                 n_heads=6, head_dim=64, d_ff=1024, dropout=0.15, max_len=20, alignment_weight=0.1,
                 input_mode="redistribution", output_mode="teacher_forcing", tau=1.0,
                 use_code_weights=True, conditioning="prefix", leaf=False,
                 constrained=False, uid_in_token=False, uid_weight=0.0, uid_init=None,
                 norm_first=True, init_std=None):
        super().__init__()
        codes = np.asarray(codes, dtype=np.int64)
        self.n_items = int(n_items)
        self.input_mode = _check_mode(input_mode, "input_mode")
        self.output_mode = _check_mode(output_mode, "output_mode")
        self.alignment_weight = float(alignment_weight)
        w = np.ones(codes.shape, np.float32) if weights is None else np.asarray(weights, np.float32)
        self.use_code_weights = bool(use_code_weights) and not np.all(w == 1.0)
        self.register_buffer("sid", torch.as_tensor(codes))
        self.register_buffer("level_loss_weights", torch.as_tensor(w))  # (n_items, L) per-level loss weights
        self.ran = RAN(n_items, codebook_sizes, d_model, tau, conditioning, uid_init=uid_init)
        self.trie = PrefixTrie(codes, codebook_sizes)
        self.leaf = bool(leaf) and codes.shape[1] > 1
        self.constrained = bool(constrained)
        self.uid_in_token = bool(uid_in_token)
        self.uid_weight = float(uid_weight)
        if self.leaf:
            self.register_buffer("slots", group_slots(self.trie))
        # post-norm: the backbone normalises the token + position sum instead
        self.emb_ln = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.backbone = CausalTransformer(d_model, n_layers, n_heads, d_ff, dropout, max_len, head_dim=head_dim,
                                          norm_first=norm_first, init_std=init_std)

    # -- input side ---------------------------------------------------------------------
    _token_table = None  # set inside :meth:`inference_cache`
    #: run the RAN once per distinct batch item (True) or once per position (False);
    #: None: distinct on a CPU. Both give the same tokens, losses and gradients.
    distinct_tokens = None

    def tokenize(self, items):
        """One token per history item (B, T, d) and the RAN outputs; padding (-1) -> 0.

        An item's token depends on the item only, so on a CPU (see
        :attr:`distinct_tokens`) the RAN runs once per **distinct** item of ``items`` (a
        batch repeats popular items and is mostly padding on short histories) and the
        tokens are gathered back. On an accelerator it runs
        once per position (static shapes for ``torch.compile``, no host sync). Either way
        ``ran["items"]`` are the rows the RAN ran on, ``ran["counts"]`` how many history
        positions each row stands for (0 for padding), and ``ran["logits"]`` their
        alignment logits.
        """
        valid = items >= 0
        distinct = self.distinct_tokens
        if distinct is None:
            distinct = items.device.type == "cpu"
        if distinct:
            rows_ran, inverse, counts = torch.unique(items[valid], return_inverse=True, return_counts=True)
            rows = torch.full(items.shape, rows_ran.numel(), dtype=torch.long, device=items.device)
            rows[valid] = inverse
        else:
            rows_ran = items.clamp(min=0).reshape(-1)
            counts = valid.reshape(-1).long()
            positions = torch.arange(items.numel(), device=items.device).view(items.shape)
            rows = torch.where(valid, positions, rows_ran.numel())
        ran = self.ran.assign(rows_ran, sid=self.sid[rows_ran], mode=self.input_mode)
        per_item = ran["token"] + ran["anchor"] if self.uid_in_token else ran["token"]
        tokens = torch.cat([per_item, per_item.new_zeros(1, per_item.shape[-1])])[rows]
        return self.emb_ln(tokens), {**ran, "items": rows_ran, "counts": counts}

    @contextlib.contextmanager
    def inference_cache(self, items, *_):
        """Compute the input token of each distinct item of ``items`` (array of padded
        histories, -1 = padding) once for the block instead of once per history position
        (eval mode, no grad: :func:`sksid.training.eval_batches` enters it).

        An item's token depends only on the item (its UID anchor and RAN assignment), so
        ranking a batch then costs a table look-up plus the backbone. Histories in the
        block must draw from ``items``; outside the block, or in training mode, tokens are
        computed as usual.
        """
        if self.training or torch.is_grad_enabled():
            yield
            return
        device = self.sid.device
        items = np.asarray(items)
        distinct = np.unique(items[items >= 0])
        rows = np.full(self.n_items + 1, len(distinct), dtype=np.int64)  # the last row pads
        rows[distinct] = np.arange(len(distinct))
        distinct = torch.as_tensor(np.append(distinct, -1), device=device)
        chunk = max(1, (1 << 22) // max(1, self.backbone.pos.embedding_dim))
        table = torch.cat([self.tokenize(distinct[b:b + chunk])[0] for b in range(0, len(distinct), chunk)])
        self._token_table = (table, torch.as_tensor(rows, device=device))
        try:
            yield
        finally:
            self._token_table = None

    def encode(self, items):
        """Backbone states (B, T, d): exactly one token per history item (looked up in the
        call's token table inside :meth:`inference_cache`)."""
        if self._token_table is not None and not self.training:
            table, rows = self._token_table
            tokens = table[rows[torch.where(items >= 0, items, self.n_items)]]
        else:
            tokens, _ = self.tokenize(items)
        return self.backbone(tokens)

    def forward(self, items, targets=None):
        tokens, ran = self.tokenize(items)
        return {"hidden": self.backbone(tokens), "aln_logits": ran["logits"],
                "aln_items": ran["items"], "aln_counts": ran["counts"]}

    data_parallel = True  # sksid.distributed may split its batches over processes

    def loss(self, out, items, targets, **_):
        return sum(v for v, _ in self.loss_parts(out, items, targets))

    def loss_parts(self, out, items, targets, **_):
        """``[(L_rec, positions with a target), (λ·L_aln, history items)]``: the two means
        of the loss and the units each averages over (:mod:`sksid.distributed`)."""
        mask = targets >= 0
        t = targets[mask]
        sid_t = self.sid[t]
        logits, queries = self.ran.output_logits(out["hidden"][mask], sid_t, self.output_mode,
                                                 return_queries=True)
        if self.leaf:
            logits[-1] = self._leaf_logits(queries[-1], self.slots[t])
        if self.constrained:
            logits = [constrain(lg, self.trie.item_children(l, t)) for l, lg in enumerate(logits)]
        l_rec = weighted_level_ce(logits, sid_t, self.level_loss_weights[t] if self.use_code_weights else None)
        if self.uid_weight > 0:
            l_rec = l_rec + self.uid_weight * F.cross_entropy(self.uid_logits(out["hidden"][mask]).float(), t)
        parts = [(l_rec, int(mask.sum()))]
        if self.alignment_weight == 0:
            return parts
        # the mean over history positions, computed once per distinct item (its count as weight)
        counts = out["aln_counts"].to(torch.float32)
        n_pos = counts.sum()
        w = (counts * (counts.numel() / n_pos)).unsqueeze(1).expand(-1, self.sid.shape[1])
        l_aln = weighted_level_ce(out["aln_logits"], self.sid[out["aln_items"]], w)
        return parts + [(self.alignment_weight * l_aln, int(n_pos))]

    def _leaf_logits(self, q, slot_items):
        return leaf_logits(q, slot_items, self.ran.item_anchor, self.ran.tau)

    def uid_logits(self, h):
        """UID head: ``h · e_iᵀ / τ`` for every catalogue item (..., n_items)."""
        anchors = self.ran.item_anchor(torch.arange(self.n_items, device=h.device))
        if self.ran.tau != 1.0:  # scale the (n_items, d) table, not the (..., n_items) logits
            anchors = anchors / self.ran.tau
        return h @ anchors.to(h.dtype).t()

    #: items with no training interaction and what their UID term becomes (set by the
    #: estimator, :meth:`set_cold_items`); None: every item keeps its own ``log p_uid``
    cold_uid = None

    def set_cold_items(self, cold, groups, mode="prefix_mean"):
        """Replace the UID term of the ``cold`` items (bool, (n_items,)) at decoding.

        ``"prefix_mean"``: the mean ``log p_uid`` of the warm items that share the cold
        item's longest code prefix any warm item has; ``groups`` (int, (n_items, D)) holds
        in column ``d`` each item's group of the prefix of length ``d + 1`` (the estimator
        passes every level but the last); a cold item no warm item shares even the first
        level with gets the mean over all warm items. ``"drop"``: 0. ``"uid"``, or no
        cold item, or no warm one: every item keeps its own term.
        """
        cold = np.asarray(cold, dtype=bool)
        if mode == "uid" or not cold.any() or cold.all():
            self.cold_uid = None
            return
        dev = self.sid.device

        def t(a):
            return torch.as_tensor(np.asarray(a, dtype=np.int64), device=dev)

        warm_idx, cold_idx = np.flatnonzero(~cold), np.flatnonzero(cold)
        st = dict(mode=mode, cold=t(cold_idx), warm=t(warm_idx), levels=[])
        if mode == "prefix_mean":
            groups = np.asarray(groups, dtype=np.int64).reshape(len(cold), -1)
            todo = np.ones(len(cold_idx), dtype=bool)  # cold items not yet given a level
            for d in range(groups.shape[1] - 1, -1, -1):  # the deepest shared prefix first
                g = groups[:, d]
                has_warm = np.zeros(int(g.max()) + 1, dtype=bool)
                has_warm[g[warm_idx]] = True
                take = todo & has_warm[g[cold_idx]]
                if not take.any():
                    continue
                todo &= ~take
                used, slot = np.unique(g[cold_idx[take]], return_inverse=True)
                w_in = np.isin(g[warm_idx], used)
                st["levels"].append(dict(warm=t(warm_idx[w_in]), warm_slot=t(np.searchsorted(used, g[warm_idx[w_in]])),
                                         cold=t(cold_idx[take]), cold_slot=t(slot.ravel()), n=len(used)))
            st["rest"] = t(cold_idx[todo])  # no warm peer at any level: all warm items
        self.cold_uid = st

    def _cold_fallback(self, lp):
        """``lp`` (B, n_items) with the cold items' columns replaced (:meth:`set_cold_items`);
        warm columns are untouched. Batched: one scatter-add per prefix level, over the
        warm items of the groups some cold item falls back to."""
        st = self.cold_uid
        out = lp.clone()
        if st["mode"] == "drop":
            out[:, st["cold"]] = 0.0
            return out
        for lv in st["levels"]:
            sums = lp.new_zeros(lp.shape[0], lv["n"]).index_add_(1, lv["warm_slot"], lp[:, lv["warm"]])
            count = torch.bincount(lv["warm_slot"], minlength=lv["n"]).to(lp.dtype)
            out[:, lv["cold"]] = (sums / count)[:, lv["cold_slot"]]
        if st["rest"].numel():
            out[:, st["rest"]] = lp[:, st["warm"]].mean(1, keepdim=True)
        return out

    def item_bonus(self, h):
        """``μ · log p_uid(i)`` (B, n_items), or None when the UID head is off; the cold
        items' terms replaced as :meth:`set_cold_items` says."""
        if self.uid_weight <= 0:
            return None
        lp = F.log_softmax(self.uid_logits(h).float(), -1)
        if self.cold_uid is not None:
            lp = self._cold_fallback(lp)
        return self.uid_weight * lp

    # -- inference -----------------------------------------------------------------------
    def user_state(self, items, lengths):
        """``h_u``: backbone state at the last real position (B, d)."""
        return gather_last(self.encode(items), lengths)

    def decoding_bonus(self, h, uid_scale=1.0, item_offset=None):
        """What decoding adds to the level log-probabilities (B, n_items), or None:
        ``uid_scale`` times the UID head's term (:meth:`item_bonus`) plus ``item_offset``
        (n_items,), a per-item offset (e.g. a popularity penalty)."""
        bonus = self.item_bonus(h) if uid_scale else None
        if bonus is not None and uid_scale != 1.0:
            bonus = bonus * float(uid_scale)
        if item_offset is not None:
            offset = item_offset.to(h.device, torch.float32).expand(h.shape[0], -1)
            bonus = offset if bonus is None else bonus + offset
        return bonus

    def rank(self, items, lengths, k, beam_width, uid_scale=1.0, item_offset=None):
        """Top-``k`` items (B, k) and their summed level log-probs by constrained beam search
        (plus :meth:`decoding_bonus` on the leaves)."""
        h = self.user_state(items, lengths).float()

        last = self.ran.n_levels - 1

        def step(level, codes, parent, prefix):
            if self.leaf and level == last:
                child = self.trie.next_prefixes(level, prefix)
                slot_items = torch.where(child >= 0, self.trie.leaf_item[child.clamp(min=0)], child)
                q = self.ran.step_query(level, h, codes)
                return F.log_softmax(self._leaf_logits(q, slot_items), -1)
            return self.ran.step_logp(level, h, codes)

        return beam_search(step, self.trie, h.shape[0], beam_width, k, renormalize=self.constrained,
                           item_bonus=self.decoding_bonus(h, uid_scale, item_offset))

    def exact_scores(self, h, budget=1 << 22, uid_scale=1.0, item_offset=None):
        """Score of every catalogue item (B, n_items) from user states ``h`` (B, d):
        ``Σ_l log p(s_l | s_<l, h_u)`` (+ the UID head's ``μ · log p_uid``, times
        ``uid_scale``, + ``item_offset``: :meth:`decoding_bonus`).

        The same numbers as :meth:`level_logprobs`, computed over the trie instead of over
        the items: level ``l`` runs its MLP once per (user, distinct prefix) and, with the
        trie-constrained softmax, only for prefixes with two or more children (a forced
        code has log-probability 0). Prefixes go in chunks of at most ``budget`` floats
        per intermediate tensor, so memory is ``O(B · n_items + budget)``.
        """
        total = None
        for lp in self.level_scores(h, budget):
            total = lp if total is None else total.add_(lp)  # lp is a fresh gather
        bonus = self.decoding_bonus(h, uid_scale, item_offset)
        return total if bonus is None else total + bonus

    def level_scores(self, h, budget=1 << 22):
        """Yield, level by level, ``log p(s_l | s_<l, h_u)`` of every catalogue item
        (B, n_items): the terms :meth:`exact_scores` sums (without the UID head), for
        analyses that weigh the levels differently."""
        trie, sid = self.trie, self.sid
        B, n, L = h.shape[0], sid.shape[0], self.ran.n_levels
        dev = sid.device
        for level in range(L):
            n_child = trie.n_children(level)  # (P,)
            P, K = n_child.shape[0], trie.codebook_sizes[level]
            active = torch.arange(P, device=dev)
            if self.constrained:
                active = active[n_child >= 2]
            n_next = int(n_child.sum())
            lp_child = torch.zeros(B, n_next, device=dev)
            if active.numel():
                if level > 0:  # codes of each prefix: those of any item below it
                    rep = torch.zeros(P, dtype=torch.long, device=dev).scatter_(
                        0, trie.item_prefix(level), torch.arange(n, device=dev))
                is_leaf = self.leaf and level == L - 1  # leaf_logits holds (B, C, K, d)
                step = max(1, budget // (B * (K * h.shape[1] if is_leaf else max(K, h.shape[1]))))
                for start in range(0, active.numel(), step):
                    idx = active[start:start + step]
                    if level == 0:
                        q = h.unsqueeze(1)
                    else:
                        ctx = self.ran.prefix_context(level, sid[rep[idx]])
                        q = self.ran.condition_pairs(level, ctx, h)
                    ch = trie.next_prefixes(level, idx)  # (C, K)
                    ok = ch >= 0
                    if is_leaf:  # slots scored by their items' anchors
                        lg = self._leaf_logits(q, torch.where(ok, trie.leaf_item[ch.clamp(min=0)], ch))
                    else:
                        lg = self.ran.level_logits(level, q)
                    if self.constrained:
                        lg = constrain(lg, ok.unsqueeze(0))
                    lp = F.log_softmax(lg.float(), -1)
                    lp_child[:, ch[ok]] = lp[:, ok]
            nxt = trie.item_prefix(level + 1) if level + 1 < L else self._item_leaf_prefix()
            yield lp_child[:, nxt]

    def _item_leaf_prefix(self):
        """Full-depth prefix id of every item (the inverse of ``trie.leaf_item``)."""
        leaf = self.trie.leaf_item
        return torch.empty_like(leaf).scatter_(0, leaf, torch.arange(leaf.numel(), device=leaf.device))

    def rank_exact(self, items, lengths, k, budget=1 << 22, uid_scale=1.0, item_offset=None):
        """Top-``k`` items (B, k) and scores by :meth:`exact_scores` (no beam)."""
        h = self.user_state(items, lengths).float()
        scores, ids = self.exact_scores(h, budget, uid_scale, item_offset).topk(k, dim=1)
        return ids, scores

    def level_logprobs(self, items, lengths):
        """Score of every catalogue item (B, n_items) = Σ_l log p(s_l | s_<l, h_u) (+ the UID
        head's ``μ · log p_uid``), by brute force."""
        h = self.user_state(items, lengths).float()
        sid = self.sid
        B, n = h.shape[0], sid.shape[0]
        all_items = torch.arange(n, device=sid.device)
        lg0 = self.ran.level_logits(0, h)
        if self.constrained:
            lg0 = constrain(lg0, self.trie.next_prefixes(0, torch.zeros(1, dtype=torch.long, device=sid.device)) >= 0)
        total = F.log_softmax(lg0, -1)[:, sid[:, 0]]
        hh = h.unsqueeze(1).expand(-1, n, -1)
        for level in range(1, self.ran.n_levels):
            ctx = self.ran.prefix_context(level, sid).unsqueeze(0).expand(B, -1, -1)
            q = self.ran.condition(level, ctx, hh)
            if self.leaf and level == self.ran.n_levels - 1:
                lg = self._leaf_logits(q, self.slots.unsqueeze(0).expand(B, -1, -1))
            else:
                lg = self.ran.level_logits(level, q)
            if self.constrained:
                lg = constrain(lg, self.trie.item_children(level, all_items).unsqueeze(0))
            lp = F.log_softmax(lg.float(), -1)
            total = total + lp.gather(2, sid[:, level].view(1, -1, 1).expand(B, -1, 1)).squeeze(-1)
        bonus = self.item_bonus(h)
        return total if bonus is None else total + bonus

    def redistribution(self, items):
        """Per-level assignment distributions ``p_l`` (list of (n, K_l)) of the input side."""
        ran = self.ran.assign(items, sid=self.sid[items], mode=self.input_mode)
        return [lg.float().softmax(-1) for lg in ran["logits"]]
