"""RecommenderPipeline: a tokenizer -> recommender Pipeline that recommends, and checks its
input before any step trains (DataFrames, raw string ids, a Series of histories)."""
import doctest
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

import sksid
from sksid import IntRRRecommender, MostPopular, RecommenderPipeline, RQKMeansTokenizer, SASRecRecommender
from sksid import pipeline as pipeline_module
from sksid.pipeline import make_pipeline

SAS = dict(d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=6, max_epochs=1, device="cpu", random_state=0)
REC = dict(d_model=8, n_layers=1, n_heads=2, head_dim=4, d_ff=16, max_len=6, max_epochs=1, device="cpu",
           random_state=0, top_k=5, beam_width=5)
rng = np.random.RandomState(0)
X = [rng.randint(0, 30, size=rng.randint(2, 9)) for _ in range(60)]
Y = rng.randint(0, 30, size=60)


def test_doctests():
    assert doctest.testmod(pipeline_module).failed == 0


def _steps():
    return [("tok", RQKMeansTokenizer(codebook_size=4, n_levels=2, random_state=0, device="cpu",
                                      behavior_estimator=SASRecRecommender(**SAS))),
            ("rec", IntRRRecommender(**REC))]


@pytest.fixture(scope="module")
def fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RecommenderPipeline(_steps()).fit(X, Y)


def test_recommend_goes_through_the_tokenizer(fitted):
    ids, scores = fitted.recommend(X[:7], k=3)
    tok, rec = fitted.named_steps["tok"], fitted.named_steps["rec"]
    want_ids, want_scores = rec.recommend(tok.transform(X[:7]), k=3)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores)
    assert ids.shape == (7, 3) and scores.dtype == np.float32
    np.testing.assert_array_equal(fitted.predict(X[:7]), fitted.recommend(X[:7])[0])
    seen, _ = fitted.recommend(X[:7], k=5, exclude_seen=True)
    assert all(not set(row[row >= 0]) & set(h) for row, h in zip(seen, X[:7]))
    assert 0 <= fitted.score(X[:7], Y[:7]) <= 1


def test_make_pipeline_and_sklearn_behaviour():
    pipe = make_pipeline(MostPopular(top_k=2))
    assert isinstance(pipe, RecommenderPipeline) and pipe.steps[0][0] == "mostpopular"
    pipe.fit(X, Y)
    assert pipe.recommend(X[:2])[0].shape == (2, 2)
    from sklearn.base import clone
    assert isinstance(clone(pipe), RecommenderPipeline)
    # a final step without recommend: no recommend on the pipeline either
    from sklearn.preprocessing import FunctionTransformer
    assert not hasattr(RecommenderPipeline([("f", FunctionTransformer())]), "recommend")


def test_save_and_load(fitted, tmp_path):
    sksid.save(fitted, tmp_path / "pipe")
    back = sksid.load(tmp_path / "pipe")
    assert isinstance(back, RecommenderPipeline)
    np.testing.assert_array_equal(back.recommend(X[:5])[0], fitted.recommend(X[:5])[0])


def _not_fitted(pipe):
    return not hasattr(pipe.named_steps["tok"], "codes_")


def test_a_dataframe_fails_before_training():
    df = pd.DataFrame({"user_id": [0, 0, 1, 1], "item_id": [1, 2, 3, 4], "timestamp": [1, 2, 3, 4]})
    pipe = RecommenderPipeline(_steps())
    with pytest.raises(TypeError, match="X is a DataFrame.*from_interactions.*leave_last_out"):
        pipe.fit(df)
    assert _not_fitted(pipe)
    # a plain sklearn Pipeline: the tokenizer refuses an interaction frame without labels up front
    plain = Pipeline(_steps())
    with pytest.raises(ValueError, match="y is None.*0/1 label.*from_interactions"):
        plain.fit(df)
    assert _not_fitted(plain)


def test_string_ids_fail_before_training_and_say_how_to_encode():
    pipe = RecommenderPipeline(_steps())
    with pytest.raises(ValueError, match="must be integers.*from_interactions.*ItemEncoder"):
        pipe.fit([np.array(["tea", "jam"]), np.array(["jam"])], ["bun", "tea"])
    assert _not_fitted(pipe)
    with pytest.raises(ValueError, match="y has 2 entries but X has 60"):
        pipe.fit(X, Y[:2])
    assert _not_fitted(pipe)


@pytest.mark.parametrize("cls", [RecommenderPipeline, Pipeline])
def test_a_series_of_histories_is_accepted(cls):
    S = pd.Series([list(h) for h in X], index=[f"user{i}" for i in range(len(X))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = cls(_steps()).fit(S, pd.Series(Y))
    assert pipe.predict(S[:4]).shape == (4, 5)
