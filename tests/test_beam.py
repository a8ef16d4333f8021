"""Constrained beam search, trie and collision handling (sksid.nn.beam)."""
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from sksid.nn.beam import PrefixTrie, beam_search, disambiguate


def _random_catalogue(rng, n_items, sizes):
    codes = np.stack([rng.randint(0, k, size=n_items) for k in sizes], axis=1)
    return disambiguate(codes, None, sizes)


class _TableStep:
    """Log-probs from a random logit table indexed by the full prefix (B, K_0, ..., K_l)."""

    def __init__(self, rng, B, sizes):
        self.tables = [torch.as_tensor(rng.randn(B, *sizes[: l + 1]), dtype=torch.float32)
                       for l in range(len(sizes))]

    def __call__(self, level, codes, parent, prefix=None):
        B, W, _ = codes.shape
        t = self.tables[level]
        b = torch.arange(B).view(B, 1).expand(B, W)
        idx = (b,) + tuple(codes[..., j] for j in range(level))
        return F.log_softmax(t[idx], dim=-1)

    def brute_force(self, codes):
        codes = torch.as_tensor(codes)
        B = self.tables[0].shape[0]
        total = torch.zeros(B, codes.shape[0])
        for l, t in enumerate(self.tables):
            lp = F.log_softmax(t, -1)
            idx = (slice(None),) + tuple(codes[:, j] for j in range(l + 1))
            total += lp[idx]
        return total


def test_disambiguate_appends_rank_level():
    codes, w, sizes, n = disambiguate([[1, 2], [0, 0], [1, 2], [1, 2]], [[0.5, 1], [1, 1], [1, 1], [1, 0]])
    assert codes.tolist() == [[1, 2, 0], [0, 0, 0], [1, 2, 1], [1, 2, 2]]
    assert w[:, -1].tolist() == [1, 1, 1, 1] and w[0, 0] == 0.5
    assert sizes == (2, 3, 3) and n == 3
    assert len({tuple(r) for r in codes}) == 4


def test_disambiguate_no_collision_is_identity():
    c = np.array([[0, 1], [1, 0]])
    out, _, sizes, n = disambiguate(c, None, (4, 4))
    assert np.array_equal(out, c) and sizes == (4, 4) and n == 0


def test_disambiguate_rejects_bad_codes():
    with pytest.raises(ValueError, match="exceed"):
        disambiguate([[0, 5]], None, (2, 2))
    with pytest.raises(ValueError, match="non-negative"):
        disambiguate([[0, -1]])


def test_trie_rejects_duplicates():
    with pytest.raises(ValueError, match="disambiguate"):
        PrefixTrie([[0, 1], [0, 1]], (2, 2))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_items=st.integers(1, 40), n_levels=st.integers(1, 3),
       k_max=st.integers(2, 6), beam=st.integers(1, 12), B=st.integers(1, 3))
def test_beam_returns_real_distinct_items(seed, n_items, n_levels, k_max, beam, B):
    rng = np.random.RandomState(seed)
    sizes = tuple(int(rng.randint(1, k_max + 1)) for _ in range(n_levels))
    codes, _, sizes, _ = _random_catalogue(rng, n_items, sizes)
    trie = PrefixTrie(codes, sizes)
    step = _TableStep(rng, B, sizes)
    k = min(beam, n_items)
    items, scores = beam_search(step, trie, B, beam, k)
    assert items.shape == (B, k)
    items = items.numpy()
    assert ((items >= 0) & (items < n_items)).all()
    for row in items:
        assert len(set(row.tolist())) == k
    assert torch.isfinite(scores).all()
    assert (scores[:, :-1] >= scores[:, 1:] - 1e-6).all()
    # each returned score is the item's true summed log-prob
    bf = step.brute_force(codes)
    assert torch.allclose(scores, bf.gather(1, torch.as_tensor(items)), atol=1e-5)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n_items=st.integers(1, 30), n_levels=st.integers(1, 3),
       B=st.integers(1, 3))
