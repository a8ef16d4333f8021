"""ADC-SID tokenizer as a scikit-learn estimator (skorch-backed)."""
from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..nn.adcsid import ADCSIDModule, alignment_strength, normalized_norm
from ._base import BaseTokenizer

__all__ = ["ADCSIDTokenizer"]


class ADCSIDTokenizer(BaseTokenizer):
    """Adaptive Denoising Collaborative Semantic IDs (ADC-SID §3).

    A behaviour-content mixture of quantisers: ``n_shared`` shared experts on the
    concatenated projections of every modality, ``n_content_experts`` specific experts per
    content modality and ``n_behavior`` behavioural experts, each with a cosine codebook of
    ``codebook_size`` codewords. Every code comes with a weight: 1 for shared codes, the
    softmax gate (Eq. 12-13) for content codes and the ReLU gate R(e_b) (Eq. 22) for
    behavioural codes. Code length ``L = n_shared + sum(content experts) + n_behavior``
    (+1 with ``disambiguate=True``), in the order shared, content modalities (input
    order), behaviour. See ``docs/tokenizers.md`` for the equation-to-code map.

    Parameters
    ----------
    codebook_size : int, default=100
        K, codewords per codebook (>= 2; the catalogue needs at least K items).
    n_shared : int, default=1
    n_content_experts : int or dict of str to int, default=1
        Specific experts per content modality (a dict sets it per modality; modalities
        not in the dict get 1; an unknown name raises).
    n_behavior : int, default=3
        Behavioural experts (used only when the behavioural modality is present).
    hidden_dim : int, default=256
    latent_dim : int, default=64
    alpha, beta : float, default=10, 9
        Alignment strength controller (Eq. 17).
    temperature : float, default=0.07
        InfoNCE tau (Eq. 18-20).
    target_sparsity : float, default=1/3
        ReMoE target fraction of zero behavioural gates (Eq. 23): about ``n_behavior *
        (1 - target_sparsity)`` behavioural experts active per item on average.
    align_weight : float, default=0.1
        Weight of the alignment loss (Eq. 21) in the total loss.
    commitment_weight : float, default=0.25
    balance_weight : float, default=0.3
        Codebook balancing, **beyond the paper**: weight of each cosine codebook's batch
        marginal-entropy regulariser ``(mean_i H(p_i) - H(mean_i p_i)) / log K`` on the
        soft assignment ``p_i = softmax(cos(z_i, c) / balance_temperature)`` (training
        only). It spreads items over the codewords while keeping assignments confident.
        ``0`` recovers the unregularised behaviour exactly.
    balance_temperature : float, default=0.03
        tau_a of that soft assignment.
    use_alignment : bool, default=True
        Ablation switch: Eq. 18-21 on/off.
    use_strength_controller : bool, default=True
        Ablation switch: Eq. 15-17 on/off (off: w = 1 for every item).
    use_behavior_gate : bool, default=True
        Ablation switch: Eq. 22 on/off (off: behavioural weights are all 1).
    use_sparsity_reg : bool, default=True
        Ablation switch: Eq. 23 on/off.
    max_epochs : int, default=100
    batch_size : int, default=256
    lr : float, default=1e-3
    device : {"auto", "cpu", "cuda"}, default="auto"
    random_state : int, RandomState or None, default=None
    verbose : int, default=0
    modality_dims : dict or list of (name, dim), optional
        Column split of a 2-D array input; None: one content modality ``"content"``.
    behavior_modality : str, default="collab"
        Name of the behavioural modality.
    disambiguate : bool, default=False
        Append TIGER's extra code (0, 1, 2, ... within a colliding group, weight 1).
    behavior_estimator : estimator, optional
        Behaviour model for histories input (needs ``item_embeddings_``); default
        ``SASRecRecommender(random_state=..., device=device)``. Cloned, fitted on (X, y) only.
    n_items : int, optional
        Catalogue size on histories input without ``item_features`` (else inferred).
    **kwargs
        skorch-style ``module__*``, ``optimizer__*``, ``iterator_train__*`` parameters.

    Attributes
    ----------
    codes_ : ndarray (n_items_, L) int64
    weights_ : ndarray (n_items_, L) float32
    codebook_sizes_ : tuple of int
    code_layout_ : list of str
        Name of each code position (``"shared_0"``, ``"text_0"``, ``"collab_2"``, ...).
    collisions_ : ndarray of int
        Items whose tuple (without the disambiguating code) is shared with another item.
    collision_rate_, recon_loss_ : float
    alignment_strength_ : ndarray (n_items_,)
        Eq. 17 per training item (ones without behaviour or with the controller off).
    norm_min_, norm_max_ : float
        Eq. 15 over the catalogue (raw behavioural norms).
    scalers_, modality_dims_, net_, history_, n_items_, device_
    behavior_estimator_, item_popularity_, item_embeddings_ : histories input only

    Notes
    -----
    * **Behavioural norms.** Eq. 15-17 and 22 use the raw ``||e_b||``. All-zero behavioural
      embeddings raise. If every norm is equal (``N_max == N_min``) a warning is issued and
      ``N_norm = 1``, hence ``w = 1``, for every item. A single item with zero norm is
      allowed: it is the minimum, ``N_norm = 0`` (``w ~ 2e-4``). On ``transform``, new
      items' ``N_norm`` is clipped to [0, 1] with the fitted min/max.
    * **Fewer items than K** raises (k-means initialisation needs K points).
    * Dead codewords are re-seeded after every epoch from the worst-quantised latents, so
      codebook utilisation stays near 1.0.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> X = {"text": rng.randn(60, 8), "collab": rng.randn(60, 4)}
    >>> tok = ADCSIDTokenizer(codebook_size=8, hidden_dim=16, latent_dim=8, max_epochs=2,
    ...                       device="cpu", random_state=0)
    >>> codes, weights = tok.fit_transform(X)
    >>> codes.shape, weights.shape, tok.code_layout_
    ((60, 5), (60, 5), ['shared_0', 'text_0', 'collab_0', 'collab_1', 'collab_2'])
    """

    def __init__(self, codebook_size=100, n_shared=1, n_content_experts=1, n_behavior=3,
                 hidden_dim=256, latent_dim=64, alpha=10.0, beta=9.0, temperature=0.07,
                 target_sparsity=1.0 / 3.0, align_weight=0.1, commitment_weight=0.25,
                 balance_weight=0.3, balance_temperature=0.03, use_alignment=True,
                 use_strength_controller=True, use_behavior_gate=True, use_sparsity_reg=True, max_epochs=100, batch_size=256, lr=1e-3, device="auto",
                 random_state=None, verbose=0, modality_dims=None, behavior_modality="collab",
                 disambiguate=False, behavior_estimator=None, n_items=None, **kwargs):
        self.codebook_size = codebook_size
        self.n_shared = n_shared
        self.n_content_experts = n_content_experts
        self.n_behavior = n_behavior
        self.hidden_dim = hidden_dim
        self.latent_dim = latent_dim
        self.alpha = alpha
        self.beta = beta
        self.temperature = temperature
        self.target_sparsity = target_sparsity
        self.align_weight = align_weight
        self.commitment_weight = commitment_weight
        self.balance_weight = balance_weight
        self.balance_temperature = balance_temperature
        self.use_alignment = use_alignment
        self.use_strength_controller = use_strength_controller
        self.use_behavior_gate = use_behavior_gate
        self.use_sparsity_reg = use_sparsity_reg
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.modality_dims = modality_dims
        self.behavior_modality = behavior_modality
        self.disambiguate = disambiguate
        self.behavior_estimator = behavior_estimator
        self.n_items = n_items
        self._store_prefixed(kwargs)

    # ---- checks ----------------------------------------------------------------------
    def _check_modalities(self, raw):
        b = self.behavior_modality
        content = [m for m in raw if m != b]
        nce = self.n_content_experts
        if isinstance(nce, dict):
            unknown = [m for m in nce if m not in content]
            if unknown:
                raise ValueError(f"n_content_experts names unknown content modality(ies) {unknown}; "
                                 f"content modalities are {content}")
            per = {m: nce.get(m, 1) for m in content}
        else:
            per = {m: nce for m in content}
        for m, v in per.items():
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 0:
                raise ValueError(f"n_content_experts for {m!r} must be an int >= 0, got {v!r}")
        for name in ("n_shared", "n_behavior"):
            v = getattr(self, name)
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{name} must be an int >= 0, got {v!r}")
        if not 0.0 <= float(self.target_sparsity) < 1.0:
            raise ValueError(f"target_sparsity must lie in [0, 1), got {self.target_sparsity}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not float(self.balance_weight) >= 0:
            raise ValueError(f"balance_weight must be >= 0, got {self.balance_weight}")
        if not float(self.balance_temperature) > 0:
            raise ValueError(f"balance_temperature must be > 0, got {self.balance_temperature}")
        self._n_content = {m: int(v) for m, v in per.items()}
        L = int(self.n_shared) + sum(self._n_content.values()) + (int(self.n_behavior) if b in raw else 0)
        if L < 1:
            raise ValueError("the code length n_shared + content experts + n_behavior is 0")
        if b in raw:
            norms = np.linalg.norm(raw[b].astype(np.float64), axis=1)
            if not np.any(norms > 0):
                raise ValueError(f"every behavioural embedding ({b!r}) has zero norm; the "
                                 "alignment strength (Eq. 15-17) needs informative norms")

    # ---- fit -------------------------------------------------------------------------
    def _norm_inputs(self, raw):
        """Eq. 15-17 for the rows of ``raw`` with the fitted min/max."""
        b = self.behavior_modality
        n = next(iter(raw.values())).shape[0]
        if b not in raw:
            return np.ones(n, np.float32), np.ones(n, np.float32)
        norms = np.linalg.norm(raw[b].astype(np.float64), axis=1)
        n_norm = normalized_norm(norms, self.norm_min_, self.norm_max_)  # Eq. 16
        if self.use_strength_controller:
            w = alignment_strength(n_norm, self.alpha, self.beta)  # Eq. 17
        else:
            w = np.ones(n)
        return n_norm.astype(np.float32), w.astype(np.float32)

    def _data(self, std, raw):
        n_norm, w = self._norm_inputs(raw)
        data = {"x__" + m: a for m, a in std.items()}
        data["n_norm"] = n_norm
        data["w"] = w
        return data

    def _fit_features(self, std, raw, seed, device):
        b = self.behavior_modality
        if b in raw:
            norms = np.linalg.norm(raw[b].astype(np.float64), axis=1)
            self.norm_min_, self.norm_max_ = float(norms.min()), float(norms.max())  # Eq. 15
            if self.norm_max_ - self.norm_min_ <= 1e-12 * max(self.norm_max_, 1.0):
                warnings.warn("all behavioural embeddings have the same norm (N_max == N_min): "
                              "N_norm = 1 and alignment strength w = 1 for every item", UserWarning)
                self.norm_max_ = self.norm_min_
        else:
            self.norm_min_ = self.norm_max_ = None
        data = self._data(std, raw)
        self.alignment_strength_ = data["w"].copy()
        dims = {m: a.shape[1] for m, a in std.items()}
        module_kwargs = dict(
            modality_dims=dims, behavior_modality=b, codebook_size=int(self.codebook_size),
            n_shared=int(self.n_shared), n_content_experts=self._n_content,
            n_behavior=int(self.n_behavior), hidden_dim=int(self.hidden_dim),
            latent_dim=int(self.latent_dim), temperature=float(self.temperature),
            align_weight=float(self.align_weight), commitment_weight=float(self.commitment_weight),
            use_alignment=bool(self.use_alignment), use_behavior_gate=bool(self.use_behavior_gate),
            use_sparsity_reg=bool(self.use_sparsity_reg), target_sparsity=float(self.target_sparsity),
            balance_weight=float(self.balance_weight),
            balance_temperature=float(self.balance_temperature))
        self._train_module(ADCSIDModule, module_kwargs, data, seed, device)
        mod = self.net_.module_
        layout = [f"shared_{i}" for i in range(mod.n_shared)]
        for m, n in mod.n_specific.items():
            layout += [f"{m}_{i}" for i in range(n)]
        self.code_layout_ = layout

    def _encode(self, std, raw):
        out, recon = self._run_module(self._data(std, raw))
        return out["codes"], np.clip(out["weights"], 0.0, None), recon

    def _code_length(self):
        return self.net_.module_.code_length

    def _behavior_positions(self):
        check_is_fitted(self, "code_layout_")
        pre = self.behavior_modality + "_"
        return np.array([i for i, n in enumerate(self.code_layout_) if n.startswith(pre)
                         and n[len(pre):].isdigit()], dtype=np.int64)
