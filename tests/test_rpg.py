"""RPGRecommender and RPGModule: long unordered SIDs, parallel sub-code heads, exact and graph
decoding."""
import copy

import numpy as np
import pytest
import torch
from sklearn.pipeline import Pipeline

import sksid
from sksid import MostPopular, OPQTokenizer, RPGRecommender, SASRecRecommender, SIDSequences
from sksid.nn.rpg import RPGModule
from sksid.testing import check_recommender
from sksid.training.net import eval_mode

TINY = dict(d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=10, max_epochs=2, batch_size=64,
            device="cpu", random_state=0)


def _codes(n_items, m=8, K=16, seed=0):
    return np.random.RandomState(seed).randint(0, K, size=(n_items, m))


@pytest.fixture(scope="module")
def small():
    """200 users over 60 items, random histories and 8 sub-codes of 16 entries."""
    rng = np.random.RandomState(1)
    X = [rng.randint(0, 60, size=rng.randint(1, 9)) for _ in range(200)]
    y = rng.randint(0, 60, size=200)
    return X, y, _codes(60)


@pytest.fixture(scope="module")
def fitted(small):
    X, y, codes = small
    return RPGRecommender(**TINY).fit(X, y, codes=codes)


def _padded(X, max_len=10):
    from sksid.sequences import pad_histories

    items, lengths = pad_histories(X, max_len)
    return torch.as_tensor(items), torch.as_tensor(lengths)


@pytest.mark.parametrize("decoding", ["exact", "graph"])
def test_contract_checks(small, decoding):
    X, y, codes = small
    est = RPGRecommender(**TINY, decoding=decoding, beam_width=10, graph_neighbors=5)
    fitted = check_recommender(est, SIDSequences(X, codes), y)
    assert fitted.codes_.shape == (60, 8) and fitted.codebook_sizes_ == tuple(codes.max(0) + 1)
    assert (fitted.neighbors_ is None) == (decoding == "exact")


def test_learns_the_synthetic_pattern_better_than_most_popular(synthetic_sequences):
    X, y = synthetic_sequences
    codes = _codes(30, m=16, K=32)
    rec = RPGRecommender(**{**TINY, "max_epochs": 40}, validation_fraction=0.0, lr=5e-3).fit(X, y, codes=codes)
    pop = MostPopular().fit(X, y)
    assert rec.score(X, y) > max(0.8, pop.score(X, y) + 0.5), (rec.score(X, y), pop.score(X, y))