def test_exhaustive_beam_equals_brute_force(seed, n_items, n_levels, B):
    rng = np.random.RandomState(seed)
    sizes = tuple(int(rng.randint(2, 5)) for _ in range(n_levels))
    codes, _, sizes, _ = _random_catalogue(rng, n_items, sizes)
    trie = PrefixTrie(codes, sizes)
    step = _TableStep(rng, B, sizes)
    k = min(5, n_items)
    items, scores = beam_search(step, trie, B, n_items, k)
    bf_scores, bf_items = step.brute_force(codes).topk(k, dim=1)
    assert torch.allclose(scores, bf_scores, atol=1e-5)
    assert torch.equal(items, bf_items)


def test_beam_width_below_k_raises():
    trie = PrefixTrie([[0], [1], [2]], (3,))
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(lambda l, c, p: torch.zeros(1, 1, 3), trie, 1, 2, 3)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 200), st.integers(1, 4), st.integers(2, 9))
def test_sparse_trie_matches_dense_definition(seed, n_items, n_levels, K):
    """The sorted-key trie answers every (prefix, code) query as a dense child table built
    from the definition would, and a model pickled with the earlier dense buffers still
    decodes the same."""
    codes, _, sizes, _ = disambiguate(np.random.RandomState(seed).randint(0, K, (n_items, n_levels)),
                                      None, (K,) * n_levels)
    trie = PrefixTrie(codes, sizes)
    assert trie.state_dict() == {}  # derived from the codes, never saved
    # definition: prefix ids are ranks of the distinct length-l prefixes in lexicographic order
    for level in range(len(sizes)):
        heads = sorted({tuple(r[:level]) for r in codes.tolist()})
        nexts = {t: i for i, t in enumerate(sorted({tuple(r[:level + 1]) for r in codes.tolist()}))}
        dense = torch.tensor([[nexts.get(h + (c,), -1) for c in range(sizes[level])] for h in heads])
        assert torch.equal(trie.child(level), dense)
        assert torch.equal(trie.n_children(level), (dense >= 0).sum(1))
        assert trie.n_prefixes[level] == len(heads)
    # the binary search (large levels) answers as the dense per-level table (small ones)
    sparse = PrefixTrie(codes, sizes)
    sparse.dense_children_max = 0
    for level in range(len(sizes)):
        prefixes = torch.as_tensor(np.random.RandomState(seed).randint(0, trie.n_prefixes[level], (3, 5)))
        assert torch.equal(sparse.next_prefixes(level, prefixes), trie.next_prefixes(level, prefixes))
        items = torch.arange(n_items)
        assert torch.equal(sparse.item_children(level, items), trie.item_children(level, items))
    assert all(v is None for v in sparse.__dict__["_dense"].values())  # every level searched
    assert any(v is not None for v in trie.__dict__["_dense"].values())  # built on first use
    assert "_dense" not in pickle.loads(pickle.dumps(trie)).__dict__  # never pickled
    # a trie pickled with dense children_<l> tables (before the sparse one)
    legacy = PrefixTrie(codes, sizes)
    for level in range(len(sizes)):
        table = trie.child(level)
        del legacy._buffers[f"keys_{level}"]
        legacy.register_buffer(f"children_{level}", table)
    assert legacy.n_prefixes == trie.n_prefixes and legacy.widest == trie.widest
    step = lambda level, c, p, pre: torch.log_softmax(torch.randn(2, c.shape[1], sizes[level],  # noqa: E731
                                                                  generator=torch.Generator().manual_seed(level)), -1)
    k = min(3, n_items)
    a = beam_search(step, trie, 2, max(k, 4), k, renormalize=True)
    b = beam_search(step, legacy, 2, max(k, 4), k, renormalize=True)
    assert torch.equal(a[0], b[0])
