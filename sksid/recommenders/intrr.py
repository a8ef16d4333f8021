"""IntRR (SID redistribution + length reduction) as a scikit-learn estimator."""
from __future__ import annotations

from numbers import Real

import numpy as np
import torch
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from .._validation import NON_NEGATIVE_REAL, POSITIVE_REAL, StrictInterval, check_sequences
from ..nn.intrr import IntRRModule
from ..nn.ran import CONDITIONINGS, MODES
from ..training.net import eval_mode
from ._fusion import fusion_search
from ._sid import SIDRecommenderBase, sid_docstring

__all__ = ["IntRRRecommender"]


@sid_docstring
class IntRRRecommender(SIDRecommenderBase):
    """Generative recommender over Semantic IDs with one token per item (IntRR).

    Every history item enters a causal transformer as a single token ``Σ_l c_l`` built
    by the Recursive Assignment Network (RAN) from the item's UID embedding and learned
    per-level codebooks (plus the item's UID anchor ``e_i`` with ``uid_in_token=True``,
    the default); the next item's SID is decoded level by level from the last state
    ``h_u`` (level 1: ``h_u C_1ᵀ``; level l: ``MLP_l([C_{l-1}[y_{l-1}]; h_u]) C_lᵀ``)
    and ranked by constrained beam search over the catalogue's SIDs. Trained with
    ``L = L_rec + λ·L_aln`` (see ``docs/recommenders.md``).

    Codes come from the :class:`~sksid.sequences.SIDSequences` a tokenizer passes in a
    Pipeline, or ``fit(X, y, codes=..., weights=...)``. Items sharing a code tuple get
    an extra disambiguating level (TIGER's rule).

    Parameters
    ----------
    {backbone}
    dropout : float, default=0.15
        Dropout on token embeddings, attention and feed-forward outputs.
    max_len : int, default=20
        History length in items (= tokens); longer histories keep the most recent items.
    {layout}
    alignment_weight : float, default=0.1
        λ of the alignment loss ``L_aln = Σ_l CE(q_l C_lᵀ, s_l)``; 0 disables it.
    input_mode : {"redistribution", "teacher_forcing"}, default="redistribution"
        RAN input side: condition level l on the RAN's own level l-1 codeword
        (redistribution, the reference) or on the ground-truth SID codeword.
    output_mode : {"teacher_forcing", "redistribution"}, default="teacher_forcing"
        Output side in training: condition level l on the target's level l-1 code, or
        on the model's own argmax. Inference always conditions on the beam's codes.
    tau : float, default=1.0
        Temperature of the RAN assignment softmax.
    uid_in_token : bool, default=True
        Add the item's UID anchor ``e_i`` to its history token (``Σ_l c_l + e_i``, beyond
        the paper, where the anchor only steers the RAN's assignment; False is the paper's
        token). With the UID head on it measures higher on MovieLens-100k (.0615 vs .0571
        NDCG@10) and on Amazon Beauty (.0422 vs .0399) over 3 seeds each
        (``docs/recommenders.md``).
    uid_weight : float, default=1.0
        μ of the UID head (beyond the paper, where UIDs only anchor the input side): the
        user state also scores every item by its UID anchor, ``p_uid(i) ∝ exp(h_u · e_i /
        τ)``; training adds ``μ · CE(p_uid, target)`` and decoding ranks by
        ``Σ_l log p_l + μ · log p_uid(i)`` (with ``decoding="exact"`` over every item,
        with the beam over the items whose prefixes survive). 0 disables it (the paper's
        IntRR). On by default: measured higher on Amazon Beauty and, on the mean of 3
        seeds, on MovieLens-100k (``docs/recommenders.md``).
    fusion : {"fixed", "validation"}, default="fixed"
        How decoding weighs the UID head against the code levels and how much it penalises
        popular items. ``"fixed"``: ``uid_weight`` and ``popularity_penalty`` as given.
        ``"validation"``: after training, both are chosen on the early-stopping validation
        set (an ``eval_set``, or the held-out ``validation_fraction``) by exact scoring:
        the UID weight among ``uid_weight`` × (0, 0.5, 1, 2) and the penalty among
        (0, 0.05, 0.1, 0.2, 0.3, 0.5), the pair of highest validation NDCG@10 (ties: the
        smallest change). Read them in ``decoding_weights_``.
    popularity_penalty : float, default=0.0
        β of a popularity-debiased decoding: every item's score loses ``β · log(1 + c_i)``,
        ``c_i`` its training interactions (``item_popularity_``), in exact and beam decoding
        alike (not in early stopping's validation). With ``fusion="validation"`` the value
        chosen on the validation set replaces it.
    cold_uid : {"prefix_mean", "drop", "uid"}, default="prefix_mean"
        The UID head's term of an item with no training interaction
        (``item_popularity_ == 0``: a cold item, whose UID embedding the head only ever
        pushed down as a negative): ``"prefix_mean"`` replaces its ``log p_uid(i)`` by the
        mean ``log p_uid`` of the warm items sharing its longest code prefix that any warm
        item has (at most every level but the last of the tokenizer's codes; all warm
        items when none shares even the first code), so it is scored as its warm
        code-neighbours are; ``"drop"`` sets it to 0; ``"uid"`` keeps the untrained term.
        Warm items' scores are the same under all three; read at predict time (and by
        early stopping's validation), beam and exact decoding alike. On the
        MovieLens-100k cold split (3 seeds) ``"prefix_mean"`` and ``"uid"`` give the same
        NDCG@10 (.0559 overall, 0 on cold targets: the level terms do not rank cold items
        high either), ``"drop"`` .0454 overall and .0241 on cold targets (cold items
        flood every list); see "Cold items" in ``docs/recommenders.md``.
    anchor_init : {"random", "behavior"}, default="random"
        Initial UID embeddings of the RAN: random (the paper), or the behaviour model's
        item table that a tokenizer passes down a Pipeline (``SIDSequences.item_embeddings``,
        e.g. ADC-SID's SASRec), projected to ``d_model`` by a seeded random orthonormal
        map when the widths differ and scaled to the random initialisation's std (0.02).
        ``"behavior"`` without such a table raises.
    conditioning : {"prefix", "previous"}, default="prefix"
        What the RAN's level-l MLP sees (input and output side): the sum of the codewords
        of all previous levels (the whole prefix), or only the previous level's codeword
        (the authors' reference).
    {sid_options}
    decoding : {"auto", "beam", "exact"}, default="auto"
        ``"exact"`` ranks every catalogue item by the sum of its level log-probabilities
        (an exhaustive search over the trie); ``"beam"`` keeps ``beam_width`` prefixes per
        level; ``"auto"`` is exact when the widest trie level has at most 4,096 prefixes,
        or, with the UID head on (``uid_weight > 0``, whose softmax scores every item
        anyway), when the catalogue has at most 65,536 items; the beam otherwise.
        Early stopping always validates with the beam.
    beam_width : int, default=20
        Beams kept per level; must be >= ``top_k``.
    top_k : int, default=10
        Items returned per history by ``predict``.
    max_epochs : int, default=100
        Epoch cap; early stopping usually ends the fit sooner.
    lr : float, default=2e-3
        AdamW learning rate. 2e-3 (measured on MovieLens-100k seed 0: NDCG@10 .0621 in 44
        epochs vs .0597 in 73 at 1e-3; see ``docs/recommenders.md``).
    patience : int, default=15
        Early stopping on validation NDCG@10 (beam search, whatever ``decoding``): epochs
        without improvement before the fit stops (the best epoch's weights are restored).
        15 (10 before): on Amazon Beauty 10 ended a fit whose validation NDCG was still
        creeping up (test .0387 vs .0403 trained on); on MovieLens-100k 15 stops at the same
        best epoch as 10 on 3 seeds (see ``docs/recommenders.md``).
    {training}
    n_items : int or None, default=None
        Catalogue size; the codes define it (one row per item), so a value that differs
        from their row count raises. None: taken from the codes.
    {exclude_seen}
    **kwargs
        skorch-style ``module__*``, ``optimizer__*``, ``iterator_train__*``, ``callbacks__*``.

    Attributes
    ----------
    net_ : sksid.training.SIDNet (``net_.module_`` is a :class:`~sksid.nn.intrr.IntRRModule`)
    codes_, weights_, codebook_sizes_
        The disambiguated SIDs used by the model (``weights_``: the per-level loss weights).
    importance_weights_ : ndarray
        The tokenizer's weights, in generation order.
    code_length_ : int, SID length as given at fit
    backbone_ : dict
        The backbone sizes that ran.
    backbone_size_ : {"reference", "small"}
    n_colliding_items_ : int
    decoding_weights_ : dict or None
        With ``fusion="validation"``: the ``{"uid_weight": μ, "popularity_penalty": β}``
        chosen, which decoding uses; None with ``"fixed"`` (decoding reads the parameters,
        so ``set_params(popularity_penalty=...)`` on a fitted model takes effect).
    fusion_scores_ : list of dict or None
        With ``fusion="validation"``: ``{"uid_weight", "popularity_penalty", "ndcg"}`` of every
        pair tried (validation NDCG@10).
    n_items_, n_epochs_, history_, item_popularity_, popular_items_, device_

    Notes
    -----
    Empty histories are answered with the training popularity ranking; unknown item ids
    raise; codes at predict must have the shape seen at fit.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> X = [rng.randint(0, 30, size=8) for _ in range(40)]
    >>> y = rng.randint(0, 30, size=40)
    >>> codes = np.stack([np.arange(30) % 4, np.arange(30) // 4 % 4, np.arange(30) // 16], 1)
    >>> rec = IntRRRecommender(d_model=16, n_layers=1, n_heads=2, head_dim=8, d_ff=32,
    ...                        max_epochs=2, device="cpu", random_state=0)
    >>> rec.fit(X, y, codes=codes).predict(X[:3]).shape
    (3, 10)
    """

    _module_class = IntRRModule
    _parameter_constraints: dict = {
        **SIDRecommenderBase._parameter_constraints,
        "alignment_weight": [NON_NEGATIVE_REAL],
        "input_mode": [StrOptions(set(MODES))],
        "output_mode": [StrOptions(set(MODES))],
        "tau": [POSITIVE_REAL],
        "uid_in_token": ["boolean"],
        "uid_weight": [StrictInterval(Real, 0, None, closed="left")],
        "conditioning": [StrOptions(set(CONDITIONINGS))],
        "anchor_init": [StrOptions({"random", "behavior"})],
        "fusion": [StrOptions({"fixed", "validation"})],
        "popularity_penalty": [NON_NEGATIVE_REAL],
        "cold_uid": [StrOptions({"prefix_mean", "drop", "uid"})],
    }
    #: ``fusion="validation"``: multiples of ``uid_weight`` and penalties tried
    _fusion_uid_scales = (0.0, 0.5, 1.0, 2.0)
    _fusion_penalties = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)

    def __init__(self, d_model=None, n_layers=None, n_heads=None, head_dim=None, d_ff=None, backbone_size="auto",
                 dropout=0.15,
                 max_len=20, norm_first=True, init_std=None, alignment_weight=0.1, input_mode="redistribution",
                 output_mode="teacher_forcing", tau=1.0, uid_in_token=True, uid_weight=1.0, cold_uid="prefix_mean", fusion="fixed",
                 popularity_penalty=0.0,
                 anchor_init="random", conditioning="prefix", code_weights=True, code_weight_floor=0.5, code_order="given",
                 leaf=True, constrained=True, decoding="auto", beam_width=20,
                 top_k=10, max_epochs=100, max_time=None, batch_size=256, lr=2e-3, weight_decay=0.0, lr_schedule="constant", ema_decay=None, patience=15,
                 validation_fraction=0.1, device="auto", random_state=None, verbose=0,
                 compile="auto", checkpoint_dir=None, callbacks=None, n_items=None, exclude_seen=False, **kwargs):
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.head_dim = head_dim
        self.d_ff = d_ff
        self.backbone_size = backbone_size
        self.dropout = dropout
        self.max_len = max_len
        self.norm_first = norm_first
        self.init_std = init_std
        self.alignment_weight = alignment_weight
        self.input_mode = input_mode
        self.output_mode = output_mode
        self.tau = tau
        self.conditioning = conditioning
        self.uid_in_token = uid_in_token
        self.uid_weight = uid_weight
        self.fusion = fusion
        self.popularity_penalty = popularity_penalty
        self.cold_uid = cold_uid
        self.anchor_init = anchor_init
        self.code_weights = code_weights
        self.code_weight_floor = code_weight_floor
        self.code_order = code_order
        self.leaf = leaf
        self.constrained = constrained
        self.decoding = decoding
        self.beam_width = beam_width
        self.top_k = top_k
        self.max_epochs = max_epochs
        self.max_time = max_time
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.ema_decay = ema_decay
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.compile = compile
        self.checkpoint_dir = checkpoint_dir
        self.callbacks = callbacks
        self.n_items = n_items
        self.exclude_seen = exclude_seen
        self._store_prefixed(kwargs)

    def _sid_module_kwargs(self, item_table, seed):
        return dict(**self._backbone(), dropout=self.dropout,
                    max_len=self.max_len, alignment_weight=self.alignment_weight,
                    input_mode=self.input_mode, output_mode=self.output_mode, tau=self.tau,
                    conditioning=self.conditioning, uid_in_token=bool(self.uid_in_token),
                    uid_weight=float(self.uid_weight), uid_init=self._uid_init(item_table, seed),
                    use_code_weights=self.code_weights,
                    leaf=bool(self.leaf) and self.codes_.shape[1] > self.code_length_,
                    constrained=bool(self.constrained))

    # exact decoding scores every item over the trie (IntRRModule.exact_scores), not by a
    # beam as wide as the trie; memory O(users · n_items + budget) floats per batch
    _exact_budget = 1 << 22
    # with the UID head on, decoding="auto" is exact up to this many items: the head's
    # softmax already scores every item, and the beam would add its bonus only to the
    # items whose prefixes survive (Beauty, 12,101 items: +.0005 test NDCG@10 on 2 seeds)
    _exact_auto_max_items_uid = 1 << 16

    def _decodes_exactly(self, module):
        if (self.decoding == "auto" and module.uid_weight > 0
                and module.n_items <= self._exact_auto_max_items_uid):
            return True
        return super()._decodes_exactly(module)

    def _fit_popularity(self, X, y, n_items):
        super()._fit_popularity(X, y, n_items)
        self.item_prefix_groups_ = _prefix_groups(self.codes_, self.code_length_)

    def _set_cold_items(self, module):
        """Hand the cold items (``item_popularity_ == 0``) and ``cold_uid`` to the module
        (once per setting)."""
        key = (self.cold_uid, module.uid_weight > 0, str(module.sid.device))
        if getattr(module, "_cold_uid_key", None) != key:
            groups = getattr(self, "item_prefix_groups_", None)  # absent from models fitted before it
            if groups is None:
                groups = _prefix_groups(self.codes_, self.code_length_)
            module.set_cold_items(self.item_popularity_ == 0, groups,
                                  self.cold_uid if module.uid_weight > 0 else "uid")
            module._cold_uid_key = key

    def _rank_scores(self, module, items, lengths, k, validation=False):
        self._set_cold_items(module)
        if validation:  # early stopping scores as training does
            return super()._rank_scores(module, items, lengths, k, validation)
        kw = self._decoding_kwargs(module, items.device)
        if self._decodes_exactly(module):
            return module.rank_exact(items, lengths, k, self._exact_budget, **kw)
        return module.rank(items, lengths, k, self._search_width(module, k), **kw)

    def _decoding_kwargs(self, module, device):
        """``uid_scale`` / ``item_offset`` of the module's decoding: ``decoding_weights_``
        with ``fusion="validation"``, else the parameters."""
        w = getattr(self, "decoding_weights_", None) if self.fusion == "validation" else None
        w = w or {"uid_weight": float(self.uid_weight), "popularity_penalty": float(self.popularity_penalty)}
        mu, beta = w["uid_weight"], w["popularity_penalty"]
        scale = mu / module.uid_weight if module.uid_weight > 0 else 0.0
        offset = None
        if beta:
            offset = torch.as_tensor(-beta * np.log1p(self.item_popularity_), dtype=torch.float32, device=device)
        return dict(uid_scale=scale, item_offset=offset)

    def _after_training(self, valid):
        self.decoding_weights_ = self.fusion_scores_ = None
        if self.fusion == "fixed":
            return
        if not valid:
            raise ValueError("fusion='validation' chooses the decoding weights on validation data: give "
                             "fit(..., eval_set=(X_valid, y_valid)) or validation_fraction > 0")
        self._set_cold_items(self.net_.module_)
        self.fusion_scores_ = fusion_search(self, valid)
        best = max(r["ndcg"] for r in self.fusion_scores_)
        # ties: the pair closest to the fixed weights (the smallest change)
        pick = min((r for r in self.fusion_scores_ if r["ndcg"] >= best - 1e-12),
                   key=lambda r: (abs(r["uid_weight"] - self.uid_weight), r["popularity_penalty"]))
        self.decoding_weights_ = {"uid_weight": pick["uid_weight"], "popularity_penalty": pick["popularity_penalty"]}

    def _inference_batch_size(self, module, k, validation=False):
        if not validation and self._decodes_exactly(module):
            return int(max(1, min(max(self.batch_size, 256), self._exact_budget // module.n_items)))
        return super()._inference_batch_size(module, k, validation)

    def _uid_init(self, table, seed):
        """Initial UID table (n_items, d_model) for ``anchor_init="behavior"`` from the
        behaviour model's item ``table`` (a map to ``d_model`` drawn from ``seed``), else None."""
        if self.anchor_init == "random":
            return None
        if table is None:
            raise ValueError("anchor_init='behavior' needs the behaviour model's item table: fit "
                             "through a tokenizer that learns one (e.g. Pipeline([('tok', "
                             "ADCSIDTokenizer()), ('rec', IntRRRecommender(anchor_init='behavior'))]))")
        table = np.asarray(table, dtype=np.float64)
        if table.shape[0] != self.n_items_:
            raise ValueError(f"the item table has {table.shape[0]} rows for {self.n_items_} items")
        d, d_b = self.backbone_["d_model"], table.shape[1]
        if d_b != d:  # a seeded random orthonormal map (d_b, d) to d_model
            rng = np.random.RandomState(seed)
            q, _ = np.linalg.qr(rng.standard_normal((max(d, d_b), min(d, d_b))))
            table = table @ (q if d_b > d else q.T)
        table = table - table.mean(0)
        std = table.std()
        if not std > 0:
            raise ValueError("the item table is constant; it cannot initialise the UID anchors")
        return (0.02 * table / std).astype(np.float32)

    @property
    def tokens_per_item_(self) -> int:
        return 1

    def redistribution(self, items=None):
        """Level-wise assignment distributions ``p_l`` of the RAN input side.

        Two items with the same SID get different distributions once the RAN has
        learned from their collaborative (UID) anchors (the paper's Figure 3).

        Parameters
        ----------
        items : array-like of int, optional
            Item ids (default: the whole catalogue).

        Returns
        -------
        list of ndarray
            One (n, K_l) array of probabilities per level (including the
            disambiguation level, if any).
        """
        check_is_fitted(self, "net_")
        if items is None:
            items = np.arange(self.n_items_)
        items = check_sequences([np.asarray(items)], n_items=self.n_items_, name="items")[0]
        with eval_mode(self.net_.module_) as module, torch.no_grad():
            probs = module.redistribution(torch.as_tensor(items, device=self.device_))
        return [p.cpu().numpy() for p in probs]


def _prefix_groups(codes, code_length):
    """(n_items, D) group ids of every item's code prefixes of length 1 .. code_length - 1
    (the tokenizer's codes, every level but the last; one column of zeros for 1-level codes)."""
    groups = [np.unique(codes[:, : d + 1], axis=0, return_inverse=True)[1].ravel()
              for d in range(code_length - 1)]
    return np.stack(groups, 1).astype(np.int64) if groups else np.zeros((codes.shape[0], 1), np.int64)
