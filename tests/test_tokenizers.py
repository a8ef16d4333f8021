"""Shared contract of the tokenizers (ADC-SID, RQ-VAE, RQ-KMeans, OPQ, LETTER, MM-RQ-VAE)."""
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from sksid.sequences import SIDSequences
from sksid.tokenizers import (ADCSIDTokenizer, LETTERTokenizer, MMRQVAETokenizer, OPQTokenizer, RQKMeansTokenizer,
                              RQVAETokenizer)
from sksid.tokenizers._base import tiger_suffix


def small(cls, **kw):
    base = dict(codebook_size=4, device="cpu", random_state=0)
    if cls is ADCSIDTokenizer:
        base.update(hidden_dim=16, latent_dim=8, max_epochs=2, batch_size=32)
    elif cls in (RQVAETokenizer, LETTERTokenizer, MMRQVAETokenizer):
        base.update(n_levels=2, hidden_dim=16, latent_dim=4, max_epochs=2, batch_size=32)
    elif cls is RQKMeansTokenizer:
        base.update(n_levels=2, n_iter=5)
    else:
        base.update(n_levels=2, n_iter=2, kmeans_iter=3)
    base.update(kw)
    return cls(**base)


ALL = [ADCSIDTokenizer, RQVAETokenizer, RQKMeansTokenizer, OPQTokenizer, LETTERTokenizer, MMRQVAETokenizer]
TORCH = (ADCSIDTokenizer, RQVAETokenizer, LETTERTokenizer, MMRQVAETokenizer)
# need a collaborative modality besides the content: sklearn's checks pass plain 2-D arrays,
# one content modality, so they cannot fit (their clear error is tested below)
NEEDS_COLLAB = (LETTERTokenizer,)

# The contract returns a (codes, weights) tuple of int64 / float32 arrays, not one float
# array of the input dtype; these checks assume a single array-like output.
_TUPLE = "transform returns a (codes, weights) tuple, not one array"
EXPECTED = {
    "check_methods_sample_order_invariance": _TUPLE,
    "check_transformer_preserve_dtypes": "codes are int64 whatever the input dtype",
    "check_transformer_data_not_an_array": _TUPLE,
}
_KWARGS = {"check_do_not_raise_errors_in_init_or_set_params":
           "**kwargs accepts only skorch-prefixed (module__*, ...) parameters and names others"}


def _expected(est):
    if isinstance(est, TORCH):
        return {**EXPECTED, **_KWARGS}
    return EXPECTED


@parametrize_with_checks([small(c, **({"max_epochs": 1} if c in TORCH else {})) for c in ALL
                          if c not in NEEDS_COLLAB], expected_failed_checks=_expected)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def catalogue(n=80, seed=0):
    rng = np.random.RandomState(seed)
    scale = np.exp(rng.randn(n, 1))
    return {"text": rng.randn(n, 12).astype(np.float32),
            "category": (rng.rand(n, 5) > 0.6).astype(np.float32),
            "collab": (scale * rng.randn(n, 6)).astype(np.float32)}


@pytest.mark.parametrize("cls", ALL)
def test_codes_contract_and_transform_equals_fit_transform(cls):
    X = catalogue()
    tok = small(cls)
    codes, weights = tok.fit_transform(X)
    assert codes.dtype == np.int64 and weights.dtype == np.float32
    assert codes.shape == weights.shape == (80, tok.code_length_)
    assert codes.min() >= 0 and codes.max() < 4
    assert np.all(np.isfinite(weights)) and weights.min() >= 0
    c2, w2 = tok.transform(X)
    np.testing.assert_array_equal(codes, c2)
    np.testing.assert_array_equal(weights, w2)
    np.testing.assert_array_equal(codes, tok.codes_)
    if cls is not ADCSIDTokenizer:
        assert np.all(weights == 1)


@pytest.mark.parametrize("cls", ALL)
def test_deterministic_with_random_state(cls):
    X = catalogue()
    a = small(cls).fit_transform(X)
    b = small(cls).fit_transform(X)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1])


@pytest.mark.parametrize("cls", ALL)
def test_input_forms_agree(cls):
    X = catalogue()
    arr = np.concatenate([X["text"], X["category"], X["collab"]], 1)
    dims = [("text", 12), ("category", 5), ("collab", 6)]
    df = pd.DataFrame(arr, columns=[f"{m}:{j}" for m, d in dims for j in range(d)])
    c_dict, _ = small(cls).fit_transform(X)
    c_arr, _ = small(cls, modality_dims=dims).fit_transform(arr)
    tok = small(cls)
    c_df, _ = tok.fit_transform(df)
    assert list(tok.modality_dims_) == ["text", "category", "collab"]
    np.testing.assert_array_equal(c_dict, c_arr)
    np.testing.assert_array_equal(c_dict, c_df)
    # plain 2-D array: one content modality
    if cls in NEEDS_COLLAB:
        with pytest.raises(ValueError, match="needs the collaborative embedding as the modality 'collab'"):
            small(cls).fit(arr)
        with pytest.raises(ValueError, match="at least one content modality"):
            small(cls).fit({"collab": X["collab"]})
        return
    tok = small(cls).fit(arr)
    assert tok.modality_dims_ == {"content": 23}


