"""LETTER (Wang et al., CIKM 2024): an RQ-VAE with a collaborative and a code-assignment
diversity regulariser, torch only.

* semantic regulariser: the RQ-VAE reconstruction + codebook/commitment loss
  (:class:`~sksid.nn.rqvae.RQVAEModule`);
* collaborative regulariser: in-batch InfoNCE between the quantised item latent and the
  item's pre-trained collaborative embedding (:meth:`LETTERModule.alignment_loss`);
* diversity regulariser: :func:`~sksid.nn.diversity.code_diversity_loss` at every level, on
  codeword groups rebuilt by size-constrained k-means after every epoch;
* collision handling at the last level: :meth:`LETTERModule.last_level_distances`, which the
  estimator balances with :func:`~sksid.nn.diversity.sinkhorn_assign`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .diversity import cluster_sizes, code_diversity_loss, constrained_kmeans
from .rqvae import RQVAEModule

__all__ = ["LETTERModule"]


class LETTERModule(RQVAEModule):
    """RQ-VAE + LETTER's collaborative and diversity regularisers.

    Batches are dicts with ``x`` (B, d) the standardised content features and ``cf``
    (B, d_cf) the standardised collaborative embeddings.

    Parameters
    ----------
    in_dim, cf_dim : int
        Widths of the content input and of the collaborative embedding.
    codebook_size, n_levels, hidden_dim, latent_dim, commitment_weight
        As :class:`~sksid.nn.rqvae.RQVAEModule`.
    alignment_weight : float, default=0.1
        Weight of the collaborative InfoNCE (LETTER's alpha).
    temperature : float, default=1.0
        InfoNCE temperature on the dot-product logits (the released code: 1, no normalisation).
    diversity_weight : float, default=1e-4
        Weight of the diversity loss, averaged over levels (LETTER's beta).
    n_clusters : int, default=10
        Codeword groups per level (see :func:`~sksid.nn.diversity.cluster_sizes`).

    Examples
    --------
    >>> m = LETTERModule(6, 3, codebook_size=4, n_levels=2, hidden_dim=16, latent_dim=4)
    >>> out = m(x=torch.randn(5, 6), cf=torch.randn(5, 3))
    >>> out["codes"].shape, bool(torch.isfinite(m.loss(out, x=torch.randn(5, 6), cf=torch.randn(5, 3))))
    (torch.Size([5, 2]), True)
    """

    def __init__(self, in_dim, cf_dim, codebook_size=256, n_levels=4, hidden_dim=256, latent_dim=32,
                 commitment_weight=0.25, alignment_weight=0.1, temperature=1.0, diversity_weight=1e-4,
                 n_clusters=10):
        super().__init__(in_dim, codebook_size, n_levels, hidden_dim, latent_dim, commitment_weight)
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.alignment_weight = float(alignment_weight)
        self.temperature = float(temperature)
        self.diversity_weight = float(diversity_weight)
        self.n_clusters, self.size_min, self.size_max = cluster_sizes(codebook_size, n_clusters)
        # the released code has no projection (its latent and CF tables are both 32-d)
        self.cf_proj = nn.Identity() if int(cf_dim) == int(latent_dim) else nn.Linear(latent_dim, cf_dim)
        # group of every codeword, per level; a buffer so checkpoints and saved files keep it
        self.register_buffer("cluster_labels", torch.zeros(int(n_levels), int(codebook_size), dtype=torch.long))

    def forward(self, x, **_):
        z = self.encoder(x.float())
        zq, codes, vq_loss = self.quantizer(z)
        if self.training and self.diversity_weight > 0:
            div = vq_loss.new_zeros(())
            for lvl, cb in enumerate(self.quantizer.levels):
                cw = cb.embed.float()
                c = codes[:, lvl]
                div = div + code_diversity_loss(cw[c], cw, c, self.cluster_labels[lvl])
            vq_loss = vq_loss + self.diversity_weight * div / len(self.quantizer.levels)
        return {"codes": codes, "recon": self.decoder(zq), "vq_loss": vq_loss, "zq": zq,
                "weights": torch.ones(codes.shape, device=codes.device)}

    def alignment_loss(self, zq, cf):
        """Collaborative regulariser: in-batch InfoNCE, anchor the projected quantised latent
        (straight-through, so the gradient reaches the encoder), positive the item's own
        collaborative embedding, negatives the batch's other items; dot-product logits
        divided by ``temperature``."""
        logits = self.cf_proj(zq.float()) @ cf.float().T / self.temperature
        return F.cross_entropy(logits, torch.arange(zq.shape[0], device=zq.device))

    def loss(self, out, **batch):
        loss = self.reconstruction_loss(out, batch) + out["vq_loss"]
        if self.alignment_weight > 0 and out["zq"].shape[0] > 1:
            loss = loss + self.alignment_weight * self.alignment_loss(out["zq"], batch["cf"])
        return loss

    @torch.no_grad()
    def update_clusters(self):
        """Re-group every level's codewords by size-constrained k-means (seeded by level)."""
        for lvl, cb in enumerate(self.quantizer.levels):
            _, lab = constrained_kmeans(cb.embed.float(), self.n_clusters, self.size_min, self.size_max,
                                        generator=torch.Generator().manual_seed(lvl))
            self.cluster_labels[lvl] = lab.to(self.cluster_labels.device)

    @torch.no_grad()
    def init_codebooks(self, generator=None, x=None, **_):
        super().init_codebooks(generator=generator, x=x)
        self.update_clusters()

    @torch.no_grad()
    def refresh_codebooks(self, x=None, **_):
        n = super().refresh_codebooks(x=x)
        self.update_clusters()
        return n

    @torch.no_grad()
    def last_level_distances(self, x):
        """Squared distances (B, K) of the last level's residual to its codewords."""
        res = self.encoder(x.float()).float()
        levels = self.quantizer.levels
        for cb in levels[:-1]:
            res = res - cb.embed.float()[cb.encode(res)]
        return torch.cdist(res, levels[-1].embed.float()) ** 2
