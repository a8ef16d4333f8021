"""Causal transformer backbone shared by SASRec, IntRR, TIGER and RPG.

Blocks on :func:`torch.nn.functional.scaled_dot_product_attention` with
``is_causal=True``: pre-norm by default, or post-norm (``norm_first=False``: the
original Transformer/BERT block that SASRec and RecBole's implementation use). Inputs are
right-padded (see :mod:`sksid.sequences`), so a real position never attends to padding
and the fused attention kernels apply.
"""
from __future__ import annotations

from torch import nn
import torch.nn.functional as F

__all__ = ["CausalTransformer", "gather_last", "init_normal_"]


class _Block(nn.Module):
    norm_first = True  # class default: modules pickled before the option existed load as pre-norm

    def __init__(self, d_model, n_heads, d_ff, dropout, head_dim=None, norm_first=True):
        super().__init__()
        self.norm_first = norm_first
        head_dim = head_dim or d_model // n_heads
        self.n_heads, self.head_dim = n_heads, head_dim
        inner = n_heads * head_dim
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * inner)
        self.proj = nn.Linear(inner, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(),
            # post-norm follows BERT/RecBole: dropout only after the second projection
            nn.Dropout(dropout) if norm_first else nn.Identity(), nn.Linear(d_ff, d_model))
        self.drop = nn.Dropout(dropout)
        self.attn_dropout = dropout

    def _attend(self, x):
        B, T, _ = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.attn_dropout if self.training else 0.0)
        return self.proj(a.transpose(1, 2).reshape(B, T, -1))

    # The block's layout in three steps, so that incremental decoders (TIGER's key/value
    # cache) run the same block without restating pre- vs post-norm.
    def attention_input(self, x):
        """What the q/k/v projection sees: ``ln1(x)`` (pre-norm) or ``x`` (post-norm)."""
        return self.ln1(x) if self.norm_first else x

    def add_attention(self, x, attended):
        """Residual sum with the projected attention output ``attended`` (``proj(a)``)."""
        if self.norm_first:
            return x + self.drop(attended)
        return self.ln1(x + self.drop(attended))

    def add_feed_forward(self, x):
        if self.norm_first:
            return x + self.drop(self.ff(self.ln2(x)))
        return self.ln2(x + self.drop(self.ff(x)))

    def forward(self, x):
        x = self.add_attention(x, self._attend(self.attention_input(x)))
        return self.add_feed_forward(x)


class CausalTransformer(nn.Module):
    """Stack of causal self-attention blocks with learned positions.

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
    norm_first : bool, default=True
        Pre-norm blocks (LayerNorm inside each residual branch, one final LayerNorm). False:
        post-norm blocks as in SASRec's original and RecBole's implementation (LayerNorm
        after each residual sum, and over the item + position embedding sum at the input;
        no dropout inside the feed-forward branch). The input then should not be
        normalised already.
    init_std : float or None, default=None
        None: PyTorch's default initialisation. A float: every Linear and Embedding weight
        drawn from N(0, init_std) and Linear biases zero (RecBole and BERT use 0.02).

    Examples
    --------
    >>> import torch
    >>> m = CausalTransformer(d_model=8, n_layers=1, n_heads=2, d_ff=16, dropout=0.0, max_positions=5)
    >>> m(torch.zeros(3, 5, 8)).shape
    torch.Size([3, 5, 8])
    """

    norm_first = True  # class default: modules pickled before the option existed load as pre-norm

    def __init__(self, d_model=64, n_layers=2, n_heads=2, d_ff=256, dropout=0.2, max_positions=50,
                 head_dim=None, norm_first=True, init_std=None):
        super().__init__()
        self.norm_first = norm_first
        self.pos = nn.Embedding(max_positions, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(d_model, n_heads, d_ff, dropout, head_dim, norm_first)
                                    for _ in range(n_layers))
        # pre-norm: the final LayerNorm; post-norm: the LayerNorm over the input embedding sum
        self.ln_f = nn.LayerNorm(d_model)
        self.max_positions = max_positions
        if init_std is not None:
            init_normal_(self, init_std)

    def forward(self, x):
        T = x.shape[1]
        if T > self.max_positions:
            raise ValueError(f"sequence of {T} tokens exceeds max_positions={self.max_positions}")
        x = self.input(x + self.pos.weight[:T])
        for blk in self.blocks:
            x = blk(x)
        return self.output(x)

    def input(self, x):
        """The first block's input from the token + position sum: dropout, after a
        LayerNorm in the post-norm layout."""
        return self.drop(x if self.norm_first else self.ln_f(x))

    def output(self, x):
        """The states from the last block's output: the final LayerNorm in the pre-norm
        layout (post-norm blocks end normalised)."""
        return self.ln_f(x) if self.norm_first else x


def init_normal_(module, std):
    """BERT/RecBole initialisation in place: every Linear and Embedding weight of ``module``
    drawn from N(0, ``std``), Linear biases zero (LayerNorms keep weight 1, bias 0)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=std)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
    return module


def gather_last(hidden, lengths):
    """Hidden state at the last real position of each right-padded row (``lengths >= 1``)."""
    idx = (lengths.clamp(min=1) - 1).view(-1, 1, 1).expand(-1, 1, hidden.shape[-1])
    return hidden.gather(1, idx).squeeze(1)
