"""Causal transformer backbone shared by SASRec, IntRR and TIGER.

Pre-norm blocks on :func:`torch.nn.functional.scaled_dot_product_attention` with
``is_causal=True``. Inputs are right-padded (see :mod:`sksid.sequences`), so a real
position never attends to padding and the fused attention kernels apply.
"""
from __future__ import annotations

from torch import nn
import torch.nn.functional as F

__all__ = ["CausalTransformer", "gather_last"]


class _Block(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout, head_dim=None):
        super().__init__()
        head_dim = head_dim or d_model // n_heads
        self.n_heads, self.head_dim = n_heads, head_dim
        inner = n_heads * head_dim
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * inner)
        self.proj = nn.Linear(inner, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))
        self.drop = nn.Dropout(dropout)
        self.attn_dropout = dropout

    def forward(self, x):
        B, T, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, T, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.attn_dropout if self.training else 0.0)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(B, T, -1)))
        return x + self.drop(self.ff(self.ln2(x)))


class CausalTransformer(nn.Module):
    """Stack of pre-norm causal self-attention blocks with learned positions.

    Parameters
    ----------
    d_model, n_layers, n_heads, d_ff : int
        Width, depth, attention heads and feed-forward width.
    dropout : float
        Dropout on embeddings, attention and residual branches.
    max_positions : int
        Longest input sequence (tokens).
    head_dim : int, optional
        Per-head width (default ``d_model // n_heads``); IntRR's reference uses 6 x 64
        heads on ``d_model=256``.

    Examples
    --------
    >>> import torch
    >>> m = CausalTransformer(d_model=8, n_layers=1, n_heads=2, d_ff=16, dropout=0.0, max_positions=5)
    >>> m(torch.zeros(3, 5, 8)).shape
    torch.Size([3, 5, 8])
    """

    def __init__(self, d_model=64, n_layers=2, n_heads=2, d_ff=256, dropout=0.2, max_positions=50,
                 head_dim=None):
        super().__init__()
        self.pos = nn.Embedding(max_positions, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(d_model, n_heads, d_ff, dropout, head_dim) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.max_positions = max_positions

    def forward(self, x):
        T = x.shape[1]
        if T > self.max_positions:
            raise ValueError(f"sequence of {T} tokens exceeds max_positions={self.max_positions}")
        x = self.drop(x + self.pos.weight[:T])
        for blk in self.blocks:
            x = blk(x)
        return self.ln_f(x)


def gather_last(hidden, lengths):
    """Hidden state at the last real position of each right-padded row (``lengths >= 1``)."""
    idx = (lengths.clamp(min=1) - 1).view(-1, 1, 1).expand(-1, 1, hidden.shape[-1])
    return hidden.gather(1, idx).squeeze(1)
