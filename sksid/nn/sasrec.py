"""SASRec (Kang & McAuley, 2018) with a choice of training loss.

``"ce"``: full-softmax cross-entropy over every item (RecBole's ``loss_type='CE'``).
``"sampled_softmax"``: softmax over the target and ``n_negatives`` items drawn uniformly
per sequence (shared by its positions), as in eSASRec (Gusak et al., RecSys'25).
``"gbce"``: generalised binary cross-entropy of gSASRec (Petrov & Macdonald, RecSys'23)
over the same negatives, with calibration ``gbce_t``. A negative equal to the target
(an accidental hit) is masked out of its position's loss.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .transformer import CausalTransformer, gather_last

__all__ = ["SASRecModule", "LOSSES"]

LOSSES = ("ce", "sampled_softmax", "gbce")


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
    loss : {"ce", "sampled_softmax", "gbce"}, default="ce"
    n_negatives : int, default=256
        Uniform negatives per training sequence (``loss != "ce"``); fewer than ``n_items``.
    gbce_t : float, default=0.75
        gBCE calibration: 0 is plain binary cross-entropy, 1 fully corrects the
        overconfidence that sampling induces.

    Examples
    --------
    >>> m = SASRecModule(n_items=10, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=4)
    >>> out = m(items=torch.tensor([[1, 2, -1, -1]]), targets=torch.tensor([[2, 3, -1, -1]]))
    >>> m.loss(out, targets=torch.tensor([[2, 3, -1, -1]])).ndim
    0
    """

    data_parallel = True  # sksid.distributed may split its batches over processes

    def __init__(self, n_items, d_model=64, n_layers=2, n_heads=2, d_ff=256, dropout=0.2, max_len=20,
                 norm_first=True, init_std=None, loss="ce", n_negatives=256, gbce_t=0.75):
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        if loss != "ce" and not 0 < n_negatives < n_items:
            raise ValueError(f"n_negatives={n_negatives} must be in [1, n_items) = [1, {n_items}) "
                             f"for loss={loss!r}; use loss='ce' to score every item")
        self.n_items = n_items
        self.loss_name = loss
        self.n_negatives = int(n_negatives)
        self.gbce_t = float(gbce_t)
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
        if self.loss_name == "ce":
            mask = targets >= 0
            h = out["hidden"][mask]
            logits = h @ self.item_table().t()
            return F.cross_entropy(logits.float(), targets[mask])
        return self._sampled_loss(out["hidden"], targets)

    def _sampled_loss(self, hidden, targets):
        """Sampled softmax or gBCE over the target and per-sequence uniform negatives."""
        table = self.item_table()
        b = targets.shape[0]
        neg = torch.randint(0, self.n_items, (b, self.n_negatives), device=targets.device)
        mask = targets >= 0
        pos_logit = (hidden * table[targets.clamp(min=0)]).sum(-1)  # (B, T)
        neg_logit = torch.bmm(hidden, table[neg].transpose(1, 2))  # (B, T, N)
        hit = neg.unsqueeze(1) == targets.unsqueeze(-1)  # accidental hits: not negatives
        pos_logit, neg_logit = pos_logit[mask].float(), neg_logit[mask].float()
        hit = hit[mask]
        if self.loss_name == "sampled_softmax":
            logits = torch.cat([pos_logit.unsqueeze(-1), neg_logit.masked_fill(hit, float("-inf"))], dim=-1)
            return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))
        # gBCE: the positive's probability is raised to beta (gSASRec, eq. 8)
        alpha = self.n_negatives / (self.n_items - 1)
        beta = alpha * (self.gbce_t * (1 - 1 / alpha) + 1 / alpha)
        keep = (~hit).float()
        per_pos = -beta * F.logsigmoid(pos_logit) + (F.softplus(neg_logit) * keep).sum(-1)
        return (per_pos / (1 + keep.sum(-1))).mean()

    def scores(self, items, lengths):
        """Scores (B, n_items) of the next item after each history."""
        h = gather_last(self.encode(items), lengths)
        return h @ self.item_table().t()
