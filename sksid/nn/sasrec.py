"""SASRec (Kang & McAuley, 2018) with full-softmax cross-entropy over all items."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .transformer import CausalTransformer, gather_last

__all__ = ["SASRecModule"]


class SASRecModule(nn.Module):
    """Item embeddings + causal transformer; logits are tied to the item table.

    Item ids are ``0..n_items-1``; ``-1`` is padding (embedded as zeros).

    Parameters
    ----------
    n_items : int
    d_model, n_layers, n_heads, d_ff, dropout, max_len : transformer sizes.
    norm_first : bool, default=True
        Pre-norm blocks with a LayerNorm on the item embedding; False: post-norm blocks with
        one LayerNorm over the item + position sum (RecBole's SASRec), see
        :class:`~sksid.nn.transformer.CausalTransformer`.
    init_std : float or None, default=None
        N(0, init_std) initialisation of the backbone's weights (RecBole: 0.02); None keeps
        PyTorch's defaults. The item table is N(0, 0.02) either way.

    Examples
    --------
    >>> m = SASRecModule(n_items=10, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=4)
    >>> out = m(items=torch.tensor([[1, 2, -1, -1]]), targets=torch.tensor([[2, 3, -1, -1]]))
    >>> m.loss(out, targets=torch.tensor([[2, 3, -1, -1]])).ndim
    0
    """

    data_parallel = True  # sksid.distributed may split its batches over processes

    def __init__(self, n_items, d_model=64, n_layers=2, n_heads=2, d_ff=256, dropout=0.2, max_len=20,
                 norm_first=True, init_std=None):
        super().__init__()
        self.n_items = n_items
        self.item_emb = nn.Embedding(n_items + 1, d_model, padding_idx=n_items)
        nn.init.normal_(self.item_emb.weight, std=0.02)
        with torch.no_grad():
            self.item_emb.weight[n_items].zero_()
        # post-norm: the backbone normalises the item + position sum instead
        self.emb_ln = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.backbone = CausalTransformer(d_model, n_layers, n_heads, d_ff, dropout, max_len,
                                          norm_first=norm_first, init_std=init_std)

    def _embed(self, items):
        idx = torch.where(items < 0, torch.full_like(items, self.n_items), items)
        return self.emb_ln(self.item_emb(idx))

    def encode(self, items):
        """Hidden states (B, T, d) of right-padded item histories."""
        return self.backbone(self._embed(items))

    def item_table(self):
        return self.item_emb.weight[: self.n_items]

    def forward(self, items, targets=None):
        return {"hidden": self.encode(items)}

    def loss(self, out, targets, **_):
        mask = targets >= 0
        h = out["hidden"][mask]
        logits = h @ self.item_table().t()
        return F.cross_entropy(logits.float(), targets[mask])

    def scores(self, items, lengths):
        """Scores (B, n_items) of the next item after each history."""
        h = gather_last(self.encode(items), lengths)
        return h @ self.item_table().t()
