"""Decoding weights chosen on validation data (IntRR's ``fusion="validation"``).

A fitted IntRR scores an item by ``Σ_l log p_l + μ · log p_uid(i) − β · log(1 + c_i)``:
the code levels, its UID head and a popularity penalty. Training fixes the head's weight
in the loss; how the two heads are best mixed at decoding, and how much popular items
should be held back, depend on the data. :func:`fusion_search` scores every validation
user once (the levels' sum, the UID term and the log counts, exactly over the catalogue)
and reads NDCG@10 off every ``(μ, β)`` of a small grid, in the same pass.
"""
from __future__ import annotations

import numpy as np
import torch

from ..training import eval_batches

__all__ = ["fusion_search"]


def fusion_search(est, valid, k=10):
    """Validation NDCG@``k`` of every ``(μ, β)`` of ``est``'s fusion grid.

    Parameters
    ----------
    est : IntRRRecommender
        Trained (``net_``, ``item_popularity_``); its ``_fusion_uid_scales`` (multiples of
        ``uid_weight``; only 0 without a UID head) and ``_fusion_penalties`` are the grid;
        with ``exclude_seen`` the history items leave the ranking, as at predict.
    valid : tuple (items, lengths, targets)
        Padded validation histories and their next items.

    Returns
    -------
    list of dict
        ``{"uid_weight": μ, "popularity_penalty": β, "ndcg": NDCG@k}`` per grid point.
    """
    module = est.net_.module_
    mus = [s * float(est.uid_weight) for s in est._fusion_uid_scales] if module.uid_weight > 0 else [0.0]
    mus = sorted(set(mus))
    betas = [float(b) for b in est._fusion_penalties]
    log_pop = torch.as_tensor(np.log1p(est.item_popularity_), dtype=torch.float32)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    exclude = bool(getattr(est, "exclude_seen", False))
    items, lengths, targets = valid
    k = min(k, module.n_items)

    def gains(it, ln, tg):
        h = module.user_state(it, ln).float()
        d = torch.as_tensor(discount[:k], dtype=torch.float32, device=h.device)
        base = module.exact_scores(h, est._exact_budget, uid_scale=0.0)  # the levels' sum
        uid = module.item_bonus(h)  # μ_train · log p_uid, or None
        pop = log_pop.to(h.device)
        if exclude:  # the history's items cannot be recommended
            seen = torch.zeros_like(base, dtype=torch.bool)
            seen.scatter_(1, it.clamp(min=0), it >= 0)
        out = []
        for mu in mus:
            s_mu = base if uid is None or mu == 0 else base + (mu / module.uid_weight) * uid
            for beta in betas:
                s = s_mu - beta * pop if beta else s_mu
                if exclude:
                    s = s.masked_fill(seen, float("-inf"))
                top = s.topk(k, dim=1).indices
                hit = top == tg.unsqueeze(1)
                out.append((hit.float() * d).sum(1))
        return torch.stack(out, 1)

    batch = int(max(1, min(256, est._exact_budget // module.n_items)))
    (g,) = eval_batches(module, gains, (items, lengths, np.asarray(targets, dtype=np.int64)), batch, est.device_)
    mean = g.mean(0)
    grid = [(mu, beta) for mu in mus for beta in betas]
    return [{"uid_weight": mu, "popularity_penalty": beta, "ndcg": float(v)} for (mu, beta), v in zip(grid, mean)]