@pytest.mark.parametrize("cls", ALL)
def test_bad_inputs(cls):
    X = catalogue()
    with pytest.raises(ValueError, match="NaN or inf"):
        bad = dict(X)
        bad["text"] = X["text"].copy()
        bad["text"][0, 0] = np.nan
        small(cls).fit(bad)
    with pytest.raises(ValueError, match="NaN or inf"):
        bad = dict(X)
        bad["collab"] = X["collab"].copy()
        bad["collab"][3, 1] = np.inf
        small(cls).fit(bad)
    with pytest.raises(ValueError, match="different row counts"):
        small(cls).fit({"text": X["text"], "collab": X["collab"][:-1]})
    with pytest.raises(ValueError, match="2-D"):
        small(cls).fit({"text": X["text"][:, 0]})
    with pytest.raises(ValueError, match="codebook_size"):
        small(cls, codebook_size=1).fit(X)
    with pytest.raises(ValueError, match="n_samples = 3"):
        small(cls).fit({m: a[:3] for m, a in X.items()})
    with pytest.raises(ValueError, match="modality_dims sum"):
        small(cls, modality_dims={"text": 3}).fit(X["text"])
    tok = small(cls).fit(X)
    with pytest.raises(ValueError, match="unknown modality"):
        tok.transform({**X, "image": X["text"]})
    with pytest.raises(ValueError, match="missing modality"):
        tok.transform({"text": X["text"], "category": X["category"]})
    with pytest.raises(ValueError, match="'text' has 11 columns"):
        tok.transform({**X, "text": X["text"][:, :11]})


@pytest.mark.parametrize("cls", ALL)
def test_clone_params_and_pickle(cls):
    kw = {"module__dropout": 0.0} if cls in TORCH else {}
    tok = small(cls, **kw)
    if kw:
        assert tok.get_params()["module__dropout"] == 0.0
        tok.set_params(module__dropout=0.1)
        assert clone(tok).get_params()["module__dropout"] == 0.1
        tok.set_params(module__dropout=0.0)
    c = clone(tok)
    assert c.get_params() == tok.get_params()
    c.set_params(codebook_size=5)
    assert c.codebook_size == 5 and tok.codebook_size == 4
    X = catalogue()
    if kw:  # dropout is not a module argument: the module must reject it clearly
        with pytest.raises(TypeError):
            clone(tok).fit(X)
        tok = small(cls)
    tok.fit(X)
    tok2 = pickle.loads(pickle.dumps(tok))
    np.testing.assert_array_equal(tok.transform(X)[0], tok2.transform(X)[0])


def test_module_params_reach_the_module():
    tok = small(ADCSIDTokenizer, module__commitment_weight=0.5).fit(catalogue())
    assert tok.net_.module_.codebooks()[0].commitment_weight == 0.5
    tok = small(RQVAETokenizer, module__commitment_weight=0.5).fit(catalogue())
    assert tok.net_.module_.quantizer.levels[0].commitment_weight == 0.5


def test_tiger_suffix_and_disambiguate():
    assert tiger_suffix(np.array([[1, 1], [0, 0], [1, 1]])).tolist() == [0, 0, 1]
    X = catalogue()
    tok = small(RQKMeansTokenizer, codebook_size=2, n_levels=1, disambiguate=True)
    codes, weights = tok.fit_transform(X)
    assert codes.shape[1] == 2 and len(np.unique(codes, axis=0)) == 80
    assert np.all(weights[:, -1] == 1)
    assert tok.collisions_.size == 80 and tok.collision_rate_ > 0.9
    assert tok.codebook_sizes_[-1] == codes[:, -1].max() + 1


@pytest.mark.parametrize("cls", ALL)
def test_report(cls):
    X = catalogue()
    tok = small(cls).fit(X)
    rep = tok.quantization_report(item_popularity=np.arange(80))
    assert rep["entropy"].shape == rep["utilization"].shape == (tok.code_length_,)
    assert np.isfinite(rep["recon_loss"]) and 0 <= rep["collision_rate"] < 1
    assert list(rep["popularity"].index) == ["head", "tail", "all"]
    with pytest.raises(ValueError, match="item_popularity"):
        tok.quantization_report(item_popularity=np.arange(5))


