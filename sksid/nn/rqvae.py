"""RQ-VAE (TIGER's residual-quantised auto-encoder), torch only."""
from __future__ import annotations

import torch
from torch import nn

from .codebook import ResidualQuantizer

__all__ = ["RQVAEModule"]


class RQVAEModule(nn.Module):
    """MLP encoder -> ``n_levels`` residual Euclidean codebooks -> MLP decoder.

    Batches are dicts with ``x`` (B, d) standardised features. The loss is the
    squared reconstruction error (summed over dims, averaged over items) plus the codebook/commitment terms of every level.

    Examples
    --------
    >>> m = RQVAEModule(6, codebook_size=4, n_levels=2, hidden_dim=16, latent_dim=4)
    >>> m(x=torch.randn(5, 6))["codes"].shape
    torch.Size([5, 2])
    """

    def __init__(self, in_dim, codebook_size=100, n_levels=3, hidden_dim=256, latent_dim=32,
                 commitment_weight=0.25):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(),
                                     nn.Linear(hidden_dim, hidden_dim), nn.GELU(),
                                     nn.Linear(hidden_dim, latent_dim))
        self.quantizer = ResidualQuantizer(codebook_size, latent_dim, n_levels, commitment_weight)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.GELU(),
                                     nn.Linear(hidden_dim, hidden_dim), nn.GELU(),
                                     nn.Linear(hidden_dim, in_dim))
        self.code_length = int(n_levels)

    def forward(self, x, **_):
        z = self.encoder(x.float())
        zq, codes, vq_loss = self.quantizer(z)
        recon = self.decoder(zq)
        return {"codes": codes, "recon": recon, "vq_loss": vq_loss, "zq": zq,
                "weights": torch.ones(codes.shape, device=codes.device)}

    def reconstruction_loss(self, out, batch, reduction="mean"):
        # summed over dims: with sksid's balanced concatenation this is sum_m MSE_m
        err = ((out["recon"].float() - batch["x"].float()) ** 2).sum(1)
        return err.mean() if reduction == "mean" else err

    def loss(self, out, **batch):
        return self.reconstruction_loss(out, batch) + out["vq_loss"]

    @torch.no_grad()
    def init_codebooks(self, generator=None, x=None, **_):
        self.quantizer.init_kmeans(self.encoder(x.float()).float(), generator=generator)

    @torch.no_grad()
    def refresh_codebooks(self, x=None, **_):
        return self.quantizer.refresh(self.encoder(x.float()).float())
