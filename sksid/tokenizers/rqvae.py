"""RQ-VAE tokenizer (TIGER) as a scikit-learn estimator (skorch-backed)."""
from __future__ import annotations

from ..base import fill_docstring
from .._validation import NON_NEGATIVE_REAL, POSITIVE_INT
from ..nn.rqvae import RQVAEModule
from ._torch import TORCH_TOKENIZER_DOC, TorchTokenizer

__all__ = ["RQVAETokenizer"]


@fill_docstring(blocks={"torch_training": TORCH_TOKENIZER_DOC})
class RQVAETokenizer(TorchTokenizer):
    """Residual-quantised VAE tokenizer (TIGER): MLP encoder, ``n_levels`` Euclidean
    codebooks on successive residuals (k-means initialised, dead codes re-seeded after
    every epoch), MLP decoder; loss = reconstruction + codebook/commitment terms.

    Input forms, standardisation and the Pipeline path are those of every sksid tokenizer
    (see :mod:`sksid.tokenizers._base`); the modalities are standardised and concatenated
    with equal weight. All code weights are 1.

    Parameters
    ----------
    codebook_size : int, default=100
        K, codewords per level (the catalogue needs at least K items).
    n_levels : int, default=3
        Code length L.
    hidden_dim : int, default=256
        Hidden width of the encoder and decoder MLPs.
    latent_dim : int, default=32
        Width of the latent vector the residual codebooks quantise.
    commitment_weight : float, default=0.25
        beta of the VQ commitment term ``||sg[c] - z||²`` (the codebook term has weight 1).
    max_epochs : int, default=100
        0 keeps the k-means initialised codebooks (no training).
    batch_size : int, default=256
        Items per training batch.
    lr : float, default=1e-3
        AdamW learning rate.
    {torch_training}
    **kwargs
        skorch-style ``module__*``, ``optimizer__*``, ``iterator_train__*`` parameters.

    Attributes
    ----------
    codes_, weights_, codebook_sizes_, collisions_, collision_rate_, recon_loss_, net_

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.RandomState(0).randn(50, 6)
    >>> tok = RQVAETokenizer(codebook_size=4, n_levels=2, hidden_dim=16, latent_dim=4,
    ...                      max_epochs=2, device="cpu", random_state=0)
    >>> codes, weights = tok.fit_transform(X)
    >>> codes.shape, float(weights.min())
    ((50, 2), 1.0)
    """

    _parameter_constraints: dict = {
        **TorchTokenizer._parameter_constraints,
        "n_levels": [POSITIVE_INT],
        "hidden_dim": [POSITIVE_INT],
        "latent_dim": [POSITIVE_INT],
        "commitment_weight": [NON_NEGATIVE_REAL],
    }

    def __init__(self, codebook_size=100, n_levels=3, hidden_dim=256, latent_dim=32,
                 commitment_weight=0.25, max_epochs=100, batch_size=256, lr=1e-3,
                 weight_decay=0.01, patience=None, max_time=None, lr_schedule="constant", ema_decay=None,
                 compile="auto", checkpoint_dir=None, callbacks=None, device="auto",
                 random_state=None, verbose=0, modality_dims=None, behavior_modality="collab",
                 disambiguate=False, behavior_estimator=None, n_items=None, **kwargs):
        self.codebook_size = codebook_size
        self.n_levels = n_levels
        self.hidden_dim = hidden_dim
        self.latent_dim = latent_dim
        self.commitment_weight = commitment_weight
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.max_time = max_time
        self.lr_schedule = lr_schedule
        self.ema_decay = ema_decay
        self.compile = compile
        self.checkpoint_dir = checkpoint_dir
        self.callbacks = callbacks
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.modality_dims = modality_dims
        self.behavior_modality = behavior_modality
        self.disambiguate = disambiguate
        self.behavior_estimator = behavior_estimator
        self.n_items = n_items
        self._store_prefixed(kwargs)

    def _fit_features(self, std, raw, seed, resume):
        x = self._balanced_concat(std)
        kw = dict(in_dim=x.shape[1], codebook_size=int(self.codebook_size), n_levels=int(self.n_levels),
                  hidden_dim=int(self.hidden_dim), latent_dim=int(self.latent_dim),
                  commitment_weight=float(self.commitment_weight))
        self._train_module(RQVAEModule, kw, {"x": x}, seed, resume)

    def _encode(self, std, raw, rows=None, n_rows=None):
        # per item: squared error summed over the balanced dims = sum_m MSE_m
        out, recon = self._run_module({"x": self._balanced_concat(std)})
        return out["codes"], out["weights"], recon

    def _code_length(self):
        return int(self.n_levels)
