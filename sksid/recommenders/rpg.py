"""RPG (long Semantic IDs predicted in parallel) as a scikit-learn estimator."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from .._validation import LAYOUT_CONSTRAINTS, NON_NEGATIVE_INT, POSITIVE_INT, POSITIVE_REAL
from ..base import fill_docstring
from ..nn.rpg import RPGModule
from ..training.net import eval_mode
from ._sid import LAYOUT_DOC, check_codes_at_predict, read_codes
from ._torch import RECOMMENDER_DOC, TorchSequentialRecommender

__all__ = ["RPGRecommender"]


@fill_docstring(blocks={**RECOMMENDER_DOC, "layout": LAYOUT_DOC})
class RPGRecommender(TorchSequentialRecommender):
    """Generative recommender over long, unordered Semantic IDs decoded in parallel (RPG).

    Hou et al., KDD'25, "Generating Long Semantic IDs in Parallel for Recommendation".
    Every item is a Semantic ID of ``m`` sub-codes (16 to 64 in the paper: OPQ, e.g.
    ``OPQTokenizer(codebook_size=256, n_levels=32)``). A history item enters a causal
    transformer as the mean of its ``m`` sub-code embeddings; from each hidden state, ``m``
    residual heads (one per position, the identity at initialisation) predict the next
    item's ``m`` sub-codes in parallel, as the cosine between the head's output and the
    position's sub-code embeddings (the input table, tied) divided by ``temperature``.
    The loss is the mean cross-entropy over the ``m`` positions, at every position of the
    causal row. An item's score is the sum of its sub-codes' log-probabilities; decoding
    ranks every item by it (``decoding="exact"``) or searches an item graph
    (``decoding="graph"``). No trie and no disambiguation: items sharing a code tuple
    share a score. See :mod:`sksid.nn.rpg`.

    Codes come from the :class:`~sksid.sequences.SIDSequences` a tokenizer passes in a
    Pipeline, or ``fit(X, y, codes=...)``; the tokenizer's importance weights are not
    used (every position weighs the same, as in the paper).

    Settings of the paper (the authors' code, Amazon Beauty) that are not the defaults:
    ``d_model=448, n_layers=2, n_heads=4, d_ff=1024`` with dropout .5 on embeddings and
    attention and none on the residual branches (one ``dropout`` here), ``max_len=50``,
    ``lr=0.01`` with a cosine schedule after 10,000 warm-up steps (not in the shared flow:
    pass ``callbacks=[("sched", skorch.callbacks.LRScheduler(...))]``), gradient clipping
    at 1, ``patience=20``, GPT-2's N(0, .02) initialisation (``init_std=0.02``), and the
    graph search with ``beam_width=20, graph_neighbors=200`` (their defaults, used here,
    are 50, 50, 3 steps).

    Parameters
    ----------
    d_model : int, default=64
        Sub-code embedding and hidden width.
    n_layers : int, default=2
        Transformer blocks.
    n_heads : int, default=2
        Attention heads (``d_model`` must be divisible by it).
    d_ff : int, default=256
        Feed-forward width.
    dropout : float, default=0.2
        Dropout on token embeddings, attention and feed-forward outputs.
    max_len : int, default=20
        History length in items (= tokens); the paper's is 50.
    {layout}
    temperature : float, default=0.03
        Divides the cosine logits of the sub-code heads (the authors' scripts for all four
        datasets; .07 in their config file).
    decoding : {"exact", "graph"}, default="exact"
        ``"exact"``: rank every catalogue item by the sum of its sub-codes'
        log-probabilities (one gather per position, memory O(users x n_items)).
        ``"graph"``: the paper's graph-constrained decoding: an item graph links each item
        to its ``graph_neighbors`` most similar items (mean cosine of their learned
        sub-code embeddings, built once at the end of ``fit`` as ``neighbors_``); a beam
        of ``beam_width`` items, started spread over the catalogue, moves
        ``propagation_steps`` times to the best-scoring items among itself and its
        neighbours; the best ``top_k`` of the last beam are returned. Early stopping's
        per-epoch validation always decodes exactly (as the authors validate).
    beam_width : int, default=50
        Items kept by the graph search (raised to ``k`` when smaller).
    graph_neighbors : int, default=50
        Neighbours of every item in the decoding graph.
    propagation_steps : int, default=3
        Steps of the graph search.
    top_k : int, default=10
        Items returned per history by ``predict``.
    max_epochs : int, default=100
        Epoch cap; early stopping usually ends the fit sooner.
    lr : float, default=1e-3
        AdamW learning rate (constant; the paper's .01 goes with its warm-up schedule).
    patience : int, default=10
        Early stopping on validation NDCG@10 (exact decoding): epochs without improvement
        before the fit stops (the best epoch's weights are restored).
    {training}
    n_items : int or None, default=None
        Catalogue size; the codes define it (one row per item), so a value that differs
        from their row count raises. None: taken from the codes.
    {exclude_seen}
    **kwargs
        skorch-style ``module__*``, ``optimizer__*``, ``iterator_train__*``, ``callbacks__*``.

    Attributes
    ----------
    net_ : sksid.training.SIDNet (``net_.module_`` is a :class:`~sksid.nn.rpg.RPGModule`)
    codes_ : ndarray of shape (n_items, m)
        The sub-codes.
    codebook_sizes_ : tuple of m ints
    code_length_ : int, m
    neighbors_ : ndarray of shape (n_items, graph_neighbors) or None
        The decoding graph (``decoding="graph"``; :meth:`build_graph` builds it for a model
        fitted with ``"exact"``).
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
    >>> codes = rng.randint(0, 16, size=(30, 8))
    >>> rec = RPGRecommender(d_model=16, n_layers=1, d_ff=32, max_epochs=2, device="cpu",
    ...                      random_state=0)
    >>> rec.fit(X, y, codes=codes).predict(X[:3]).shape
    (3, 10)
    """

    _module_class = RPGModule
    _needs_codes = True
    _parameter_constraints: dict = {
        **TorchSequentialRecommender._parameter_constraints,
        **{name: [POSITIVE_INT] for name in ("d_model", "n_layers", "n_heads", "d_ff")},
        **LAYOUT_CONSTRAINTS,
        "temperature": [POSITIVE_REAL],
        "decoding": [StrOptions({"exact", "graph"})],
        "beam_width": [POSITIVE_INT],
        "graph_neighbors": [POSITIVE_INT],
        "propagation_steps": [NON_NEGATIVE_INT],
        "exclude_seen": ["boolean"],
    }
    # users per exact-decoding batch: at most this many (user, item) scores
    _score_budget = 1 << 22

    def __init__(self, d_model=64, n_layers=2, n_heads=2, d_ff=256, dropout=0.2, max_len=20,
                 norm_first=True, init_std=None, temperature=0.03, decoding="exact", beam_width=50,
                 graph_neighbors=50, propagation_steps=3, top_k=10, max_epochs=100, max_time=None,
                 batch_size=256, lr=1e-3, weight_decay=0.0, lr_schedule="constant", ema_decay=None,
                 patience=10, validation_fraction=0.1, device="auto", random_state=None, verbose=0,
                 compile="auto", checkpoint_dir=None, callbacks=None, n_items=None, exclude_seen=False,
                 **kwargs):
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.d_ff = d_ff
        self.dropout = dropout
        self.max_len = max_len
        self.norm_first = norm_first
        self.init_std = init_std
        self.temperature = temperature
        self.decoding = decoding
        self.beam_width = beam_width
        self.graph_neighbors = graph_neighbors
        self.propagation_steps = propagation_steps
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

    # ---- fit -----------------------------------------------------------------------------
    def fit(self, X, y=None, eval_set=None, codes=None, resume=False):
        """Fit on histories ``X`` (and next items ``y``) with the catalogue's codes.

        Parameters
        ----------
        X : SIDSequences or list of 1-D int arrays
            Histories. A :class:`~sksid.sequences.SIDSequences` (what a tokenizer's
            ``transform`` returns) carries ``codes`` and ``codebook_sizes``.
        y : array-like of shape (n_users,), optional
            Next item of each history.
        eval_set : tuple (X_valid, y_valid), optional
            Explicit early-stopping data (see :meth:`TorchSequentialRecommender.fit`).
        codes : array-like of shape (n_items, m), optional
            Sub-codes for plain-list ``X`` (override those of an ``SIDSequences``).
        resume : bool, default=False
            Continue an interrupted fit from ``checkpoint_dir`` (see
            :meth:`TorchSequentialRecommender.fit`).

        Returns
        -------
        self
        """
        self._fit(X, y, eval_set, resume, codes=codes)
        self.neighbors_ = self._item_graph() if self.decoding == "graph" else None
        return self

    def _prepare_catalogue(self, X, seqs, y, codes=None):
        codes, _, sizes, _ = read_codes(self, X, seqs, y, codes)
        m = codes.shape[1]
        self.codes_ = codes
        self.codebook_sizes_ = tuple(int(s) for s in (codes.max(0) + 1 if sizes is None else sizes[:m]))
        self.code_length_ = int(m)
        self.n_items_ = int(codes.shape[0])
        return None

    def _module_kwargs(self, catalogue, seed):
        if self.n_heads > self.d_model:
            raise ValueError(f"n_heads={self.n_heads} exceeds d_model={self.d_model}: each head "
                             "needs at least one dimension (head width d_model // n_heads)")
        return dict(n_items=self.n_items_, codes=self.codes_, codebook_sizes=self.codebook_sizes_,
                    d_model=self.d_model, n_layers=self.n_layers, n_heads=self.n_heads, d_ff=self.d_ff,
                    dropout=self.dropout, max_len=self.max_len, temperature=float(self.temperature),
                    norm_first=bool(self.norm_first),
                    init_std=None if self.init_std is None else float(self.init_std))

    def _item_graph(self):
        with eval_mode(self.net_.module_) as module, torch.no_grad():
            return module.item_graph(self.graph_neighbors).cpu().numpy().astype(np.int64)

    def build_graph(self):
        """(Re)build the decoding graph ``neighbors_`` from the fitted model with the
        current ``graph_neighbors`` (for a model fitted with ``decoding="exact"``, or
        after changing ``graph_neighbors``).

        Returns
        -------
        self
        """
        check_is_fitted(self, "net_")
        self._revalidate_params("graph_neighbors")
        self.neighbors_ = self._item_graph()
        return self

    # ---- predict -------------------------------------------------------------------------
    def _check_predict_input(self, X):
        check_is_fitted(self, "net_")
        check_codes_at_predict(X, self.codes_)
        seqs = super()._check_predict_input(X)
        if self.decoding == "graph" and getattr(self, "neighbors_", None) is None:
            raise ValueError("decoding='graph' needs the item graph: this model was fitted with "
                             "decoding='exact'; call build_graph() first")
        return seqs

    def _graph_search(self, validation):
        return self.decoding == "graph" and not validation

    def _rank_scores(self, module, items, lengths, k, validation=False):
        if self._graph_search(validation):
            neighbors = torch.as_tensor(self.neighbors_, device=items.device)
            return module.rank_graph(items, lengths, k, neighbors, self.beam_width, self.propagation_steps)
        return module.rank_exact(items, lengths, k)

    def _rank(self, module, items, lengths, k, validation=False):
        return self._rank_scores(module, items, lengths, k, validation)[0]

    def _inference_batch_size(self, module, k, validation=False):
        per_user = module.n_items
        if self._graph_search(validation):
            per_user = max(self.beam_width, k) * (self.neighbors_.shape[1] + 1) * module.n_codes
        return int(max(1, min(max(self.batch_size, 256), self._score_budget // per_user)))
