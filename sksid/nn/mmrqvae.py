"""MM-RQ-VAE (Wang et al., arXiv 2509.02017): one RQ-VAE per modality, their codes
concatenated, with a behaviour-content alignment of the quantised latents; torch only."""
from __future__ import annotations

import torch
from torch import nn

from .alignment import info_nce
from .rqvae import RQVAEModule

__all__ = ["MMRQVAEModule", "gaussian_mmd", "ALIGNMENTS", "RECONSTRUCTIONS"]

ALIGNMENTS = ("infonce", "mmd")
RECONSTRUCTIONS = ("mmd", "mse")


def gaussian_mmd(a, b, alpha=0.5):
    """Squared maximum mean discrepancy between the rows of ``a`` and ``b`` with a Gaussian
    kernel ``exp(-||u - v||^2 / (2 sigma^2))``, ``sigma^2 = alpha`` times the mean squared
    distance over all pairs of the joined rows (no gradient through sigma), the kernel of the
    released MM-RQ-VAE code (``GaussianKernel(alpha=0.5)``); biased estimate
    ``mean K_aa + mean K_bb - 2 mean K_ab``.

    Examples
    --------
    >>> x = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
    >>> float(gaussian_mmd(x, x)) == 0.0, bool(gaussian_mmd(x, x + 3) > 0.1)
    (True, True)
    """
    z = torch.cat([a.float(), b.float()])
    d2 = torch.cdist(z, z) ** 2
    sigma2 = (alpha * d2.detach().mean()).clamp_min(1e-12)
    k = torch.exp(-d2 / (2 * sigma2))
    n = a.shape[0]
    return k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean()


class MMRQVAEModule(nn.Module):
    """One :class:`~sksid.nn.rqvae.RQVAEModule` per modality, codes concatenated in the order of
    ``modality_dims``.

    Batches are dicts with ``x__<modality>`` (B, d_m), the standardised features. The loss is,
    summed over modalities, the reconstruction term (``"mmd"``: ``reconstruction_weight``
    times :func:`gaussian_mmd` of the batch's reconstructions and inputs; ``"mse"``: the mean
    squared error per dimension) and the codebook/commitment terms, plus
    ``alignment_weight`` times, for every content modality, the alignment of its quantised
    latent with the behavioural one (``"infonce"``: in-batch InfoNCE, cosine /
    ``temperature``, anchor the behaviour; ``"mmd"``: :func:`gaussian_mmd`). Without the
    behavioural modality there is no alignment term.

    Examples
    --------
    >>> m = MMRQVAEModule({"text": 6, "collab": 3}, codebook_size=4, n_levels=2, hidden_dim=8,
    ...                   latent_dim=4)
    >>> out = m(x__text=torch.randn(5, 6), x__collab=torch.randn(5, 3))
    >>> out["codes"].shape, m.code_layout
    (torch.Size([5, 4]), ['text_0', 'text_1', 'collab_0', 'collab_1'])
    """

    def __init__(self, modality_dims, behavior_modality="collab", codebook_size=256, n_levels=4,
                 hidden_dim=256, latent_dim=32, commitment_weight=0.25, alignment_weight=0.01,
                 temperature=0.07, alignment="infonce", reconstruction="mmd", reconstruction_weight=3.0):
        super().__init__()
        if alignment not in ALIGNMENTS:
            raise ValueError(f"alignment must be one of {ALIGNMENTS}, got {alignment!r}")
        if reconstruction not in RECONSTRUCTIONS:
            raise ValueError(f"reconstruction must be one of {RECONSTRUCTIONS}, got {reconstruction!r}")
        self.modality_dims = dict(modality_dims)
        self.behavior_modality = behavior_modality
        self.alignment_weight = float(alignment_weight)
        self.temperature = float(temperature)
        self.alignment = alignment
        self.reconstruction = reconstruction
        self.reconstruction_weight = float(reconstruction_weight)
        self.towers = nn.ModuleDict({
            m: RQVAEModule(d, codebook_size, n_levels, hidden_dim, latent_dim, commitment_weight)
            for m, d in self.modality_dims.items()})
        self.code_layout = [f"{m}_{i}" for m in self.modality_dims for i in range(int(n_levels))]
        self.code_length = len(self.code_layout)

    def forward(self, **batch):
        outs = {m: tower(x=batch["x__" + m]) for m, tower in self.towers.items()}
        codes = torch.cat([o["codes"] for o in outs.values()], 1)
        return {"codes": codes, "weights": torch.ones(codes.shape, device=codes.device),
                "vq_loss": sum(o["vq_loss"] for o in outs.values()), "towers": outs}

    def reconstruction_loss(self, out, batch, reduction="mean"):
        """Per item: the sum over modalities of the per-dimension squared error (the package's
        reported reconstruction; training may use MMD instead, see :meth:`loss`)."""
        per_item = sum(((o["recon"].float() - batch["x__" + m].float()) ** 2).mean(1)
                       for m, o in out["towers"].items())
        return per_item.mean() if reduction == "mean" else per_item

    def alignment_loss(self, out):
        """Behaviour-content alignment of the quantised latents, summed over content modalities."""
        towers, b = out["towers"], self.behavior_modality
        loss = out["codes"].new_zeros((), dtype=torch.float32)
        if b not in towers:
            return loss
        zb = towers[b]["zq"]
        for m, o in towers.items():
            if m == b:
                continue
            if self.alignment == "infonce":
                loss = loss + info_nce(zb, o["zq"], self.temperature).mean()
            else:
                loss = loss + gaussian_mmd(zb, o["zq"])
        return loss

    def loss(self, out, **batch):
        if self.reconstruction == "mse":
            loss = self.reconstruction_loss(out, batch)
        else:
            loss = self.reconstruction_weight * sum(
                gaussian_mmd(o["recon"], batch["x__" + m]) for m, o in out["towers"].items())
        loss = loss + out["vq_loss"]
        if self.alignment_weight > 0 and out["codes"].shape[0] > 1:
            loss = loss + self.alignment_weight * self.alignment_loss(out)
        return loss

    @torch.no_grad()
    def init_codebooks(self, generator=None, **batch):
        for m, tower in self.towers.items():
            tower.init_codebooks(generator=generator, x=batch["x__" + m])

    @torch.no_grad()
    def refresh_codebooks(self, **batch):
        return sum(tower.refresh_codebooks(x=batch["x__" + m]) for m, tower in self.towers.items())