def _histories(n_users=60, n_items=40, seed=0):
    rng = np.random.RandomState(seed)
    X = [rng.randint(0, n_items - 1, size=rng.randint(2, 8)) for _ in range(n_users)]
    y = rng.randint(0, n_items - 1, size=n_users)
    return X, y


def _tiny_sasrec():
    from sksid.recommenders.sasrec import SASRecRecommender
    return SASRecRecommender(max_epochs=1, d_model=8, n_heads=1, d_ff=16, device="cpu",
                             random_state=0, validation_fraction=0.0)


class _CodesRec:
    """Minimal downstream step: records what the tokenizer passed on."""

    def fit(self, X, y):
        self.X_ = X
        return self

    def predict(self, X):
        return np.zeros((len(X), 1), dtype=np.int64)

    def get_params(self, deep=True):
        return {}

    def set_params(self, **p):
        return self


@pytest.mark.parametrize("cls", ALL)
def test_pipeline_path(cls):
    X, y = _histories()
    rng = np.random.RandomState(1)
    feats = {"text": rng.randn(40, 6).astype(np.float32)}
    pipe = Pipeline([("tok", small(cls, behavior_estimator=_tiny_sasrec())), ("rec", _CodesRec())])
    pipe.fit(X, y, tok__item_features=feats)
    tok = pipe.named_steps["tok"]
    passed = pipe.named_steps["rec"].X_
    assert isinstance(passed, SIDSequences) and passed.n_items == 40
    assert passed.codes.shape == (40, tok.code_length_)
    assert tok.item_embeddings_.shape == (40, 8)
    assert tok.item_popularity_.sum() == sum(len(s) for s in X) + len(y)
    if cls is ADCSIDTokenizer:  # counts are known on histories: reliability from them
        assert tok.reliability_ == "log_count"
        np.testing.assert_array_equal(tok.item_counts_, tok.item_popularity_)
    out = tok.transform([np.array([0, 1]), np.array([5])])
    np.testing.assert_array_equal(out.codes, tok.codes_)
    with pytest.raises(ValueError, match="unknown item ids"):
        tok.transform([np.array([0, 40])])
    # the behaviour model saw only (X, y): clone fitted, original untouched
    assert not hasattr(tok.behavior_estimator, "net_")


def test_pipeline_with_sasrec_recommender_and_n_items():
    from sksid.recommenders.sasrec import SASRecRecommender
    X, y = _histories()
    pipe = Pipeline([("tok", small(ADCSIDTokenizer, behavior_estimator=_tiny_sasrec(), n_items=45)),
                     ("rec", _tiny_sasrec())])
    pipe.fit(X, y)
    assert pipe.named_steps["tok"].codes_.shape[0] == 45
    assert pipe.predict(X[:3]).shape == (3, 10)
    assert isinstance(pipe.named_steps["rec"], SASRecRecommender)
    with pytest.raises(ValueError, match="needs y"):
        small(ADCSIDTokenizer, behavior_estimator=_tiny_sasrec()).fit(X)


def test_default_behavior_estimator_is_sasrec(monkeypatch):
    """The behaviour step (sksid.behavior) fits a SASRec seeded with the tokenizer's seed when no
    behavior_estimator is given, and counts history items and targets."""
    from sksid import behavior
    from sksid.recommenders.sasrec import SASRecRecommender

    monkeypatch.setattr(SASRecRecommender, "fit", lambda self, X, y: self)
    monkeypatch.setattr(SASRecRecommender, "item_embeddings_", property(lambda self: np.ones((5, 2))))
    out = behavior.fit_behavior_model([np.array([0, 1]), np.array([1])], np.array([2, 2]), 5, seed=3,
                                      device="cpu", verbose=0)
    assert isinstance(out.estimator, SASRecRecommender) and out.estimator.random_state == 3
    assert out.counts.tolist() == [1, 2, 2, 0, 0] and out.item_embeddings.dtype == np.float32


def test_real_slice_movielens_pipeline():
    from sksid.datasets import load_movielens_100k
    from sksid.features import encode_categories
    from sksid.model_selection import leave_last_out

    ds = load_movielens_100k()
    split = leave_last_out(ds)
    genres, _ = encode_categories(ds.item_categories)
    X, y = split.X_train[:150], split.y_train[:150]
    tok = small(ADCSIDTokenizer, codebook_size=16, max_epochs=1, batch_size=512,
                behavior_estimator=_tiny_sasrec())
    out = tok.fit_transform(X, y, item_features={"category": genres})
    assert out.n_items == ds.n_items and out.code_length == 5
    rep = tok.quantization_report()
    assert rep["utilization"].min() >= 0.9
    assert list(rep["popularity"].index) == ["head", "tail", "all"]


