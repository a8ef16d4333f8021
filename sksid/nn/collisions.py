"""Code collisions in ADC-SID (beyond the paper): the soft in-batch collision term and the
catalogue-level de-duplication targets rebuilt at every epoch end."""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["CodeCollisionMixin"]


class CodeCollisionMixin:
    """Collision terms of :class:`~sksid.nn.adcsid.ADCSIDModule` (see its ``collision_weight``).

    The host module provides ``codebooks()``, ``balance_temperature``, ``collision_weight``,
    ``_inputs(batch)``, ``project(x)`` and ``latents(x, h)``; the de-duplication targets
    live in ``_dedup_targets`` (training-time state, not in the weights).
    """

    def collision_loss(self, used):
        """Expected number of in-batch items sharing an item's whole code tuple (soft).

        With ``p_l(a) = softmax(cos(z_l(a), C_l) / balance_temperature)`` the soft
        assignment of item ``a`` at code position ``l``, the probability that items ``a``
        and ``b`` get the same tuple is ``prod_l <p_l(a), p_l(b)>``; the loss is its sum
        over pairs ``a != b`` divided by the batch size. It pushes apart items that share
        (or nearly share) all their codes, the colliding tuples that the per-codebook
        balancing cannot see, and is ~0 for distinct tuples.
        """
        S = None
        for p in self._soft_assignments(used):
            s = p @ p.T
            S = s if S is None else S * s
        B = S.shape[0]
        return (S.sum() - S.diagonal().sum()) / B

    def _soft_assignments(self, used):
        return [torch.softmax(cb._similarity(z, cb._codewords().float()) / self.balance_temperature, -1)
                for z, cb in zip(used, self.codebooks())]

    def dedup_loss(self, used, idx):
        """Catalogue-level collisions the in-batch term rarely sees (large catalogues).

        At every epoch end (:meth:`refresh_codebooks`) each item whose hard tuple equals
        that of an earlier item (in item order) gets that tuple as a target to leave; the
        loss is ``sum_a prod_l p_l(a)[target_l(a)] / B`` over the batch items that have
        one (the soft probability of keeping the shared tuple). The first item of each
        group keeps its tuple.
        """
        targets = getattr(self, "_dedup_targets", None)
        if targets is None:
            return None
        tgt = targets.to(idx.device)[idx.long()]
        mask = tgt[:, 0] >= 0
        if not bool(mask.any()):
            return None
        prob = None
        for l, p in enumerate(self._soft_assignments([u[mask] for u in used])):
            q = p.gather(1, tgt[mask, l:l + 1]).squeeze(1)
            prob = q if prob is None else prob * q
        return prob.sum() / idx.shape[0]

    @torch.no_grad()
    def resume_training_state(self, **batch):
        """Rebuild the training-time state that is not in the weights (the collision
        targets of the last :meth:`refresh_codebooks`) when a fit resumes from a checkpoint."""
        if self.collision_weight > 0:
            self._update_dedup_targets(batch)

    @torch.no_grad()
    def _update_dedup_targets(self, batch):
        if "idx" not in batch:
            return
        x = self._inputs(batch)
        h_m, h = self.project(x)
        codes = torch.stack([cb.encode(z) for z, cb in zip(self.latents(x, h), self.codebooks())], 1)
        c = codes.cpu().numpy()
        _, first, inv = np.unique(c, axis=0, return_index=True, return_inverse=True)
        owner = first[inv.reshape(-1)]
        tgt = torch.full_like(codes, -1).cpu()
        dup = torch.as_tensor(owner != np.arange(len(c)))
        tgt[dup] = codes.cpu()[dup]
        order = batch["idx"].long().cpu()
        targets = torch.full((int(order.max()) + 1, codes.shape[1]), -1, dtype=torch.long)
        targets[order] = tgt
        self._dedup_targets = targets
