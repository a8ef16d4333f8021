"""End to end: tokenizer -> SID recommender in a Pipeline and in GridSearchCV (real slice)."""
import pickle

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sksid import (ADCSIDTokenizer, IntRRRecommender, OPQTokenizer, RQKMeansTokenizer, RQVAETokenizer,
                   SASRecRecommender, SIDSequences, TIGERRecommender)
from sksid.model_selection import leave_last_out

TINY_REC = dict(d_model=32, n_layers=1, n_heads=2, head_dim=16, d_ff=64, max_epochs=2, batch_size=128,
                device="cpu", random_state=0, patience=2)


def tiny_sasrec():
    return SASRecRecommender(d_model=16, n_layers=1, n_heads=2, d_ff=32, max_epochs=1, device="cpu",
                             random_state=0)


def tiny_tokenizer(cls, **kw):
    common = dict(codebook_size=16, random_state=0, device="cpu", behavior_estimator=tiny_sasrec())
    if cls is ADCSIDTokenizer:
        common.update(max_epochs=2, n_behavior=2)
    elif cls is RQVAETokenizer:
        common.update(max_epochs=2)
    common.update(kw)
    return cls(**common)


@pytest.fixture(scope="module")
def slice_split(ml100k):
    seqs = [s[-25:] for s in ml100k.sequences[:150]]
    return leave_last_out(seqs, max_len=20)


@pytest.mark.parametrize("tok_cls", [ADCSIDTokenizer, RQVAETokenizer, RQKMeansTokenizer, OPQTokenizer])
@pytest.mark.parametrize("rec_cls", [IntRRRecommender, TIGERRecommender])
def test_pipeline_any_tokenizer_any_sid_recommender(slice_split, tok_cls, rec_cls):
    s = slice_split
    pipe = Pipeline([("tok", tiny_tokenizer(tok_cls)), ("rec", rec_cls(**TINY_REC))])
    pipe.fit(s.X_train, s.y_train)
    pred = pipe.predict(s.X_test)
    n_items = pipe.named_steps["tok"].codes_.shape[0]
    assert pred.shape == (len(s.X_test), 10)
    assert pred.min() >= 0 and pred.max() < n_items
    assert all(len(set(row)) == 10 for row in pred)
    transformed = pipe.named_steps["tok"].transform(s.X_test)
    assert isinstance(transformed, SIDSequences) and len(transformed) == len(s.X_test)


def test_pipeline_with_content_modalities_and_pickle(slice_split, ml100k, monkeypatch):
    s = slice_split
    rng = np.random.RandomState(0)
    n_items = ml100k.n_items
    feats = {"text": rng.normal(size=(n_items, 24)).astype(np.float32),
             "category": (rng.rand(n_items, 6) > 0.7).astype(np.float32)}
    pipe = Pipeline([("tok", tiny_tokenizer(ADCSIDTokenizer)), ("rec", IntRRRecommender(**TINY_REC))])
    pipe.fit(s.X_train, s.y_train, tok__item_features=feats)
    tok = pipe.named_steps["tok"]
    assert tok.codes_.shape[0] == n_items  # the catalogue comes from the content features
    ref = pipe.predict(s.X_test)
    # a pipeline saved after GPU training loads and predicts on a CPU-only machine
    pipe.named_steps["rec"].device_ = "cuda"
    pipe.named_steps["tok"].device_ = "cuda"
    data = pickle.dumps(pipe)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = pickle.loads(data)
    np.testing.assert_array_equal(loaded.predict(s.X_test), ref)
    assert loaded.named_steps["tok"].device_ == "cpu" and loaded.named_steps["rec"].device_ == "cpu"
    np.testing.assert_array_equal(loaded.named_steps["tok"].transform(s.X_test).codes, tok.codes_)


def test_pipeline_default_constructors(slice_split):
    """Default constructors fit and predict (defaults shortened only through set_params)."""
    s = slice_split
    pipe = Pipeline([("tok", ADCSIDTokenizer()), ("rec", IntRRRecommender())])
    pipe.set_params(tok__max_epochs=1, tok__random_state=0, tok__device="cpu",
                    tok__behavior_estimator=tiny_sasrec(), tok__codebook_size=16,
                    rec__max_epochs=1, rec__random_state=0, rec__device="cpu")
    pipe.fit(s.X_train, s.y_train)
    assert pipe.predict(s.X_test).shape == (len(s.X_test), 10)


def test_gridsearch_over_tokenizer_and_recommender_params_parallel(slice_split):
    s = slice_split
    X, y, cv = s.search_data()
    pipe = Pipeline([("tok", tiny_tokenizer(RQKMeansTokenizer)), ("rec", IntRRRecommender(**TINY_REC))])
    gs = GridSearchCV(pipe, {"tok__codebook_size": [8, 16], "rec__alignment_weight": [0.0, 0.1]},
                      cv=cv, n_jobs=2, error_score="raise")
    gs.fit(X, y)
    assert len(gs.cv_results_["params"]) == 4
    assert np.all(np.isfinite(gs.cv_results_["mean_test_score"]))
    assert gs.best_estimator_.predict(s.X_test).shape == (len(s.X_test), 10)
