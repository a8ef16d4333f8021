"""Recursive Assignment Network (RAN) of IntRR (DESIGN §2).

Learned per-level codebooks ``C_l`` (the stage-1 SIDs are labels only) and per-level
MLPs, shared by the input side (item -> one token) and the output side (user state ->
next item's codes):

* input side: ``e_i = Linear(UID(i))``; ``q_1 = e_i``; ``q_l = MLP_l([c_{l-1}; e_i])``;
  ``p_l = softmax(q_l C_lᵀ / τ)``; ``c_l = straight-through(soft = p_l C_l,
  hard = C_l[argmax p_l])``; token ``Σ_l c_l``. Dual-mode switch: ``c_{l-1}`` is the
  RAN's own straight-through vector ("redistribution", the reference) or the
  ground-truth code's codeword ``C_{l-1}[s_{l-1}]`` ("teacher_forcing").
* alignment: ``L_aln = Σ_l CE(q_l C_lᵀ, s_l)``.
* output side: ``h_u C_1ᵀ`` at level 1, ``MLP_l([C_{l-1}[y_{l-1}]; h_u]) C_lᵀ`` after.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

__all__ = ["RAN", "MODES"]

MODES = ("redistribution", "teacher_forcing")


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

    Examples
    --------
    >>> ran = RAN(n_items=5, codebook_sizes=(3, 2), d_model=8)
    >>> out = ran.assign(torch.tensor([0, 4]))
    >>> out["token"].shape, [lg.shape[-1] for lg in out["logits"]]
    (torch.Size([2, 8]), [3, 2])
    """

    def __init__(self, n_items, codebook_sizes, d_model=256, tau=1.0):
        super().__init__()
        self.n_items = int(n_items)
        self.codebook_sizes = tuple(int(k) for k in codebook_sizes)
        self.tau = float(tau)
        self.uid = nn.Embedding(self.n_items, d_model)
        nn.init.normal_(self.uid.weight, std=0.02)
        self.anchor = nn.Linear(d_model, d_model)  # e_i = Linear(UID)
        self.codebooks = nn.ParameterList(
            nn.Parameter(torch.randn(K, d_model) * d_model ** -0.5) for K in self.codebook_sizes)
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(2 * d_model, d_model), nn.GELU(), nn.Linear(d_model, d_model))
            for _ in self.codebook_sizes[1:])

    @property
    def n_levels(self) -> int:
        return len(self.codebook_sizes)

    def level_logits(self, level, q):
        """``q C_lᵀ / τ`` (..., K_l)."""
        return (q @ self.codebooks[level].t()) / self.tau

    def condition(self, level, prev, anchor):
        """``q_l = MLP_l([prev; anchor])`` for ``level >= 1``."""
        return self.mlps[level - 1](torch.cat([prev, anchor], dim=-1))

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
        e = self.anchor(self.uid(items))
        q = e
        token = 0.0
        logits, codes = [], []
        for level in range(self.n_levels):
            if level > 0:
                prev = c if mode == "redistribution" else self.codebooks[level - 1][sid[..., level - 1]]
                q = self.condition(level, prev, e)
            lg = self.level_logits(level, q)
            p = lg.float().softmax(-1).to(lg.dtype)
            C = self.codebooks[level]
            hard_idx = lg.argmax(-1)
            soft = p @ C
            c = soft + (C[hard_idx] - soft).detach()  # straight-through
            token = token + c
            logits.append(lg)
            codes.append(hard_idx)
        return {"token": token, "logits": logits, "codes": torch.stack(codes, -1)}

    def output_logits(self, h, targets_sid=None, mode="teacher_forcing"):
        """Output side in training: level logits of the next item for states ``h``.

        ``targets_sid`` (..., L) are the next item's codes, used as ``y_{l-1}`` under
        teacher forcing; under "redistribution" the model's own argmax at level ``l-1``
        is fed back.
        """
        _check_mode(mode, "output_mode")
        out = [self.level_logits(0, h)]
        for level in range(1, self.n_levels):
            if mode == "teacher_forcing":
                prev_code = targets_sid[..., level - 1]
            else:
                prev_code = out[-1].argmax(-1)
            q = self.condition(level, self.codebooks[level - 1][prev_code], h)
            out.append(self.level_logits(level, q))
        return out

    def step_logp(self, level, h, prev_codes):
        """Beam step: log-probs (B, W, K_l) given user states ``h`` (B, d) and beam codes (B, W, level)."""
        if level == 0:
            return F.log_softmax(self.level_logits(0, h).float(), -1).unsqueeze(1)
        prev = self.codebooks[level - 1][prev_codes[..., -1]]
        q = self.condition(level, prev, h.unsqueeze(1).expand(-1, prev.shape[1], -1).to(prev.dtype))
        return F.log_softmax(self.level_logits(level, q).float(), -1)
