"""Shared base of the Semantic-ID recommenders (IntRR, TIGER).

Reads the catalogue's codes from the :class:`~sksid.sequences.SIDSequences` a tokenizer
passes down a Pipeline (or from ``fit(X, y, codes=..., weights=...)``), disambiguates
colliding tuples with TIGER's extra-level rule, and ranks by constrained beam search
over the catalogue trie (:mod:`sksid.nn.beam`). Training, early stopping, batching and
the popularity fallback are those of :class:`~sksid.recommenders._torch.TorchSequentialRecommender`.
"""
from __future__ import annotations

import warnings
from numbers import Real

import numpy as np
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from .._validation import (
    BACKBONE_CONSTRAINTS,
    LAYOUT_CONSTRAINTS,
    POSITIVE_INT,
    StrictInterval,
    check_codes,
    check_dense_codes,
    check_sequences,
)
from ..base import fill_docstring
from ..distributed import rank
from ..metrics import code_entropy
from ..nn.beam import disambiguate
from ..sequences import SIDSequences, catalogue_of
from ._torch import RECOMMENDER_DOC, TorchSequentialRecommender

__all__ = ["SIDRecommenderBase", "loss_weights", "sid_docstring", "read_codes", "check_codes_at_predict",
           "CODE_ORDERS", "DECODINGS"]

CODE_ORDERS = ("given", "entropy", "entropy_asc")
DECODINGS = ("auto", "beam", "exact")


# backbone sizes when a size parameter is None: the reference on CUDA, a small one on CPU
BACKBONE_CUDA = dict(d_model=256, n_layers=4, n_heads=6, head_dim=64, d_ff=1024)
BACKBONE_CPU = dict(d_model=64, n_layers=2, n_heads=2, head_dim=32, d_ff=256)
# the backbone_size parameter: "auto" picks by device, "reference" / "small" name a table
BACKBONE_SIZES = {"reference": BACKBONE_CUDA, "small": BACKBONE_CPU}


# the numpydoc entries of the options IntRR and TIGER share (inserted in both docstrings)
SID_OPTIONS_DOC = """    code_weights : bool, default=True
        Weight each level's loss by the target item's tokenizer importance weights
        (ADC-SID), made bounded and comparable by :func:`~sksid.recommenders._sid.loss_weights`
        (scaled to the item's maximum, floored at ``code_weight_floor``, mean 1 per item).
        False ignores the weights; codes without weights train unweighted either way.
        The tokenizer's weights stay in ``importance_weights_`` (in generation order).
    code_weight_floor : float, default=0.5
        Smallest loss weight of a level relative to the item's largest (no level is
        switched off).
    code_order : {"given", "entropy", "entropy_asc"} or permutation, default="given"
        Order in which the levels are generated: as given by the tokenizer, by
        decreasing or increasing code entropy over the catalogue, or an explicit
        permutation of ``range(L)``. Fitted as ``code_order_``.
    leaf : bool, default=True
        Score the disambiguation level of colliding items with learned item embeddings
        (:mod:`sksid.nn.leaf`) instead of an arbitrary code.
    constrained : bool, default=True
        Trie-constrained softmax (beyond the papers): every level normalises over the codes
        that continue the item's prefix to some catalogue item, in training and decoding,
        so the summed level log-probabilities are a distribution over the catalogue and a
        level forced by its prefix costs nothing. False: softmax over the whole codebook.
"""


BACKBONE_DOC = """    d_model : int or None, default=None
        Token / codeword width. ``None`` (every backbone size below too) takes the size
        of ``backbone_size``: the reference size (``d_model=256, n_layers=4, n_heads=6,
        head_dim=64, d_ff=1024``) or a small backbone (``64, 2, 2, 32, 256``) that trains
        in minutes on a laptop. The sizes used are in ``backbone_``.
    n_layers : int or None, default=None
        Transformer blocks.
    n_heads : int or None, default=None
        Attention heads.
    head_dim : int or None, default=None
        Per-head width.
    d_ff : int or None, default=None
        Feed-forward width.
    backbone_size : {"auto", "reference", "small"}, default="auto"
        Where the sizes left at ``None`` come from: ``"reference"`` (the reference size
        above), ``"small"`` (the small one), or ``"auto"``: the reference size on CUDA and
        the small one on CPU, so the same parameters build different models on the two.
        Give ``"reference"`` to train the GPU's model on a CPU, ``"small"`` to train the
        CPU's on a GPU. Explicit sizes still override it field by field. Fitted as
        ``backbone_size_``.
"""