@pytest.mark.parametrize("cls", ["RQKMeansTokenizer", "OPQTokenizer", "RQVAETokenizer", "LETTERTokenizer",
                                 "MMRQVAETokenizer"])
def test_baseline_codes_do_not_depend_on_modality_key_order(cls):
    """Issue 10: 60-85 % of the rows changed when the dict keys were reordered."""
    import sksid

    rng = np.random.RandomState(0)
    feats = {"text": rng.randn(60, 8), "category": rng.randn(60, 3), "collab": rng.randn(60, 5)}
    kw = dict(codebook_size=4, random_state=0)
    if cls in ("RQVAETokenizer", "LETTERTokenizer", "MMRQVAETokenizer"):
        kw.update(max_epochs=2, hidden_dim=8, latent_dim=4, device="cpu")
    tok = getattr(sksid, cls)
    a, _ = tok(**kw).fit_transform(feats)
    b, _ = tok(**kw).fit_transform(dict(reversed(list(feats.items()))))
    np.testing.assert_array_equal(a, b)


def test_verbose_reaches_the_internal_behaviour_model(capsys):
    """Issue 9: the SASRec a tokenizer fits on histories trained for minutes in silence."""
    rng = np.random.RandomState(0)
    X = [rng.randint(0, 20, size=8) for _ in range(40)]
    y = rng.randint(0, 20, size=40)
    tok = RQKMeansTokenizer(codebook_size=4, random_state=0, verbose=1, n_items=20)
    tok.fit(X, y, item_features={"text": rng.randn(20, 4)})
    assert tok.behavior_estimator_.verbose == 1
    assert "valid_ndcg" in capsys.readouterr().out  # SASRec's epoch table was printed


# ---- chunked transform (million-item catalogues) -------------------------------------------
@pytest.mark.parametrize("form", ["dict", "store", "frame"])
def test_chunked_transform_equals_one_piece(form, tmp_path):
    """transform encodes feature input in chunks of rows (bounded working memory); the codes,
    weights and disambiguation equal those of a single piece, for every tokenizer, and
    ADC-SID's item_counts follow their rows across chunk boundaries."""
    import pandas as pd

    from sksid import (ADCSIDTokenizer, LETTERTokenizer, MMRQVAETokenizer, OPQTokenizer, RQKMeansTokenizer,
                       RQVAETokenizer)
    from sksid.feature_store import FeatureStore

    rng = np.random.RandomState(0)
    n = 301
    feats = {"text": rng.randn(n, 10).astype(np.float32), "collab": rng.randn(n, 5).astype(np.float32)}
    counts = rng.randint(0, 40, n)
    if form == "store":
        X = FeatureStore.save(tmp_path / "f", feats)
    elif form == "frame":
        X = pd.DataFrame(np.hstack([feats["text"], feats["collab"]]),
                         columns=[f"text:{j}" for j in range(10)] + [f"collab:{j}" for j in range(5)])
    else:
        X = feats
    small = dict(codebook_size=6, random_state=0, device="cpu")
    toks = [ADCSIDTokenizer(max_epochs=2, hidden_dim=8, latent_dim=4, reliability="log_count", **small),
            RQVAETokenizer(max_epochs=2, hidden_dim=8, latent_dim=4, **small),
            RQKMeansTokenizer(disambiguate=True, **small), OPQTokenizer(**small),
            LETTERTokenizer(n_levels=2, max_epochs=2, hidden_dim=8, latent_dim=4, **small),
            MMRQVAETokenizer(n_levels=2, max_epochs=2, hidden_dim=8, latent_dim=4, **small)]
    for tok in toks:
        is_adc = isinstance(tok, ADCSIDTokenizer)
        tok.fit(X, item_counts=counts) if is_adc else tok.fit(X)
        kw = dict(item_counts=counts[::-1].copy()) if is_adc else {}
        whole = tok.transform(X, **kw)
        tok._transform_chunk = 37  # 9 chunks, the last one short
        parts = tok.transform(X, **kw)
        np.testing.assert_array_equal(whole[0], parts[0])
        np.testing.assert_allclose(whole[1], parts[1], rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(parts[0], tok.transform(X, **kw)[0])
        if tok.disambiguate:  # the suffix is computed over all rows, not per chunk
            assert len({tuple(r) for r in parts[0]}) == n
        if is_adc:  # counts of the whole input, not of a chunk, and the fitted ones by default
            assert not np.allclose(parts[1], tok.transform(X)[1])
            np.testing.assert_array_equal(tok.transform(X)[0], tok.codes_)
