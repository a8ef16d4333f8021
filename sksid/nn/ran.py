"""Recursive Assignment Network (RAN) of IntRR (docs/recommenders.md).

Learned per-level codebooks ``C_l`` (the stage-1 SIDs are labels only) and per-level
MLPs, shared by the input side (item -> one token) and the output side (user state ->
next item's codes):

* input side: ``e_i = Linear(UID(i))``; ``q_1 = e_i``; ``q_l = MLP_l([c_{<l}; e_i])``;
  ``p_l = softmax(q_l C_lᵀ / τ)``; ``c_l = straight-through(soft = p_l C_l,
  hard = C_l[argmax p_l])``; token ``Σ_l c_l``. Dual-mode switch: the codewords are the
  RAN's own straight-through vectors ("redistribution", the reference) or the
  ground-truth codes' codewords ``C_j[s_j]`` ("teacher_forcing").
* alignment: ``L_aln = Σ_l CE(q_l C_lᵀ, s_l)``.
* output side: ``h_u C_1ᵀ`` at level 1, ``MLP_l([c_{<l}; h_u]) C_lᵀ`` after.

``c_{<l}`` is the **prefix** summary ``Σ_{j<l} c_j`` (``conditioning="prefix"``, the
default: level l sees the whole prefix, as a residual or parallel code needs) or only the
previous codeword ``c_{l-1}`` (``conditioning="previous"``, the authors' reference).
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

__all__ = ["RAN", "MODES", "CONDITIONINGS"]

MODES = ("redistribution", "teacher_forcing")
CONDITIONINGS = ("prefix", "previous")


def _check_mode(mode, name):
    if mode not in MODES:
        raise ValueError(f"{name} must be one of {MODES}, got {mode!r}")
    return mode


class RAN(nn.Module):
    """Learned codebooks, UID anchors and level MLPs of IntRR.

    Parameters
    ----------
    n_items : int
    codebook_sizes : sequence of int
        ``K_l`` of every level (including TIGER's disambiguation level, if any).
    d_model : int
        Codeword / token width.
    tau : float, default=1.0
        Softmax temperature of the assignment ``p_l``.
    conditioning : {"prefix", "previous"}, default="prefix"
        What level ``l``'s MLP sees besides the anchor / user state: the sum of all
        previous codewords, or the previous one only.
    uid_init : array-like of shape (n_items, d_model), optional
        Initial UID embeddings (default: N(0, 0.02²)).

    Examples
    --------
    >>> ran = RAN(n_items=5, codebook_sizes=(3, 2), d_model=8)
    >>> out = ran.assign(torch.tensor([0, 4]))
    >>> out["token"].shape, [lg.shape[-1] for lg in out["logits"]]
    (torch.Size([2, 8]), [3, 2])
    """

    def __init__(self, n_items, codebook_sizes, d_model=256, tau=1.0, conditioning="prefix", uid_init=None):
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")
        self.conditioning = conditioning
        self.n_items = int(n_items)
        self.codebook_sizes = tuple(int(k) for k in codebook_sizes)
        self.tau = float(tau)
        self.uid = nn.Embedding(self.n_items, d_model)
        nn.init.normal_(self.uid.weight, std=0.02)
        if uid_init is not None:  # e.g. a behaviour model's item table, projected to d_model
            with torch.no_grad():
                self.uid.weight.copy_(torch.as_tensor(uid_init, dtype=torch.float32))
        self.anchor = nn.Linear(d_model, d_model)  # e_i = Linear(UID)
        self.codebooks = nn.ParameterList(
            nn.Parameter(torch.randn(K, d_model) * d_model ** -0.5) for K in self.codebook_sizes)
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(2 * d_model, d_model), nn.GELU(), nn.Linear(d_model, d_model))
            for _ in self.codebook_sizes[1:])

    @property
    def n_levels(self) -> int:
        return len(self.codebook_sizes)

    def item_anchor(self, items):
        """``e_i = Linear(UID(i))`` (..., d): the item's collaborative anchor."""
        return self.anchor(self.uid(items))

    def prefix_context(self, level, codes):
        """``c_{<level}`` from codes (..., >= level): sum of codewords or the last one."""
        if self.conditioning == "previous":
            return self.codebooks[level - 1][codes[..., level - 1]]
        return sum(self.codebooks[j][codes[..., j]] for j in range(level))

    def level_logits(self, level, q):
        """``q C_lᵀ / τ`` (..., K_l)."""
        return (q @ self.codebooks[level].t()) / self.tau

    def condition(self, level, prev, anchor):
        """``q_l = MLP_l([prev; anchor])`` for ``level >= 1``."""
        return self.mlps[level - 1](torch.cat([prev, anchor], dim=-1))

    def condition_pairs(self, level, ctx, h):
        """``q_l`` of every (state, prefix) pair (B, P, d) for prefix contexts ``ctx`` (P, d)
        and states ``h`` (B, d), without materialising the (B, P, 2d) concatenation: the
        first linear layer of ``MLP_l`` is applied to each side once."""
        a, b = self._split_first_layer(level, ctx.to(h.dtype), h)  # (P, d), (B, d)
        _, act, second = self.mlps[level - 1]
        return second(act(a.unsqueeze(0) + b.unsqueeze(1)))

    def _split_first_layer(self, level, ctx, h):
        """``MLP_l``'s first linear layer on ``[ctx; h]`` as its two halves, ``(ctx W_cᵀ + b,
        h W_hᵀ)``, each side computed once however many pairs the caller forms."""
        first = self.mlps[level - 1][0]
        d = ctx.shape[-1]
        w = first.weight.to(h.dtype)
        return ctx @ w[:, :d].t() + first.bias.to(h.dtype), h @ w[:, d:].t()

    def assign(self, items, sid=None, mode="redistribution"):
        """Input side: one token per item, with its level logits and assignments.

        Parameters
        ----------
        items : LongTensor (...,), valid ids (no padding)
        sid : LongTensor (..., L), optional
            Stage-1 codes; required by ``mode="teacher_forcing"``.
        mode : {"redistribution", "teacher_forcing"}

        Returns
        -------
        dict with ``token`` (..., d) = Σ_l c_l, ``logits`` (list of (..., K_l), the
        alignment logits ``q_l C_lᵀ / τ``) and ``codes`` (..., L), the argmax assignment.
        """
        _check_mode(mode, "mode")
        if mode == "teacher_forcing" and sid is None:
            raise ValueError("teacher_forcing needs the items' stage-1 codes (sid)")
        e = self.item_anchor(items)
        q = e
        token = 0.0
        ctx = 0.0
        c = None  # the previous level's codeword (set at the end of every level)
        logits, codes = [], []
        for level in range(self.n_levels):
            if level > 0:
                prev = c if mode == "redistribution" else self.codebooks[level - 1][sid[..., level - 1]]
                ctx = ctx + prev if self.conditioning == "prefix" else prev
                q = self.condition(level, ctx, e)
            lg = self.level_logits(level, q)
            p = lg.float().softmax(-1).to(lg.dtype)
            C = self.codebooks[level]
            hard_idx = lg.argmax(-1)
            soft = p @ C
            c = soft + (C[hard_idx] - soft).detach()  # straight-through
            token = token + c
            logits.append(lg)
            codes.append(hard_idx)
        return {"token": token, "logits": logits, "codes": torch.stack(codes, -1), "anchor": e}

    def output_logits(self, h, targets_sid=None, mode="teacher_forcing", return_queries=False):
        """Output side in training: level logits of the next item for states ``h``.

        ``targets_sid`` (..., L) are the next item's codes, used as ``y_{l-1}`` under
        teacher forcing; under "redistribution" the model's own argmax at level ``l-1``
        is fed back. With ``return_queries`` the level queries ``q_l`` come back too.
        """
        _check_mode(mode, "output_mode")
        out, queries = [self.level_logits(0, h)], [h]
        chosen = []
        for level in range(1, self.n_levels):
            if mode == "teacher_forcing":
                chosen.append(targets_sid[..., level - 1])
            else:
                chosen.append(out[-1].argmax(-1))
            q = self.condition(level, self.prefix_context(level, torch.stack(chosen, -1)), h)
            queries.append(q)
            out.append(self.level_logits(level, q))
        return (out, queries) if return_queries else out

    def step_logp(self, level, h, prev_codes):
        """Beam step: log-probs (B, W, K_l) given user states ``h`` (B, d) and beam codes (B, W, level)."""
        return F.log_softmax(self.level_logits(level, self.step_query(level, h, prev_codes)).float(), -1)

    def step_query(self, level, h, prev_codes):
        """Query of level ``level`` (B, W, d) for user states ``h`` (B, d) and beam codes (B, W, level)."""
        if level == 0:
            return h.unsqueeze(1)
        ctx = self.prefix_context(level, prev_codes)
        # MLP_l([ctx; h]) with h's half of the first layer computed once per user, not per beam
        a, b = self._split_first_layer(level, ctx, h.to(ctx.dtype))  # (B, W, d), (B, d)
        _, act, second = self.mlps[level - 1]
        return second(act(a + b.unsqueeze(1)))
