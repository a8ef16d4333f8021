"""LETTER tokenizer (Wang et al., CIKM 2024) as a scikit-learn estimator (skorch-backed)."""
from __future__ import annotations

import numpy as np
import torch

from .._validation import NON_NEGATIVE_REAL, POSITIVE_INT, POSITIVE_REAL
from ..base import fill_docstring
from ..nn.diversity import sinkhorn_assign
from ..nn.letter import LETTERModule
from ..training.net import eval_mode
from ._torch import TORCH_TOKENIZER_DOC, TorchTokenizer

__all__ = ["LETTERTokenizer"]

_COLLISION_ROUNDS = 20  # the released code's bound on re-assignment rounds


@fill_docstring(blocks={"torch_training": TORCH_TOKENIZER_DOC})
class LETTERTokenizer(TorchTokenizer):
    """LETTER: a learnable RQ-VAE tokenizer with semantic, collaborative and diversity
    regularisers (Wang et al., "Learnable Item Tokenization for Generative Recommendation",
    CIKM 2024).

    * **Semantic regulariser**: the RQ-VAE of :class:`RQVAETokenizer` (MLP encoder,
      ``n_levels`` residual Euclidean codebooks, MLP decoder; reconstruction + codebook /
      commitment loss) on the **content** modalities, standardised and concatenated with equal
      weight.
    * **Collaborative regulariser**: in-batch InfoNCE between the quantised latent
      (projected to the collaborative width when the widths differ) and the item's
      collaborative embedding, the ``behavior_modality`` (``"collab"``, e.g. SASRec's item
      table; learned on histories input). It is required: a fit without it raises.
    * **Diversity regulariser**: after every epoch each level's codewords are grouped by
      size-constrained k-means (``n_clusters`` groups); each item's codeword is pulled
      towards a random other codeword of its group and pushed from the other groups'
      (:func:`sksid.nn.diversity.code_diversity_loss`).
    * **Collision handling at the last level** (``resolve_collisions``): items that share a
      whole tuple get their last code re-assigned by a Sinkhorn balanced assignment of the
      group to the last codebook, repeated up to 20 rounds, as the released code does when
      it writes the indices. It runs over every input of ``fit`` and ``transform`` as a
      whole (all chunks joined), so ``transform`` of the training catalogue gives
      ``codes_``; on a subset of rows it separates only the collisions within it.
      Collisions left (identical items) are in ``collisions_``; ``disambiguate=True`` appends
      TIGER's extra code.

    Choices the paper leaves open follow the released code (``HonghuiBao2000/LETTER``):
    dot-product InfoNCE logits with temperature 1 and no normalisation, no projection when
    the latent and collaborative widths agree, alpha = 0.1 and beta = 1e-4 (its Beauty
    setting), 10 codeword groups of 10 to 60 codewords for K = 256, the diversity positive
    drawn uniformly in the group, Sinkhorn epsilon 0.003 with 50 iterations. Departures: the
    encoder and decoder are those of :class:`RQVAETokenizer` (two hidden layers of
    ``hidden_dim``; the released code stacks 2048-1024-512-256-128-64), the codewords are
    k-means initialised and dead ones re-seeded after every epoch as in every sksid
    quantiser, the group k-means runs once per level from a seeded k-means++ start (the
    released code: 10 restarts), and training assigns every level to the nearest codeword
    (the released training script also uses Sinkhorn at the last level). All code weights
    are 1.

    Parameters
    ----------
    codebook_size : int, default=256
        K, codewords per level (the catalogue needs at least K items).
    n_levels : int, default=4
        Code length L.
    hidden_dim : int, default=256
        Hidden width of the encoder and decoder MLPs.
    latent_dim : int, default=32
        Width of the latent vector the residual codebooks quantise.
    commitment_weight : float, default=0.25
        Weight of the VQ commitment term (the codebook term has weight 1).
    alignment_weight : float, default=0.1
        Weight of the collaborative InfoNCE (LETTER's alpha).
    temperature : float, default=1.0
        Temperature of that InfoNCE's dot-product logits.
    diversity_weight : float, default=1e-4
        Weight of the diversity loss, averaged over levels (LETTER's beta).
    n_clusters : int, default=10
        Codeword groups per level (at most K // 2).
    resolve_collisions : bool, default=True
        Separate colliding items at the last level (see above).
    sinkhorn_epsilon : float, default=0.003
        Entropic regularisation of that Sinkhorn assignment (on distances rescaled to [-1, 1]).
    sinkhorn_iters : int, default=50
        Its iterations.
    max_epochs : int, default=100
        0 keeps the k-means initialised codebooks (no training).
    batch_size : int, default=1024
        Items per training batch (also the InfoNCE's negatives; the released setting).
    lr : float, default=1e-3
        AdamW learning rate.
    {torch_training}
    **kwargs
        skorch-style ``module__*``, ``optimizer__*``, ``iterator_train__*`` parameters.

    Attributes
    ----------
    codes_, weights_, codebook_sizes_, collisions_, collision_rate_, recon_loss_, net_
        As :class:`RQVAETokenizer`; ``collisions_`` and ``collision_rate_`` are measured
        after the collision handling.
    content_modalities_ : list of str
        The modalities the RQ-VAE encodes (sorted), every one but ``behavior_modality``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> X = {"text": rng.randn(60, 8), "collab": rng.randn(60, 4)}
    >>> tok = LETTERTokenizer(codebook_size=8, n_levels=2, hidden_dim=16, latent_dim=4,
    ...                       max_epochs=2, device="cpu", random_state=0)
    >>> codes, weights = tok.fit_transform(X)
    >>> codes.shape, float(weights.min()), tok.content_modalities_
    ((60, 2), 1.0, ['text'])
    """

    _parameter_constraints: dict = {
        **TorchTokenizer._parameter_constraints,
        "n_levels": [POSITIVE_INT],
        "hidden_dim": [POSITIVE_INT],
        "latent_dim": [POSITIVE_INT],
        "commitment_weight": [NON_NEGATIVE_REAL],
        "alignment_weight": [NON_NEGATIVE_REAL],
        "temperature": [POSITIVE_REAL],
        "diversity_weight": [NON_NEGATIVE_REAL],
        "n_clusters": [POSITIVE_INT],
        "resolve_collisions": ["boolean"],
        "sinkhorn_epsilon": [POSITIVE_REAL],
        "sinkhorn_iters": [POSITIVE_INT],
    }

    def __init__(self, codebook_size=256, n_levels=4, hidden_dim=256, latent_dim=32,
                 commitment_weight=0.25, alignment_weight=0.1, temperature=1.0, diversity_weight=1e-4,
                 n_clusters=10, resolve_collisions=True, sinkhorn_epsilon=0.003, sinkhorn_iters=50,
                 max_epochs=100, batch_size=1024, lr=1e-3,
                 weight_decay=0.01, patience=None, max_time=None, lr_schedule="constant", ema_decay=None,
                 compile="auto", checkpoint_dir=None, callbacks=None, device="auto",
                 random_state=None, verbose=0, modality_dims=None, behavior_modality="collab",
                 disambiguate=False, behavior_estimator=None, n_items=None, **kwargs):
        self.codebook_size = codebook_size
        self.n_levels = n_levels
        self.hidden_dim = hidden_dim
        self.latent_dim = latent_dim
        self.commitment_weight = commitment_weight
        self.alignment_weight = alignment_weight
        self.temperature = temperature
        self.diversity_weight = diversity_weight
        self.n_clusters = n_clusters
        self.resolve_collisions = resolve_collisions
        self.sinkhorn_epsilon = sinkhorn_epsilon
        self.sinkhorn_iters = sinkhorn_iters
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

    def _check_modalities(self, raw):
        b = self.behavior_modality
        if b not in raw:
            raise ValueError(
                f"{type(self).__name__} needs the collaborative embedding as the modality {b!r} "
                f"(behavior_modality); got only {sorted(raw)}. Pass it in the dict (e.g. SASRec's "
                f"item_embeddings_), name its DataFrame columns '{b}:0', ... or split a 2-D array with "
                "modality_dims, or fit on histories (it is then learned)")
        if len(raw) < 2:
            raise ValueError(f"{type(self).__name__} needs at least one content modality besides {b!r}")

    def _data(self, std):
        content = {m: a for m, a in std.items() if m != self.behavior_modality}
        return {"x": self._balanced_concat(content), "cf": std[self.behavior_modality]}

    def _fit_features(self, std, raw, seed, resume):
        data = self._data(std)
        self.content_modalities_ = sorted(m for m in std if m != self.behavior_modality)
        kw = dict(in_dim=data["x"].shape[1], cf_dim=data["cf"].shape[1], codebook_size=int(self.codebook_size),
                  n_levels=int(self.n_levels), hidden_dim=int(self.hidden_dim), latent_dim=int(self.latent_dim),
                  commitment_weight=float(self.commitment_weight), alignment_weight=float(self.alignment_weight),
                  temperature=float(self.temperature), diversity_weight=float(self.diversity_weight),
                  n_clusters=int(self.n_clusters))
        self._train_module(LETTERModule, kw, data, seed, resume)

    def _encode(self, std, raw, rows=None, n_rows=None):
        out, recon = self._run_module(self._data(std))
        return out["codes"], out["weights"], recon

    def _resolve_codes(self, codes, rows_of):
        """Collision handling at the last level (see the class docstring)."""
        if not self.resolve_collisions or len(codes) < 2:
            return codes
        codes = codes.copy()
        module = self.net_.module_
        for _ in range(_COLLISION_ROUNDS):
            _, inv, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
            inv = inv.reshape(-1)
            shared = np.flatnonzero(counts[inv] > 1)
            if not shared.size:
                break
            x = self._balanced_concat({m: a for m, a in rows_of(shared).items() if m != self.behavior_modality})
            with eval_mode(module):
                d = torch.cat([module.last_level_distances(torch.as_tensor(x[s:s + 8192], device=self.device_))
                               for s in range(0, len(x), 8192)]).cpu()
            order = np.argsort(inv[shared], kind="stable")
            groups = np.split(order, np.flatnonzero(np.diff(inv[shared][order])) + 1)
            before = codes[shared, -1].copy()
            for g in groups:
                codes[shared[g], -1] = sinkhorn_assign(d[g], self.sinkhorn_epsilon, self.sinkhorn_iters).numpy()
            if np.array_equal(before, codes[shared, -1]):
                break
        return codes

    def _code_length(self):
        return int(self.n_levels)
