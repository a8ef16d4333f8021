"""TIGER-style flattened generative recommender (the baseline IntRR is compared with)."""
from __future__ import annotations

from ..nn.tiger import TIGERModule
from ._sid import SIDRecommenderBase, sid_docstring

__all__ = ["TIGERRecommender"]


@sid_docstring
class TIGERRecommender(SIDRecommenderBase):
    """Flattened Semantic-ID generation: ``L`` tokens per history item.

    Each history item enters the causal transformer as its ``L`` code tokens (token
    embedding per (level, code) + level embedding); the next item's codes are generated
    one by one (teacher forcing in training) and ranked by the same constrained beam
    search as :class:`~sksid.recommenders.IntRRRecommender`.

    TIGER proper (Rajput et al., 2023) is an encoder-decoder model; this is the
    **decoder-only flattened** variant ("TIGER-style flattened generation", see ``docs/recommenders.md``),
    sharing IntRR's backbone, training loop, trie and beam search so that the two differ
    only in how an item is tokenised and decoded. Inference prefills the ``L x`` longer
    history once and decodes incrementally with a key/value cache (one backbone step per
    beam and level).

    Parameters
    ----------
    {backbone}
    dropout : float, default=0.15
        Dropout on token embeddings, attention and feed-forward outputs.
    max_len : int, default=20
        History length in items (``max_len * L`` tokens).
    {layout}
    {sid_options}
    decoding : {"auto", "beam", "exact"}, default="auto"
        ``"exact"`` ranks every catalogue item by the sum of its level log-probabilities
        (an exhaustive search over the trie, which for TIGER runs the transformer once
        per prefix: costly); ``"beam"`` keeps ``beam_width`` prefixes per level;
        ``"auto"`` is the beam for TIGER. Early stopping always validates with the beam.
    beam_width : int, default=20
        Must be >= ``top_k``.
    top_k : int, default=10
        Items returned per history by ``predict``.
    max_epochs : int, default=100
        Epoch cap; early stopping usually ends the fit sooner.
    lr : float, default=1e-3
        AdamW learning rate.
    patience : int, default=15
        Early stopping on validation NDCG@10 (beam search), epochs without improvement;
        the same rule as :class:`~sksid.IntRRRecommender` (10 before).
    {training}
    n_items : int or None, default=None
        Catalogue size; the codes define it (one row per item), so a value that differs
        from their row count raises. None: taken from the codes.
    {exclude_seen}
    **kwargs
        skorch-style ``module__*``, ``optimizer__*``, ``iterator_train__*``, ``callbacks__*``.

    Attributes
    ----------
    net_ : sksid.training.SIDNet (``net_.module_`` is a :class:`~sksid.nn.tiger.TIGERModule`)
    codes_, weights_, codebook_sizes_, code_length_, n_colliding_items_
        The SIDs used by the model (``weights_``: the per-level loss weights).
    importance_weights_ : ndarray
        The tokenizer's weights.
    backbone_ : dict
        The backbone sizes that ran.
    backbone_size_ : {"reference", "small"}
    n_items_, n_epochs_, history_, item_popularity_, popular_items_, device_

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> X = [rng.randint(0, 30, size=8) for _ in range(40)]
    >>> y = rng.randint(0, 30, size=40)
    >>> codes = np.stack([np.arange(30) % 4, np.arange(30) // 4 % 4, np.arange(30) // 16], 1)
    >>> rec = TIGERRecommender(d_model=16, n_layers=1, n_heads=2, head_dim=8, d_ff=32,
    ...                        max_epochs=2, device="cpu", random_state=0)
    >>> rec.fit(X, y, codes=codes).predict(X[:3]).shape
    (3, 10)
    """

    _module_class = TIGERModule
    # exact decoding runs the transformer once per trie prefix: "auto" keeps the beam
    _exact_auto_max_prefixes = 0

    def __init__(self, d_model=None, n_layers=None, n_heads=None, head_dim=None, d_ff=None, backbone_size="auto",
                 dropout=0.15,
                 max_len=20, norm_first=True, init_std=None, code_weights=True, code_weight_floor=0.5, code_order="given",
                 leaf=True, constrained=True, decoding="auto", beam_width=20, top_k=10, max_epochs=100, max_time=None,
                 batch_size=256, lr=1e-3, weight_decay=0.0, lr_schedule="constant", ema_decay=None, patience=15, validation_fraction=0.1,
                 device="auto", random_state=None, verbose=0, compile="auto", checkpoint_dir=None, callbacks=None, n_items=None, exclude_seen=False, **kwargs):
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
                    max_len=self.max_len, use_code_weights=self.code_weights,
                    leaf=bool(self.leaf) and self.codes_.shape[1] > self.code_length_,
                    constrained=bool(self.constrained))

    @property
    def tokens_per_item_(self) -> int:
        """Backbone tokens per history item: the (disambiguated) code length."""
        return int(self.codes_.shape[1])
