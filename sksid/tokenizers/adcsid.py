"""ADC-SID tokenizer as a scikit-learn estimator (skorch-backed)."""
from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Options, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..base import fill_docstring
from .._validation import (
    NON_NEGATIVE_INT,
    NON_NEGATIVE_REAL,
    POSITIVE_INT,
    POSITIVE_REAL,
    UNIT_INTERVAL_LEFT,
    StrictInterval,
)
from ..nn.adcsid import GATE_ACTIVATIONS, ADCSIDModule
from ._reliability import RELIABILITIES, ReliabilityMixin
from ._torch import TORCH_TOKENIZER_DOC, TorchTokenizer

__all__ = ["ADCSIDTokenizer"]


@fill_docstring(blocks={"torch_training": TORCH_TOKENIZER_DOC})
class ADCSIDTokenizer(ReliabilityMixin, TorchTokenizer):
    """Adaptive Denoising Collaborative Semantic IDs (ADC-SID §3).

    A behaviour-content mixture of quantisers: ``n_shared`` shared experts on the
    concatenated projections of every modality, ``n_content_experts`` specific experts per
    content modality and ``n_behavior`` behavioural experts, each with a cosine codebook of
    ``codebook_size`` codewords. Every code comes with a weight: 1 for shared codes, the
    softmax gate (Eq. 12-13) for content codes and the ReLU gate R(e_b) (Eq. 22, bounded
    to [0, 1]) for behavioural codes. Code length ``L = n_shared + sum(content experts) +
    n_behavior`` (+1 with ``disambiguate=True``), in the canonical order shared, content
    modalities sorted by name, behaviour (the order of the input dict's keys does not
    matter). See ``docs/tokenizers.md`` for the equation-to-code map.

    Parameters
    ----------
    codebook_size : int, default=100
        K, codewords per codebook (>= 2; the catalogue needs at least K items).
    n_shared : int, default=1
        Shared experts (one code each) on the concatenation of every modality's projection.
    n_content_experts : int or dict of str to int, default=1
        Specific experts per content modality (a dict sets it per modality; modalities
        not in the dict get 1; an unknown name raises).
    n_behavior : int, default=3
        Behavioural experts (used only when the behavioural modality is present).
    hidden_dim : int, default=256
        Hidden width of each modality's encoder and decoder MLP.
    latent_dim : int, default=64
        Width of the latent vectors the cosine codebooks quantise.
    alpha : float, default=10
        Slope of the alignment strength controller (Eq. 17),
        ``w = sigmoid(alpha * N_norm - beta)``.
    beta : float, default=9
        Offset of that controller: items with ``N_norm`` below ``beta / alpha`` get
        strength below 1/2.
    temperature : float, default=0.07
        InfoNCE tau (Eq. 18-20).
    target_sparsity : float, default=1/3
        ReMoE target fraction of zero behavioural gates (Eq. 23): about ``n_behavior *
        (1 - target_sparsity)`` behavioural experts active per item on average.
    lambda_growth : float, default=1.05
        ReMoE's adaptive coefficient (Eq. 23): after every training step
        ``lambda <- lambda * lambda_growth ** sign(target_sparsity - S)``, S the fraction
        of zero behavioural gates. ReMoE uses 1.2; on these small catalogues (a few
        hundred steps) 1.2 let lambda swing by orders of magnitude and its spikes wrecked
        the codes late in training (one MovieLens seed ended at 5.4 bits), 1.05 reaches
        the target sparsity smoothly.
    alignment_weight : float, default=0.1
        Weight of the alignment loss (Eq. 21) in the total loss.
    commitment_weight : float, default=0.25
        beta of the VQ commitment term ``||sg[c] - z||²`` (the codebook term has weight 1).
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
    reliability : {"auto", "norm", "log_count"}, default="auto"
        The per-item reliability signal behind N_norm (Eq. 15-16), which drives the
        alignment strength (Eq. 17) and the sigma(N_norm) factor of the gate (Eq. 22).
        ``"norm"``: the raw behavioural norm ``||e_b||`` (the paper). ``"log_count"``:
        ``log(1 + training interaction count)``, min-max normalised over the catalogue
        (needs counts: histories input, or ``fit(X, item_counts=...)``). ``"auto"``:
        ``"log_count"`` whenever counts are known, else ``"norm"``. The norm premise
        (popular items have larger norms) fails for SASRec on MovieLens-100k (Spearman
        -0.52 between norm and count), hence the default.
    gate_activation : {"tanh", "clamp", "relu"}, default="tanh"
        Bound of Eq. 22: ``R = sigma(N_norm) * tanh(relu(MLP(e_b) + b))`` (``"tanh"``),
        ``sigma(N_norm) * min(relu(.), 1)`` (``"clamp"``) or the unbounded
        ``sigma(N_norm) * relu(.)`` as printed (``"relu"``). Bounded scores lie in
        [0, 1] like the shared/content weights and keep the ReLU router's exact zeros
        (Eq. 23); the unbounded gate lets the behavioural codewords dominate the fused
        vectors of Eq. 10-11 and lowers their codebooks' entropy.
    collision_weight : float, default=1.0
        Soft code-collision term, **beyond the paper**: ``collision_weight`` times the
        expected number of in-batch items sharing an item's whole code tuple, computed
        from the soft assignments ``softmax(cos(z, c) / balance_temperature)`` of every
        code position (:meth:`ADCSIDModule.collision_loss`, training only). Shared and
        specific experts see overlapping inputs, so without it similar items (e.g. a
        film and its sequel) get identical tuples. The same weight scales a
        catalogue-level term (:meth:`ADCSIDModule.dedup_loss`): after every epoch, items
        whose tuple equals an earlier item's are pushed off that tuple (on a large
        catalogue colliding items rarely share a batch). ``0`` switches both off.
    rebalance : float, default=2.0
        Codeword rebalancing after every epoch, **beyond the paper**
        (:meth:`ADCSIDModule.rebalance_codebook`): each codeword used by fewer than
        ``N / (rebalance K)`` items is moved onto the worst-served latent of a codeword
        used by more than ``rebalance N / K`` items (splitting it). ``0`` switches it off
        (dead-code re-seeding stays on).
    max_epochs : int, default=100
        Training epochs of the quantiser (fixed: no early stopping).
    batch_size : int, default=256
        Items per training batch.
    lr : float, default=1e-3
        AdamW learning rate.
    {torch_training}
    **kwargs
        skorch-style ``module__*``, ``optimizer__*``, ``iterator_train__*`` parameters.

    Attributes
    ----------
    codes_ : ndarray (n_items, L) int64
    weights_ : ndarray (n_items, L) float32
    codebook_sizes_ : tuple of int
    code_layout_ : list of str
        Name of each code position (``"shared_0"``, ``"text_0"``, ``"collab_2"``, ...).
    collisions_ : ndarray of int
        Items whose tuple (without the disambiguating code) is shared with another item.
    collision_rate_, recon_loss_ : float
    raw_weights_ : ndarray (n_items, L) float32
        ``weights_`` with the unbounded Eq. 22 gate ``sigma(N_norm) * relu(MLP(e_b) + b)``
        at the behavioural positions (equal to ``weights_`` elsewhere).
    alignment_strength_ : ndarray (n_items,)
        Eq. 17 per training item (ones without behaviour or with the controller off).
    n_norm_ : ndarray (n_items,)
        Eq. 16 per training item (from ``reliability_``).
    reliability_ : {"norm", "log_count"}
        The reliability signal used (``reliability`` resolved).
    reliability_min_, reliability_max_ : float
        Eq. 15 over the catalogue: min/max of the raw norms or of ``log(1 + count)``.
    item_counts_ : ndarray (n_items,) or None
        Training interaction counts used (``item_counts`` or the histories' counts).
    norm_min_, norm_max_ : float
        Min/max of the raw behavioural norms (whatever ``reliability_``).
    scalers_, modality_dims_, net_, history_, n_items_, device_
    behavior_estimator_, item_popularity_, item_embeddings_ : histories input only

    Notes
    -----
    * **Reliability.** With ``reliability_ == "norm"`` Eq. 15-17 and 22 use the raw
      ``||e_b||``; with ``"log_count"`` they use ``log(1 + count)``. All-zero behavioural
      embeddings raise. If every value is equal (``N_max == N_min``) a warning is issued
      and ``N_norm = 1``, hence ``w = 1``, for every item. A single item with zero norm is
      allowed: it is the minimum, ``N_norm = 0`` (``w ~ 2e-4``). On ``transform``, new
      items' ``N_norm`` is clipped to [0, 1] with the fitted min/max; with counts, a
      feature input of ``n_items_`` rows is the training catalogue (fitted counts), other
      rows are cold items (count 0) unless ``transform(X, item_counts=...)`` is given.
    * **Cold items.** When counts are known (histories input, or ``fit(X,
      item_counts=...)``), an item with count 0 has no behaviour to trust: its behavioural
      embedding is replaced by zeros after standardisation (the warm items' mean) in every
      part of the network (projection ``h_b`` and so the shared experts, behavioural
      experts, gate, reconstruction target), its behavioural gates R are 0 and its
      alignment term is weighted 0. The paper's mechanism only shrinks it (with
      ``"log_count"``, ``N_norm = 0``: ``w = sigmoid(-beta) ~ 1e-4`` but the gate's
      ``sigma(N_norm) = 1/2``, and the experts read the untrained row; on MovieLens-100k
      every cold item's codes changed when its row was redrawn, behavioural weights up to
      .48). So a cold item's codes are: shared and content codes from its content alone,
      behavioural codes those of the mean embedding (the same for every cold item);
      weights: 1 (shared), the softmax content gate (content), 0 (behaviour). The
      behavioural scaler (and, with ``reliability="norm"``, Eq. 15's min/max) are fitted on
      the warm items, so a cold row changes no code, weight or training step of any item:
      redrawing it gives the same fit. ``transform`` treats new rows as cold (count 0)
      unless ``item_counts`` says otherwise. Without counts every item is warm.
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

    _parameter_constraints: dict = {
        **TorchTokenizer._parameter_constraints,
        "n_shared": [NON_NEGATIVE_INT],
        "n_content_experts": [NON_NEGATIVE_INT, dict],
        "n_behavior": [NON_NEGATIVE_INT],
        "hidden_dim": [POSITIVE_INT],
        "latent_dim": [POSITIVE_INT],
        "alpha": [StrictInterval(Real, None, None, closed="neither")],
        "beta": [StrictInterval(Real, None, None, closed="neither")],
        "temperature": [POSITIVE_REAL],
        "target_sparsity": [UNIT_INTERVAL_LEFT],
        "lambda_growth": [StrictInterval(Real, 1, None, closed="neither")],
        "alignment_weight": [NON_NEGATIVE_REAL],
        "commitment_weight": [NON_NEGATIVE_REAL],
        "balance_weight": [NON_NEGATIVE_REAL],
        "balance_temperature": [POSITIVE_REAL],
        "use_alignment": ["boolean"],
        "use_strength_controller": ["boolean"],
        "use_behavior_gate": ["boolean"],
        "use_sparsity_reg": ["boolean"],
        "reliability": [StrOptions(set(RELIABILITIES))],
        "gate_activation": [StrOptions(set(GATE_ACTIVATIONS))],
        "collision_weight": [NON_NEGATIVE_REAL],
        # 0 (off) or a ratio > 1
        "rebalance": [StrictInterval(Real, 1, None, closed="neither"), Options(Real, {0})],
    }

    def __init__(self, codebook_size=100, n_shared=1, n_content_experts=1, n_behavior=3,
                 hidden_dim=256, latent_dim=64, alpha=10.0, beta=9.0, temperature=0.07,
                 target_sparsity=1.0 / 3.0, lambda_growth=1.05, alignment_weight=0.1, commitment_weight=0.25,
                 balance_weight=0.3, balance_temperature=0.03, use_alignment=True,
                 use_strength_controller=True, use_behavior_gate=True, use_sparsity_reg=True,
                 reliability="auto", gate_activation="tanh", collision_weight=1.0, rebalance=2.0,
                 max_epochs=100, batch_size=256,
                 lr=1e-3,
                 weight_decay=0.01, patience=None, max_time=None, lr_schedule="constant", ema_decay=None,
                 compile="auto", checkpoint_dir=None, callbacks=None, device="auto",
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
        self.lambda_growth = lambda_growth
        self.alignment_weight = alignment_weight
        self.commitment_weight = commitment_weight
        self.balance_weight = balance_weight
        self.balance_temperature = balance_temperature
        self.use_alignment = use_alignment
        self.use_strength_controller = use_strength_controller
        self.use_behavior_gate = use_behavior_gate
        self.use_sparsity_reg = use_sparsity_reg
        self.reliability = reliability
        self.gate_activation = gate_activation
        self.collision_weight = collision_weight
        self.rebalance = rebalance
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

    # ---- checks ----------------------------------------------------------------------
    def _check_modalities(self, raw):
        self._content_experts(raw)

    def _content_experts(self, raw):
        """{content modality: number of its experts}, validated against the modalities of
        ``raw``."""
        b = self.behavior_modality
        content = [m for m in raw if m != b]
        nce = self.n_content_experts
        if isinstance(nce, dict):  # an int is validated by fit (_parameter_constraints)
            unknown = [m for m in nce if m not in content]
            if unknown:
                raise ValueError(f"n_content_experts names unknown content modality(ies) {unknown}; "
                                 f"content modalities are {content}")
            per = {m: nce.get(m, 1) for m in content}
            for m, v in per.items():
                if not NON_NEGATIVE_INT.is_satisfied_by(v):
                    raise ValueError(f"n_content_experts for {m!r} must be an int >= 0, got {v!r}")
        else:
            per = {m: nce for m in content}
        n_content = {m: int(v) for m, v in per.items()}
        L = int(self.n_shared) + sum(n_content.values()) + (int(self.n_behavior) if b in raw else 0)
        if L < 1:
            raise ValueError("the code length n_shared + content experts + n_behavior is 0")
        if b in raw:
            norms = np.linalg.norm(raw[b].astype(np.float64), axis=1)
            if not np.any(norms > 0):
                raise ValueError(f"every behavioural embedding ({b!r}) has zero norm; the "
                                 "alignment strength (Eq. 15-17) needs informative norms")
        return n_content

    # ---- fit -------------------------------------------------------------------------
    def fit(self, X, y=None, item_features=None, item_counts=None, resume=False):
        """Learn the experts, gates and codebooks.

        Parameters
        ----------
        X : dict, DataFrame, 2-D array, list of item-id histories or interaction frame
            See :class:`~sksid.tokenizers.BaseTokenizer` for the input forms.
        y : array-like of int, optional
            Next item of each history (histories only).
        item_features : dict of str to array, optional
            Content features of the catalogue (histories only).
        item_counts : array-like of shape (n_items,), optional
            Training interaction count of every item (>= 0). Used by
            ``reliability="log_count"``/``"auto"``; on histories input it overrides the
            counts of ``(X, y)``.
        resume : bool, default=False
            Continue an interrupted fit from the latest checkpoint in ``checkpoint_dir``
            (same data and parameters; ``max_epochs``, ``max_time`` and ``verbose`` may
            change). On histories input the behaviour model is fitted again first (same
            seed, same model).

        Returns
        -------
        self
        """
        self._fit(X, y, item_features, resume, item_counts=item_counts)
        if self.disambiguate:  # the extra code's weight is 1, as in weights_
            self.raw_weights_ = np.concatenate(
                [self.raw_weights_, np.ones((len(self.raw_weights_), 1), np.float32)], 1)
        return self

    def fit_transform(self, X, y=None, item_features=None, item_counts=None):
        """``fit(X, y, item_features, item_counts)`` then ``transform(X)``."""
        return self.fit(X, y, item_features=item_features, item_counts=item_counts).transform(X)

    def transform(self, X, item_counts=None):
        """Codes and weights of items (feature input), or histories with the fitted codes.

        Parameters
        ----------
        X : dict, DataFrame, 2-D array, list of item-id histories or interaction frame
        item_counts : array-like of shape (n_rows,), optional
            Interaction counts of the rows of ``X`` (``reliability_ == "log_count"``
            only). By default a feature input with ``n_items_`` rows is taken to be the
            training catalogue (fitted counts); other row counts are treated as new,
            cold items (count 0).

        Returns
        -------
        (codes, weights) or SIDSequences
            As :meth:`BaseTokenizer.transform`.
        """
        return self._transform(X, item_counts=item_counts)

    def _canonical(self, names):
        """Content modalities sorted by name, then the behavioural modality."""
        b = self.behavior_modality
        return sorted(m for m in names if m != b) + ([b] if b in names else [])

    def _fit_features(self, std, raw, seed, resume, item_counts=None):
        b = self.behavior_modality
        counts = self._fit_reliability(raw, item_counts)
        std = self._warm_scaler(std, raw, counts)
        data = self._data(std, raw, counts)
        self.alignment_strength_ = data["w"].copy()
        self.n_norm_ = data["n_norm"].copy()
        dims = {m: std[m].shape[1] for m in self._canonical(std)}
        module_kwargs = dict(
            modality_dims=dims, behavior_modality=b, codebook_size=int(self.codebook_size),
            n_shared=int(self.n_shared), n_content_experts=self._content_experts(raw),
            n_behavior=int(self.n_behavior), hidden_dim=int(self.hidden_dim),
            latent_dim=int(self.latent_dim), temperature=float(self.temperature),
            alignment_weight=float(self.alignment_weight), commitment_weight=float(self.commitment_weight),
            use_alignment=bool(self.use_alignment), use_behavior_gate=bool(self.use_behavior_gate),
            use_sparsity_reg=bool(self.use_sparsity_reg), target_sparsity=float(self.target_sparsity),
            lambda_growth=float(self.lambda_growth),
            balance_weight=float(self.balance_weight),
            balance_temperature=float(self.balance_temperature),
            gate_activation=self.gate_activation, collision_weight=float(self.collision_weight),
            rebalance=float(self.rebalance))
        self._train_module(ADCSIDModule, module_kwargs, data, seed, resume)
        mod = self.net_.module_
        mod.__dict__.pop("_dedup_targets", None)  # training-time state only
        layout = [f"shared_{i}" for i in range(mod.n_shared)]
        for m, k in mod.n_specific.items():
            layout += [f"{m}_{i}" for i in range(k)]
        self.code_layout_ = layout
        return std

    def _encode_fitted(self, std, raw, state):
        """The training catalogue's codes with the fitted counts; keeps the gate's raw
        weights (``raw_weights_``). ``state`` is the standardised input ``_fit_features``
        trained on (its behavioural scaler fitted on the warm items)."""
        std = state if state is not None else std
        counts = self._row_counts(raw, item_counts=self.item_counts_)
        out, recon = self._run_module(self._data(std, raw, counts), keys=("codes", "weights", "raw_weights"))
        self.raw_weights_ = np.clip(out["raw_weights"], 0.0, None).astype(np.float32)
        return out["codes"], np.clip(out["weights"], 0.0, None), recon

    def _encode(self, std, raw, rows=None, n_rows=None, item_counts=None):
        """Codes of the rows ``rows`` of an input of ``n_rows`` rows; ``item_counts`` are the
        whole input's counts (see :meth:`_row_counts`)."""
        counts = self._row_counts(raw, rows, n_rows, item_counts)
        out, recon = self._run_module(self._data(std, raw, counts), keys=("codes", "weights"))
        return out["codes"], np.clip(out["weights"], 0.0, None), recon

    def _code_length(self):
        return self.net_.module_.code_length

    def _behavior_positions(self):
        check_is_fitted(self, "code_layout_")
        pre = self.behavior_modality + "_"
        return np.array([i for i, n in enumerate(self.code_layout_) if n.startswith(pre)
                         and n[len(pre):].isdigit()], dtype=np.int64)