def test_exact_scores_are_the_summed_per_position_log_probabilities(fitted, small):
    X = small[0][:12]
    items, lengths = _padded(X)
    with eval_mode(fitted.net_.module_) as module, torch.no_grad():
        logp = module.log_probs(items, lengths).numpy()  # (B, m, K)
        scores = module.item_scores(torch.as_tensor(logp)).numpy()
    codes = fitted.codes_
    brute = np.array([[sum(logp[b, j, codes[i, j]] for j in range(codes.shape[1]))
                       for i in range(len(codes))] for b in range(len(X))])
    np.testing.assert_allclose(scores, brute, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.exp(logp).sum(-1), 1.0, rtol=1e-5)
    ids, top = fitted.recommend(X, k=5)
    np.testing.assert_allclose(top, np.sort(brute, axis=1)[:, ::-1][:, :5], rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(np.take_along_axis(brute, ids, 1).round(3), top.round(3))


def test_masked_codebook_entries_take_no_probability():
    m = RPGModule(3, codes=[[0, 2], [1, 0], [0, 1]], codebook_sizes=(2, 3), d_model=8, n_layers=1,
                  n_heads=2, d_ff=16, max_len=4)
    with torch.no_grad():
        p = m.log_probs(torch.tensor([[0, 1, -1, -1]]), torch.tensor([2])).exp()
    assert p[0, 0, 2] == 0 and torch.allclose(p.sum(-1), torch.ones(1, 2))


def test_graph_decoding_equals_exact_when_the_candidates_cover_the_catalogue(fitted, small):
    X = small[0]
    exact_ids, exact_scores = fitted.recommend(X, k=10)
    graph = RPGRecommender(**{**TINY, "decoding": "graph", "graph_neighbors": 60, "propagation_steps": 1})
    graph.fit(*small[:2], codes=small[2])
    assert graph.neighbors_.shape == (60, 60)
    np.testing.assert_array_equal(graph.predict(X), graph.set_params(decoding="exact").predict(X))
    # a beam as wide as the catalogue starts on every item
    wide = copy.deepcopy(fitted).set_params(decoding="graph", beam_width=60, graph_neighbors=3,
                                            propagation_steps=0).build_graph()
    ids, scores = wide.recommend(X, k=10)
    np.testing.assert_allclose(scores, exact_scores, rtol=1e-5, atol=1e-5)
    assert fitted.decoding == "exact" and fitted.neighbors_ is None


def test_graph_decoding_returns_distinct_valid_ids_and_never_beats_exact():
    rng = np.random.RandomState(2)
    n = 300
    X = [rng.randint(0, n, size=rng.randint(1, 9)) for _ in range(150)]
    y = rng.randint(0, n, size=150)
    rec = RPGRecommender(**TINY, decoding="graph", beam_width=12, graph_neighbors=5, propagation_steps=2)
    rec.fit(X, y, codes=_codes(n, m=6, K=8))
    ids, scores = rec.recommend(X, k=10)
    assert ids.min() >= 0 and ids.max() < n
    assert all(len(set(row)) == 10 for row in ids)
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    # the graph is each item's most similar items, the item itself among them
    assert rec.neighbors_.shape == (n, 5)
    assert (rec.neighbors_ == np.arange(n)[:, None]).any(1).mean() > 0.9
    exact_scores = rec.set_params(decoding="exact").recommend(X, k=10)[1]
    assert (scores <= exact_scores + 1e-4).all()  # rank r of the search <= exact rank r
    # more steps never lower the best score (the beam stays among the candidates)
    rec.set_params(decoding="graph")
    best = [rec.set_params(propagation_steps=s).recommend(X, k=10)[1][:, 0] for s in (0, 1, 3)]
    assert (best[1] >= best[0] - 1e-5).all() and (best[2] >= best[1] - 1e-5).all()
    # a user's answer does not depend on the batch it is decoded in
    np.testing.assert_array_equal(rec.predict(X[:7]), rec.predict(X)[:7])


def test_pipeline_with_opq_tokenizer(ml_small):
    tok = OPQTokenizer(codebook_size=16, n_levels=8, n_iter=2, device="cpu", random_state=0,
                       behavior_estimator=SASRecRecommender(d_model=16, n_layers=1, d_ff=32, max_epochs=1,
                                                            device="cpu", random_state=0))
    pipe = Pipeline([("tok", tok), ("rec", RPGRecommender(**TINY))])
    pipe.fit(ml_small["X_train"], ml_small["y_train"])
    pred = pipe.predict(ml_small["X_test"])
    rec = pipe.named_steps["rec"]
    assert rec.codes_.shape[1] == 8 and rec.net_.module_.n_codes == 8
    assert pred.shape == (len(ml_small["X_test"]), 10) and pred.max() < rec.n_items_


@pytest.mark.parametrize("decoding", ["exact", "graph"])
def test_save_load_round_trip(small, tmp_path, decoding):
    X, y, codes = small
    rec = RPGRecommender(**TINY, decoding=decoding, beam_width=10, graph_neighbors=4).fit(X, y, codes=codes)
    sksid.save(rec, tmp_path / "rpg.sksid")
    back = sksid.load(tmp_path / "rpg.sksid")
    assert isinstance(back.net_.module_, RPGModule)
    for a, b in zip(rec.recommend(X), back.recommend(X)):
        np.testing.assert_array_equal(a, b)
    if decoding == "graph":
        np.testing.assert_array_equal(back.neighbors_, rec.neighbors_)


def test_bad_input(fitted, small):
    X, y, codes = small
    with pytest.raises(ValueError, match="2-D"):
        RPGRecommender(**TINY).fit(X, y, codes=codes[:, 0])
    with pytest.raises(ValueError, match="unknown|outside|>="):
        RPGRecommender(**TINY).fit(X, y, codes=codes[:20])  # fewer coded items than ids
    with pytest.raises(ValueError, match="n_items=70"):
        RPGRecommender(**TINY, n_items=70).fit(X, y, codes=codes)
    with pytest.raises(ValueError, match="needs the items' Semantic IDs"):
        RPGRecommender(**TINY).fit(X, y)
    with pytest.raises(ValueError, match="top_k=61 exceeds"):
        RPGRecommender(**{**TINY, "top_k": 61}).fit(X, y, codes=codes)
    with pytest.raises(ValueError, match="exceeds"):
        fitted.recommend(X[:2], k=61)
    with pytest.raises(ValueError, match="shape"):
        fitted.predict(SIDSequences(X[:2], codes[:, :4]))
    with pytest.raises(ValueError, match="build_graph"):
        RPGRecommender(**TINY).fit(X, y, codes=codes).set_params(decoding="graph").predict(X[:2])
    with pytest.raises(ValueError, match="temperature"):
        RPGRecommender(temperature=0.0).fit(X, y, codes=codes)