LAYOUT_DOC = """    norm_first : bool, default=True
        Pre-norm transformer blocks. False: post-norm blocks with one LayerNorm over the
        token + position sum, the layout of SASRec's original and RecBole's implementation
        (:class:`~sksid.recommenders.SASRecRecommender` takes the same option).
    init_std : float or None, default=None
        None: PyTorch's default initialisation of the transformer. A float: its Linear and
        Embedding weights are drawn from N(0, init_std), biases zero (RecBole: 0.02).
"""


def sid_docstring(cls):
    """Class decorator: put :data:`BACKBONE_DOC`, :data:`SID_OPTIONS_DOC` and the shared
    training entries (:data:`sksid.recommenders._torch.RECOMMENDER_DOC`) where the docstring says
    ``{backbone}``, ``{layout}``, ``{sid_options}``, ``{training}`` and ``{exclude_seen}``."""
    return fill_docstring(cls, {**RECOMMENDER_DOC, "backbone": BACKBONE_DOC, "layout": LAYOUT_DOC,
                                "sid_options": SID_OPTIONS_DOC})


def loss_weights(weights, floor=0.5):
    """Per-level loss weights from tokenizer importance weights, bounded and comparable.

    Each item's weights are divided by the item's largest weight (so raw, unbounded gate
    outputs and bounded scores give the same result), lifted to ``[floor, 1]`` by
    ``floor + (1 - floor) * w`` (no level is ever switched off), then rescaled to mean 1
    per item (every item contributes the same total loss; only the split over its levels
    changes). All-ones weights stay all ones.

    Examples
    --------
    >>> print(loss_weights(np.array([[1, 1, 0.0], [1, 1, 1]]), floor=0.5).round(3))
    [[1.2 1.2 0.6]
     [1.  1.  1. ]]
    """
    w = np.clip(np.asarray(weights, dtype=np.float64), 0.0, None)
    top = w.max(axis=1, keepdims=True)
    w = np.where(top > 0, w / np.where(top > 0, top, 1.0), 1.0)
    w = floor + (1.0 - floor) * w
    return (w / w.mean(axis=1, keepdims=True)).astype(np.float32)


_NO_CODES = ("{name} needs the items' Semantic IDs: put a tokenizer before it in a Pipeline "
             "(e.g. Pipeline([('tok', RQKMeansTokenizer()), ('rec', {name}())])) or pass "
             "fit(X, y, codes=...) with an (n_items, L) int array.")


def read_codes(est, X, seqs, y, codes=None, weights=None):
    """The catalogue's codes for ``est.fit``: ``codes``/``weights`` if given, else those of
    the :class:`~sksid.sequences.SIDSequences` ``X``; validated (:func:`check_codes`, dense
    code values when no codebook sizes come with them), ``n_items`` and the ids of ``seqs``
    and ``y`` checked against the coded catalogue. Returns ``(codes, weights,
    codebook_sizes or None, the behaviour model's item table or None)``."""
    sizes = None
    item_table = X.item_embeddings if isinstance(X, SIDSequences) else None
    if codes is None and isinstance(X, SIDSequences):
        codes, sizes = X.codes, X.codebook_sizes
        if weights is None:
            weights = X.weights
    if codes is None:
        raise ValueError(_NO_CODES.format(name=type(est).__name__))
    codes, weights = check_codes(codes, weights)
    if sizes is None:  # sizes inferred from the code values: they must be indices
        check_dense_codes(codes)
    n_items = est._check_n_items_matches_codes(codes.shape[0])
    carried = catalogue_of(X)
    if carried is not None and carried != n_items:
        raise ValueError(f"the codes cover {n_items} items but the histories carry a catalogue of "
                         f"{carried} items (leave_last_out's n_items); code the whole catalogue")
    check_sequences(seqs, n_items=n_items)  # ids inside the coded catalogue
    if y is not None and len(y) and int(np.max(y)) >= n_items:
        raise ValueError(f"y contains item ids >= the number of coded items ({n_items})")
    return codes, weights, sizes, item_table


