"""ADC-SID network (Behavior-Content Mixture-of-Quantization, arXiv ADC-SID §3), torch only.

Every paper equation has one named place below (search for ``Eq.``):

* Eq. 2-3   :meth:`ADCSIDModule.project` (projections D_m and the concatenation h)
* Eq. 4-9   :meth:`ADCSIDModule.quantize` (shared and specific experts, cosine codebooks)
* Eq. 10-11 :meth:`ADCSIDModule.fuse`
* Eq. 12-13 :meth:`ADCSIDModule.content_gates`
* Eq. 14    :meth:`ADCSIDModule.forward` / :meth:`ADCSIDModule.loss` (decoder, straight-through)
* Eq. 15-17 :func:`alignment_strength` (computed once over the catalogue by the estimator)
* Eq. 18-21 :meth:`ADCSIDModule.alignment_loss` (on :func:`info_nce`)
* Eq. 22    :meth:`ADCSIDModule.behavior_gate` (bounded to [0, 1] by ``gate_activation``)
* Eq. 23    :meth:`ADCSIDModule.sparsity_loss` (ReMoE load-balanced L1, adaptive lambda)

Beyond the paper: :meth:`ADCSIDModule.collision_loss` (soft full-code collisions) and
:meth:`ADCSIDModule.rebalance_codebook` (splitting crowded codewords after every epoch).

:func:`normalized_norm`, :func:`alignment_strength` and :func:`info_nce` live in
:mod:`sksid.nn.alignment`; the collision terms (``collision_loss``, ``dedup_loss``) in
:mod:`sksid.nn.collisions`.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .alignment import alignment_strength, info_nce, normalized_norm
from .codebook import CosineCodebook
from .collisions import CodeCollisionMixin

__all__ = ["ADCSIDModule", "alignment_strength", "normalized_norm", "GATE_ACTIVATIONS"]

GATE_ACTIVATIONS = ("tanh", "clamp", "relu")


def _mlp(d_in, d_hidden, d_out):
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_out))


class ADCSIDModule(CodeCollisionMixin, nn.Module):
    """The ADC-SID tokenizer network.

    Batches are dicts: ``x__<modality>`` (B, d_m) standardised inputs (also the
    reconstruction targets), ``n_norm`` (B,) Eq. 16 of the reliability signal, ``w`` (B,)
    Eq. 17 alignment strength and, optionally, ``idx`` (B,) the items' row ids (used by
    :meth:`dedup_loss`) and ``cold`` (B,) bool, items with no training interaction: their
    behavioural embedding is replaced by zeros everywhere (projection, shared and
    behavioural experts, gates, reconstruction target), their behavioural gates R are 0
    and their alignment strength is 0, so nothing of that (untrained) row reaches a code,
    a weight or the loss.

    Parameters
    ----------
    modality_dims : dict of str to int
        Input dimension of each modality, in code order; may include ``behavior_modality``.
    behavior_modality : str
    codebook_size : int
    n_shared : int
    n_content_experts : dict of str to int
        Specific experts per content modality.
    n_behavior : int
    hidden_dim, latent_dim : int
    temperature : float
        InfoNCE tau (Eq. 18-20).
    alignment_weight : float
    commitment_weight : float
    use_alignment, use_behavior_gate, use_sparsity_reg : bool
    target_sparsity : float
        ReMoE target fraction of **zero** behavioural gates (Eq. 23).
    lambda_init, lambda_growth : float
        ReMoE adaptive coefficient: lambda <- lambda * growth^{sign(target - S)}.
    gate_activation : {"tanh", "clamp", "relu"}, default="tanh"
        Squashing of Eq. 22's router output ``a = relu(MLP(e_b) + b)``: ``tanh(a)`` or
        ``min(a, 1)`` bound R(e_b) to [0, 1) / [0, 1] (zero exactly where ``a`` is), as the
        paper's "importance scores"; ``"relu"`` keeps Eq. 22 as printed (unbounded).
    balance_weight, balance_temperature : float
        Codebook balancing (beyond the paper): weight and softmax temperature of every
        codebook's batch marginal-entropy term (:meth:`CosineCodebook.balance_loss`);
        0 switches it off.
    collision_weight : float, default=0.0
        Weight of the soft code-collision term (beyond the paper, :meth:`collision_loss`);
        0 switches it off.
    rebalance : float, default=0.0
        Crowding ratio of :meth:`rebalance_codebook`, run after the dead-code refresh at
        every epoch end (beyond the paper); 0 switches it off, else must exceed 1.

    Examples
    --------
    >>> m = ADCSIDModule({"text": 8, "collab": 4}, "collab", codebook_size=4,
    ...                  n_content_experts={"text": 1}, hidden_dim=16, latent_dim=8)
    >>> out = m(x__text=torch.randn(6, 8), x__collab=torch.randn(6, 4),
    ...         n_norm=torch.rand(6), w=torch.rand(6))
    >>> out["codes"].shape, out["weights"].shape
    (torch.Size([6, 5]), torch.Size([6, 5]))
    """

    def __init__(self, modality_dims, behavior_modality="collab", codebook_size=100, n_shared=1,
                 n_content_experts=None, n_behavior=3, hidden_dim=256, latent_dim=64,
                 temperature=0.07, alignment_weight=0.1, commitment_weight=0.25, use_alignment=True,
                 use_behavior_gate=True, use_sparsity_reg=True, target_sparsity=1.0 / 3.0,
                 lambda_init=1e-8, lambda_growth=1.2, balance_weight=0.0, balance_temperature=0.1,
                 gate_activation="tanh", collision_weight=0.0, rebalance=0.0):
        super().__init__()
        if gate_activation not in GATE_ACTIVATIONS:
            raise ValueError(f"gate_activation must be one of {GATE_ACTIVATIONS}, got {gate_activation!r}")
        self.gate_activation = gate_activation
        if not collision_weight >= 0:
            raise ValueError(f"collision_weight must be >= 0, got {collision_weight}")
        self.collision_weight = float(collision_weight)
        if not (rebalance == 0 or rebalance > 1):
            raise ValueError(f"rebalance must be 0 (off) or a ratio > 1, got {rebalance}")
        self.rebalance = float(rebalance)
        self.balance_temperature = float(balance_temperature)
        self.modality_dims = dict(modality_dims)
        self.behavior_modality = behavior_modality
        self.has_behavior = behavior_modality in self.modality_dims
        self.content = [m for m in self.modality_dims if m != behavior_modality]
        n_content_experts = dict(n_content_experts or {})
        self.n_content = {m: int(n_content_experts.get(m, 1)) for m in self.content}
        self.n_shared = int(n_shared)
        self.n_behavior = int(n_behavior) if self.has_behavior else 0
        self.temperature = float(temperature)
        self.alignment_weight = float(alignment_weight)
        self.use_alignment = bool(use_alignment)
        self.use_behavior_gate = bool(use_behavior_gate)
        self.use_sparsity_reg = bool(use_sparsity_reg)
        self.target_sparsity = float(target_sparsity)
        self.lambda_growth = float(lambda_growth)
        K = int(codebook_size)
        mods = list(self.modality_dims)
        cb_kw = dict(commitment_weight=commitment_weight, balance_weight=float(balance_weight),
                     balance_temperature=float(balance_temperature))
        # Eq. 2: two-layer projections D_m
        self.proj = nn.ModuleDict({m: _mlp(d, hidden_dim, hidden_dim) for m, d in self.modality_dims.items()})
        # Eq. 4: shared experts on h = [h_m] (Eq. 3)
        self.shared_experts = nn.ModuleList(
            _mlp(hidden_dim * len(mods), hidden_dim, latent_dim) for _ in range(self.n_shared))
        self.shared_codebooks = nn.ModuleList(
            CosineCodebook(K, latent_dim, **cb_kw) for _ in range(self.n_shared))
        # Eq. 6: specific experts on each modality's own embedding e_m
        spec = dict(self.n_content)
        if self.has_behavior:
            spec[behavior_modality] = self.n_behavior
        self.n_specific = spec
        self.specific_experts = nn.ModuleDict({
            m: nn.ModuleList(_mlp(self.modality_dims[m], hidden_dim, latent_dim) for _ in range(n))
            for m, n in spec.items()})
        self.specific_codebooks = nn.ModuleDict({
            m: nn.ModuleList(CosineCodebook(K, latent_dim, **cb_kw) for _ in range(n))
            for m, n in spec.items()})
        # Eq. 12-13: content gates MLP_m(e_m) + b_m (the Linear's bias is b_m)
        self.content_gate_mlps = nn.ModuleDict({
            m: _mlp(self.modality_dims[m], hidden_dim, n) for m, n in self.n_content.items() if n > 0})
        # Eq. 22: behavioural gate MLP(e_b) + b
        if self.has_behavior and self.n_behavior > 0:
            self.behavior_gate_mlp = _mlp(self.modality_dims[behavior_modality], hidden_dim, self.n_behavior)
        # Eq. 14: decoder to the concatenated (standardised) inputs
        self.decoder = _mlp(latent_dim, hidden_dim, sum(self.modality_dims.values()))
        self.register_buffer("reg_lambda", torch.tensor(float(lambda_init)))
        self.code_length = self.n_shared + sum(spec.values())
        if self.code_length < 1:
            raise ValueError("the code length n_shared + sum of experts must be >= 1")

    # -- helpers -------------------------------------------------------------------
    def codebooks(self):
        """All codebooks in code order (shared, content modalities, behaviour)."""
        out = list(self.shared_codebooks)
        for m in self.specific_codebooks:
            out.extend(self.specific_codebooks[m])
        return out

    def _inputs(self, batch):
        """The modalities of ``batch`` (float); a cold item's (``batch["cold"]``) behavioural
        embedding is replaced by zeros, the standardised catalogue mean."""
        x = {m: batch["x__" + m].float() for m in self.modality_dims}
        cold = batch.get("cold")
        if cold is not None and self.has_behavior:
            b = self.behavior_modality
            x[b] = x[b].masked_fill(cold.bool().unsqueeze(1), 0.0)
        return x

    # -- Eq. 2-3 -------------------------------------------------------------------
    def project(self, x):
        """Eq. 2: h_m = D_m(e_m); Eq. 3: h = [h_t, h_v, h_b]."""
        h_m = {m: self.proj[m](x[m]) for m in self.modality_dims}
        return h_m, torch.cat([h_m[m] for m in self.modality_dims], dim=-1)

    def latents(self, x, h):
        """Eq. 4: z_s,i = E_s,i(h); Eq. 6: z_m,i = E_m,i(e_m) (each modality its own e_m)."""
        zs = [e(h) for e in self.shared_experts]
        for m, experts in self.specific_experts.items():
            zs.extend(e(x[m]) for e in experts)
        return zs

    # -- Eq. 4-9 -------------------------------------------------------------------
    def quantize(self, zs):
        """Eq. 5, 7-9: cosine look-up in each expert's codebook (Eq. 8-9 use z_v,i, z_b,i)."""
        used, qs, codes, loss = [], [], [], zs[0].new_zeros(())
        for z, cb in zip(zs, self.codebooks()):
            zu, zq, c, l_ = cb(z)
            used.append(zu)
            qs.append(zq)
            codes.append(c)
            loss = loss + l_
        return used, qs, torch.stack(codes, 1), loss

    # -- Eq. 12-13 -----------------------------------------------------------------
    def content_gates(self, x):
        """Eq. 12-13: g_m = softmax(MLP_m(e_m) + b_m) over the modality's experts."""
        gates = {}
        for m, n in self.n_content.items():
            if n > 0:
                gates[m] = torch.softmax(self.content_gate_mlps[m](x[m]).float(), dim=-1)
        return gates

    # -- Eq. 22 --------------------------------------------------------------------
    def behavior_gate(self, x, n_norm, return_raw=False):
        """Eq. 22: R(e_b) = sigma(N_norm(e_b)) * act(relu(MLP(e_b) + b)); ones when switched off.

        ``act`` is ``gate_activation``: ``tanh`` or ``min(., 1)`` (R in [0, 1], exact zeros
        kept, so the ReLU router's sparsity of Eq. 23 is unchanged) or the identity (Eq. 22
        as printed, unbounded). With ``return_raw=True`` also returns the unbounded
        ``sigma(N_norm) * relu(MLP(e_b) + b)``.
        """
        m = self.behavior_modality
        if not self.has_behavior or self.n_behavior == 0:
            return (None, None) if return_raw else None
        xb = x[m]
        if not self.use_behavior_gate:
            ones = xb.new_ones(xb.shape[0], self.n_behavior)
            return (ones, ones) if return_raw else ones
        s = torch.sigmoid(n_norm.float())[:, None]
        a = F.relu(self.behavior_gate_mlp(xb).float())
        if self.gate_activation == "tanh":
            R = s * torch.tanh(a)
        elif self.gate_activation == "clamp":
            R = s * a.clamp(max=1.0)
        else:
            R = s * a
        return (R, s * a) if return_raw else R

    def gate_vector(self, gates, R, batch_size, device):
        """Weight of every code position: 1 (shared), g_m (content), R(e_b) (behaviour)."""
        parts = [torch.ones(batch_size, self.n_shared, device=device)]
        for m in self.specific_experts:
            if self.n_specific[m] == 0:
                continue
            if m == self.behavior_modality:
                parts.append(R)
            else:
                parts.append(gates[m])
        return torch.cat(parts, 1)

    # -- Eq. 10-11 -----------------------------------------------------------------
    @staticmethod
    def fuse(vectors, weights):
        """Eq. 10 (latents) / Eq. 11 (codewords): sum_i weight_i * v_i, unit-normalised v_i."""
        return sum(weights[:, i:i + 1] * v for i, v in enumerate(vectors))

    # -- Eq. 18-21 -----------------------------------------------------------------
    def alignment_loss(self, h_m, w):
        """Eq. 21: L = sum over content pairs of L_{v,t} (Eq. 20, symmetric)
        + sum over content m of w * L_{b,m} (Eq. 18-19: anchor h_m, positives/negatives h_b)."""
        loss = w.new_zeros(()).float()
        c = self.content
        for i in range(len(c)):
            for j in range(i + 1, len(c)):  # Eq. 20 (content-content, symmetric)
                loss = loss + info_nce(h_m[c[i]], h_m[c[j]], self.temperature).mean()
                loss = loss + info_nce(h_m[c[j]], h_m[c[i]], self.temperature).mean()
        if self.has_behavior:
            hb = h_m[self.behavior_modality]
            for m in c:  # Eq. 18-19, weighted per item by w (Eq. 17)
                loss = loss + (w.float() * info_nce(h_m[m], hb, self.temperature)).mean()
        return loss

    # -- Eq. 23 --------------------------------------------------------------------
    def sparsity_loss(self, R):
        """Eq. 23 (ReMoE): lambda * sum_e f_e * mean_t R_{t,e}, f_e = E/(k T) #{t: R_{t,e} > 0}
        (no gradient through f); k = E (1 - target_sparsity) active experts targeted."""
        E = R.shape[1]
        T = R.shape[0]
        k = max(E * (1.0 - self.target_sparsity), 1e-6)
        with torch.no_grad():
            f = E / (k * T) * (R > 0).float().sum(0)
        return float(self.reg_lambda) * (f * R.mean(0)).sum()

    @torch.no_grad()
    def update_lambda(self, R):
        """ReMoE: lambda <- lambda * growth^{sign(target - S)}, S = fraction of zero gates."""
        S = float((R <= 0).float().mean())
        self.reg_lambda.mul_(self.lambda_growth ** float(np.sign(self.target_sparsity - S)))

    # -- forward / loss ---------------------------------------------------------------
    def forward(self, **batch):
        x = self._inputs(batch)
        B = next(iter(x.values())).shape[0]
        dev = next(iter(x.values())).device
        h_m, h = self.project(x)
        zs = self.latents(x, h)
        used, qs, codes, vq_loss = self.quantize(zs)
        gates = self.content_gates(x)
        R, raw_R = self.behavior_gate(x, batch["n_norm"], return_raw=True)
        cold = batch.get("cold")
        if cold is not None and R is not None:  # no behaviour, no behavioural weight
            warm = (~cold.bool()).float().unsqueeze(1)
            R, raw_R = R * warm, raw_R * warm
        weights = self.gate_vector(gates, R, B, dev)
        z = self.fuse(used, weights)   # Eq. 10
        z_q = self.fuse(qs, weights)   # Eq. 11
        z_st = z + (z_q - z).detach()  # Eq. 14: z + sg(z_q - z)
        recon = self.decoder(z_st)
        if self.training and self.collision_weight > 0 and B > 1:
            vq_loss = vq_loss + self.collision_weight * self.collision_loss(used)
            if "idx" in batch:
                dl = self.dedup_loss(used, batch["idx"])
                if dl is not None:
                    vq_loss = vq_loss + self.collision_weight * dl
        return {"codes": codes, "weights": weights, "recon": recon, "vq_loss": vq_loss,
                "h_m": h_m, "R": R, "raw_R": raw_R, "latents": zs,
                "raw_weights": self.gate_vector(gates, raw_R, B, dev)}

    def reconstruction_loss(self, out, batch, reduction="mean"):
        """Eq. 14: ||e - decoder(z + sg(z_q - z))||^2, averaged per modality, summed."""
        x = self._inputs(batch)
        target = torch.cat([x[m] for m in self.modality_dims], -1)
        err = (out["recon"].float() - target) ** 2
        per_mod, start = [], 0
        for m, d in self.modality_dims.items():
            per_mod.append(err[:, start:start + d].mean(1))
            start += d
        per_item = torch.stack(per_mod, 1).sum(1)
        return per_item.mean() if reduction == "mean" else per_item

    def loss(self, out, **batch):
        loss = self.reconstruction_loss(out, batch) + out["vq_loss"]
        if self.use_alignment and self.alignment_weight > 0 and len(self.modality_dims) > 1:
            w = batch["w"]
            if batch.get("cold") is not None:  # nothing to align a cold item's content to
                w = w * (~batch["cold"].bool()).to(w.dtype)
            loss = loss + self.alignment_weight * self.alignment_loss(out["h_m"], w)
        R = out["R"]
        if R is not None and self.use_behavior_gate and self.use_sparsity_reg:
            loss = loss + self.sparsity_loss(R)
            if self.training:
                self.update_lambda(R)
        return loss

    # -- codebook maintenance -------------------------------------------------------
    @torch.no_grad()
    def _all_latents(self, batch):
        x = self._inputs(batch)
        h_m, h = self.project(x)
        return [z.float() for z in self.latents(x, h)]

    @torch.no_grad()
    def init_codebooks(self, generator=None, **batch):
        """k-means (spherical) initialisation of every codebook from the latents of ``batch``."""
        for z, cb in zip(self._all_latents(batch), self.codebooks()):
            cb.init_kmeans(z, generator=generator)

    @torch.no_grad()
    def refresh_codebooks(self, **batch):
        """Dead-code re-seeding of every codebook from the current latents of ``batch``
        (then :meth:`rebalance_codebook` when ``rebalance`` > 0)."""
        n = 0
        for z, cb in zip(self._all_latents(batch), self.codebooks()):
            n += cb.refresh(z)
            if self.rebalance > 0:
                n += self.rebalance_codebook(cb, z, self.rebalance)
        if self.collision_weight > 0:
            self._update_dedup_targets(batch)
        return n

    @staticmethod
    @torch.no_grad()
    def rebalance_codebook(cb, z, ratio):
        """Split crowded codewords: every codeword used by fewer than ``N / (ratio K)``
        items is moved onto the worst-served latent of a distinct codeword used by more
        than ``ratio N / K`` items (most crowded first). Returns the number moved."""
        zf = cb._prep(z.float())
        cw = cb._codewords().float()
        codes = cb._lookup(zf, cw)
        K = cb.codebook_size
        counts = torch.bincount(codes, minlength=K).float()
        mean = zf.shape[0] / K
        rare = torch.nonzero(counts < mean / ratio).squeeze(1)
        rare = rare[counts[rare].argsort()]
        crowded = torch.nonzero(counts > mean * ratio).squeeze(1)
        crowded = crowded[counts[crowded].argsort(descending=True)]
        n = min(len(rare), len(crowded))
        if n == 0:
            return 0
        err = ((zf - cw[codes]) ** 2).sum(1)
        for j, i in zip(rare[:n].tolist(), crowded[:n].tolist()):
            members = torch.nonzero(codes == i).squeeze(1)
            far = members[err[members].argmax()]
            cb.embed.data[j] = zf[far].to(cb.embed.dtype)
        return n
