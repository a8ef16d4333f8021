"""CTR ranking modules: an item encoder (item ID, Semantic IDs, or both) and a PPNet.

Index convention: users and items are **1-based** inside the modules; index 0 is the
padding / unknown entry, whose embeddings are zero (so an unknown user or a padded
history slot contributes nothing).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["ItemEncoder", "PPNetRanker", "WEIGHT_MODES"]

WEIGHT_MODES = ("scale", "gate")


class ItemEncoder(nn.Module):
    """Item representation: item-ID embedding and/or the concatenated SID embeddings.

    Parameters
    ----------
    n_items : int
        Catalogue size (item ids ``1 .. n_items``; 0 is padding).
    dim : int
        Embedding size of the item ID and of every code.
    codes : ndarray (n_items, L) of int, optional
        Semantic IDs; code ``c`` at level ``l`` has its own embedding (one table per level).
    weights : ndarray (n_items, L), optional
        Importance weight of every code. ``weight_mode="scale"``: each code embedding is
        multiplied by its weight (a zero weight removes the code). ``"gate"``: by
        ``2 sigmoid(a_l w + b_l)`` with learned per-level ``a_l`` (init 1) and ``b_l``
        (init 0).
    codebook_sizes : sequence of int, optional
        Codewords per level (default: ``codes.max(0) + 1``).
    use_item_id : bool, default=True
    weight_mode : {"scale", "gate"}, default="scale"
    """

    def __init__(self, n_items, dim, codes=None, weights=None, codebook_sizes=None, use_item_id=True,
                 weight_mode="scale"):
        super().__init__()
        if codes is None and not use_item_id:
            raise ValueError("ItemEncoder needs codes or use_item_id=True")
        self.use_item_id = bool(use_item_id)
        self.weight_mode = weight_mode
        self.n_levels = 0 if codes is None else int(np.asarray(codes).shape[1])
        if self.use_item_id:
            self.item_emb = nn.Embedding(n_items + 1, dim, padding_idx=0)
            nn.init.normal_(self.item_emb.weight, std=0.01)
            with torch.no_grad():
                self.item_emb.weight[0].zero_()
        # 1 for items whose ID embedding was trained; set by the estimator
        self.register_buffer("id_known", torch.ones(n_items + 1))
        self.id_known[0] = 0
        if codes is not None:
            codes = np.asarray(codes, dtype=np.int64)
            sizes = (codes.max(0) + 1 if codebook_sizes is None
                     else np.maximum(np.asarray(codebook_sizes, dtype=np.int64), codes.max(0) + 1))
            offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            table = np.zeros((n_items + 1, self.n_levels), dtype=np.int64)
            table[1:] = codes + offsets
            w = np.zeros((n_items + 1, self.n_levels), dtype=np.float32)
            w[1:] = 1.0 if weights is None else np.asarray(weights, dtype=np.float32)
            self.register_buffer("codes", torch.as_tensor(table))
            self.register_buffer("importance_weights", torch.as_tensor(w))  # the tokenizer's, row 0: padding
            self.code_emb = nn.Embedding(int(sizes.sum()), dim)
            nn.init.normal_(self.code_emb.weight, std=0.01)
            self.use_weights = weights is not None
            if self.use_weights and weight_mode == "gate":
                self.gate_a = nn.Parameter(torch.ones(self.n_levels))
                self.gate_b = nn.Parameter(torch.zeros(self.n_levels))
        self.out_dim = dim * (int(self.use_item_id) + self.n_levels)

    def forward(self, idx):
        """``idx``: long tensor of 1-based item ids (any shape); returns ``(*idx.shape, out_dim)``."""
        parts = []
        if self.use_item_id:
            parts.append(self.item_emb(idx) * self.id_known[idx].unsqueeze(-1))
        if self.n_levels:
            e = self.code_emb(self.codes[idx])  # (..., L, d)
            w = self.importance_weights[idx]    # (..., L), 0 for padding
            if self.use_weights and self.weight_mode == "gate":
                w = 2 * torch.sigmoid(self.gate_a * w + self.gate_b) * (idx > 0).unsqueeze(-1)
            elif not self.use_weights:
                w = (idx > 0).unsqueeze(-1).to(e.dtype).expand(w.shape)
            parts.append((e * w.unsqueeze(-1)).flatten(-2))
        return torch.cat(parts, -1)


class PPNetRanker(nn.Module):
    """A CTR model: user embedding, item representation, history mean, extra features -> MLP.

    With ``backbone="ppnet"`` (Parameter Personalized Network, Kuaishou) every hidden
    layer's output is multiplied element-wise by a personalised gate
    ``2 sigmoid(G_k([u, stop_grad(x_0)]))``: ``G_k`` is a two-layer network fed the user
    embedding ``u`` and the (gradient-stopped) input vector ``x_0``, so the gate scales
    each hidden unit per user in (0, 2) without moving the shared layers' inputs.
    ``backbone="mlp"`` drops the gates.

    Parameters
    ----------
    n_users, n_items : int
    dim : int
        Embedding size (user, item ID, every code).
    hidden_dims : sequence of int
    backbone : {"ppnet", "mlp"}
    gate_hidden_dim : int
    use_history : bool
        Add the mean representation of the user's previous positive items.
    n_extra : int
        Number of extra dense (standardised) features.
    dropout : float
    codes, weights, codebook_sizes, use_item_id, weight_mode
        Passed to :class:`ItemEncoder`.
    """

    data_parallel = True  # sksid.distributed may split its batches over processes

    def __init__(self, n_users, n_items, dim=16, hidden_dims=(64, 32), backbone="ppnet",
                 gate_hidden_dim=64, use_history=True, n_extra=0, dropout=0.0, codes=None, weights=None,
                 codebook_sizes=None, use_item_id=True, weight_mode="scale"):
        super().__init__()
        self.user_emb = nn.Embedding(n_users + 1, dim, padding_idx=0)
        nn.init.normal_(self.user_emb.weight, std=0.01)
        with torch.no_grad():
            self.user_emb.weight[0].zero_()
        self.items = ItemEncoder(n_items, dim, codes=codes, weights=weights, codebook_sizes=codebook_sizes,
                                 use_item_id=use_item_id, weight_mode=weight_mode)
        self.use_history = bool(use_history)
        in_dim = dim + self.items.out_dim * (1 + int(self.use_history)) + int(n_extra)
        self.backbone = backbone
        self.layers = nn.ModuleList()
        self.gates = nn.ModuleList()
        prev = in_dim
        for h in hidden_dims:
            self.layers.append(nn.Sequential(nn.Linear(prev, h), nn.ReLU(), nn.Dropout(dropout)))
            if backbone == "ppnet":
                self.gates.append(nn.Sequential(nn.Linear(dim + in_dim, gate_hidden_dim), nn.ReLU(),
                                                nn.Linear(gate_hidden_dim, h)))
            prev = h
        self.out = nn.Linear(prev, 1)
        self.loss_fn = nn.BCEWithLogitsLoss()

    def forward(self, user, item, history=None, extra=None, label=None):
        u = self.user_emb(user)
        parts = [u, self.items(item)]
        if self.use_history:
            h = self.items(history)                            # (B, H, D)
            n = (history > 0).sum(1, keepdim=True).clamp(min=1).to(h.dtype)
            parts.append(h.sum(1) / n)
        if extra is not None and extra.shape[-1]:
            parts.append(extra.to(u.dtype))
        x0 = torch.cat(parts, -1)
        x = x0
        gate_in = torch.cat([u, x0.detach()], -1) if self.backbone == "ppnet" else None
        for k, layer in enumerate(self.layers):
            x = layer(x)
            if self.backbone == "ppnet":
                x = x * (2 * torch.sigmoid(self.gates[k](gate_in)))
        return {"logits": self.out(x).squeeze(-1)}

    def loss(self, out, label, **_):
        return self.loss_fn(out["logits"].float(), label.float())