def check_codes_at_predict(X, fitted, order=None):
    """An ``SIDSequences`` at predict must carry codes of the fitted shape (``fitted``:
    the (n_items, L) codes seen at fit, in ``order``); different values only warn (the
    model keeps its fitted codes)."""
    if not isinstance(X, SIDSequences):
        return
    if X.code_length != fitted.shape[1] or X.n_items != fitted.shape[0]:
        raise ValueError(
            f"codes at predict have shape ({X.n_items}, {X.code_length}) but the model was "
            f"fitted on {tuple(fitted.shape)}; refit or use the tokenizer fitted with this model")
    given = X.codes if order is None else X.codes[:, order]
    if not np.array_equal(given, fitted):
        warnings.warn("codes at predict differ from those seen at fit; the model keeps "
                      "using the codes it was fitted on", UserWarning, stacklevel=4)


class SIDRecommenderBase(TorchSequentialRecommender):
    """Base class of generative recommenders over Semantic IDs.

    Subclasses set ``_module_class`` and ``_sid_module_kwargs(item_table, seed)``; the module must
    implement ``rank(items, lengths, k, beam_width) -> (ids, scores)``.

    Fitted attributes added to the base ones: ``codes_`` (n_items, L'), ``weights_``,
    ``codebook_sizes_`` (after disambiguation, ``L' = L`` or ``L + 1``),
    ``code_length_`` (L, as given), ``n_colliding_items_``.
    """

    _needs_codes = True
    _parameter_constraints: dict = {
        **TorchSequentialRecommender._parameter_constraints,
        **BACKBONE_CONSTRAINTS,
        "code_weights": ["boolean"],
        "code_weight_floor": [StrictInterval(Real, 0, 1, closed="both")],
        "code_order": [StrOptions(set(CODE_ORDERS)), "array-like"],
        "leaf": ["boolean"],
        "constrained": ["boolean"],
        "decoding": [StrOptions(set(DECODINGS))],
        "beam_width": [POSITIVE_INT],
        "exclude_seen": ["boolean"],
        "backbone_size": [StrOptions({"auto", *BACKBONE_SIZES})],
        **LAYOUT_CONSTRAINTS,
    }
    # decoding="auto" is exact when the widest trie level holds at most this many prefixes
    _exact_auto_max_prefixes = 4096

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, X, y=None, eval_set=None, codes=None, weights=None, resume=False):
        """Fit on histories ``X`` (and next items ``y``) with the catalogue's codes.

        Parameters
        ----------
        X : SIDSequences or list of 1-D int arrays
            Histories. A :class:`~sksid.sequences.SIDSequences` (what a tokenizer's
            ``transform`` returns) carries ``codes``, ``weights`` and ``codebook_sizes``.
        y : array-like of shape (n_users,), optional
            Next item of each history.
        eval_set : tuple (X_valid, y_valid), optional
            Explicit early-stopping data (see :meth:`TorchSequentialRecommender.fit`).
        codes : array-like of shape (n_items, L), optional
            Codes for plain-list ``X`` (override those of an ``SIDSequences``).
        weights : array-like of shape (n_items, L), optional
            Per-code loss weights (ones when absent).
        resume : bool, default=False
            Continue an interrupted fit from ``checkpoint_dir`` (see
            :meth:`TorchSequentialRecommender.fit`).

        Returns
        -------
        self
        """
        return self._fit(X, y, eval_set, resume, codes=codes, weights=weights)

    def _prepare_catalogue(self, X, seqs, y, codes=None, weights=None):
        """Fitted codes from ``codes``/``weights`` or the ``SIDSequences`` ``X``; returns the
        behaviour model's item table when a tokenizer passed one (fit-time data, else None)."""
        codes, weights, sizes, item_table = read_codes(self, X, seqs, y, codes, weights)
        n_items = codes.shape[0]
        self.code_length_ = int(codes.shape[1])
        order = self._code_order(codes)
        self.code_order_ = order
        codes = codes[:, order]
        if sizes is not None:
            sizes = [sizes[j] for j in order] + list(sizes[len(order):])
        self.importance_weights_ = None if weights is None else weights[:, order]
        lw = None
        if weights is not None and self.code_weights:
            lw = loss_weights(self.importance_weights_, self.code_weight_floor)
        self.codes_, self.weights_, self.codebook_sizes_, self.n_colliding_items_ = disambiguate(
            codes, lw, sizes)
        self.n_items_ = n_items
        self._check_beam(self.top_k)
        return item_table

    def _code_order(self, codes):
        """Permutation of the code positions in which levels are generated (``code_order_``)."""
        L = codes.shape[1]
        order = self.code_order
        if isinstance(order, str):  # one of CODE_ORDERS (validated by fit)
            if order == "given":
                return np.arange(L)
            ent = np.asarray(code_entropy(codes, per_position=True))
            return np.argsort(-ent if order == "entropy" else ent, kind="stable")
        perm = np.asarray(order)
        if perm.shape != (L,) or perm.dtype.kind not in "iu" or sorted(perm.tolist()) != list(range(L)):
            raise ValueError(f"code_order must be a permutation of range({L}) (the code length), "
                             f"got {order!r}")
        return perm.astype(np.int64)

    def _check_beam(self, k):
        self._revalidate_params("beam_width")
        bw = self.beam_width
        if bw < k:
            raise ValueError(f"beam_width={bw} must be >= top_k={k}: the beam holds the returned items")

    def _backbone(self) -> dict:
        """Backbone sizes with ``None`` resolved by ``backbone_size`` (``"auto"``: for the
        device) (``backbone_``, and the table used as ``backbone_size_``)."""
        size = self.backbone_size
        if size == "auto":
            size = "reference" if str(self.device_).startswith("cuda") else "small"
        table = BACKBONE_SIZES[size]
        out = {}
        for name, default in table.items():
            v = getattr(self, name)
            out[name] = int(default if v is None else v)
        self.backbone_ = out
        self.backbone_size_ = size
        if self.verbose and rank() == 0:
            other = "small" if size == "reference" else "reference"
            print(f"{type(self).__name__}: {size} backbone {out} on {self.device_}; "
                  f"backbone_size={other!r} trains the {other} one")
        return out

    def _sid_module_kwargs(self, item_table, seed) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _module_kwargs(self, item_table, seed):
        kw = dict(n_items=self.n_items_, codes=self.codes_, codebook_sizes=self.codebook_sizes_,
                  weights=self.weights_)
        kw.update(self._sid_module_kwargs(item_table, seed))
        kw.update(norm_first=bool(self.norm_first),
                  init_std=None if self.init_std is None else float(self.init_std))
        return kw

    # -- predict -------------------------------------------------------------------------
    def _check_predict_input(self, X):
        check_is_fitted(self, "net_")
        check_codes_at_predict(X, self.codes_[:, : self.code_length_], self.code_order_)
        seqs = super()._check_predict_input(X)  # also checks top_k
        self._check_beam(self.top_k)
        return seqs

    def _search_width(self, module, k, validation=False):
        """Beams kept per level: ``beam_width``, or every prefix of the trie when decoding
        exactly (then the search is exhaustive and ranks every catalogue item by the sum
        of its level log-probabilities). Early stopping's per-epoch validation always uses
        the beam (the two agree closely, the beam costs a fraction)."""
        if not validation and self._decodes_exactly(module):
            return max(module.trie.widest, k)
        return max(int(self.beam_width), k)

    def _decodes_exactly(self, module):
        mode = getattr(self, "decoding", "beam")
        if mode == "auto":
            return module.trie.widest <= self._exact_auto_max_prefixes
        return mode == "exact"

    def _rank(self, module, items, lengths, k, validation=False):
        return self._rank_scores(module, items, lengths, k, validation)[0]

    def _rank_scores(self, module, items, lengths, k, validation=False):
        """Beam (or exact) search: ids and summed level log-probabilities, (B, k) each."""
        return module.rank(items, lengths, k, self._search_width(module, k, validation))

    def _eval_batch_size(self, module, width):
        """Users per inference batch: fewer when the search is wide (exact decoding)."""
        K = max(module.trie.codebook_sizes)
        return int(max(8, min(max(self.batch_size, 256), 2_000_000 // max(width * K, 1))))

    def _inference_batch_size(self, module, k, validation=False):
        return self._eval_batch_size(module, self._search_width(module, k, validation))

    @property
    def tokens_per_item_(self) -> int:
        """Backbone tokens per history item (IntRR: 1; TIGER: the code length)."""
        raise NotImplementedError
