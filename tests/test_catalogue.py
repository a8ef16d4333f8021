"""The catalogue size travels with leave_last_out's histories: fit on ``split.X_train``,
predict on ``split.X_test`` with no ``n_items=``, items seen only in validation or test
histories included."""
import pickle
import warnings

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from sksid import ADCSIDTokenizer, IntRRRecommender, MostPopular, SASRecRecommender
from sksid.model_selection import leave_last_out
from sksid.sequences import Histories

SAS = dict(d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=6, max_epochs=1, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def split():
    rng = np.random.RandomState(0)
    seqs = [rng.randint(0, 30, size=8) for _ in range(60)]
    seqs[0] = np.array([1, 2, 3, 4, 5, 30, 6, 7])  # item 30: only in the test history
    seqs[1] = np.array([1, 2, 3, 4, 5, 6, 31, 7])  # item 31: only in validation / test histories
    return leave_last_out(seqs, max_len=6, n_items=33)


def test_the_split_parts_carry_the_catalogue(split):
    for part in (split.X_train, split.X_valid, split.X_test):
        assert isinstance(part, Histories) and part.n_items == 33 == split.n_items
    back = pickle.loads(pickle.dumps(split.X_train))
    assert isinstance(back, Histories) and back.n_items == 33 and len(back) == 60
    with pytest.raises(ValueError, match="item id 5 but n_items=3"):
        Histories([np.array([5])], n_items=3)


@pytest.mark.parametrize("make", [lambda: MostPopular(), lambda: SASRecRecommender(**SAS)],
                         ids=["MostPopular", "SASRec"])
def test_recommenders_fit_the_whole_catalogue(split, make):
    est = make().fit(split.X_train, split.y_train)
    assert est.n_items_ == 33
    assert est.predict(split.X_test).shape == (60, 10)
    # an explicit n_items still wins
    assert make().set_params(n_items=40).fit(split.X_train, split.y_train).n_items_ == 40


def test_the_default_pipeline_fits_the_whole_catalogue(split):
    tok = ADCSIDTokenizer(codebook_size=4, max_epochs=1, hidden_dim=8, latent_dim=4, device="cpu",
                          random_state=0, behavior_estimator=SASRecRecommender(**SAS))
    rec = IntRRRecommender(d_model=8, n_layers=1, n_heads=2, head_dim=4, d_ff=16, max_len=6,
                           max_epochs=1, device="cpu", random_state=0, top_k=5, beam_width=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = Pipeline([("tok", tok), ("rec", rec)]).fit(split.X_train, split.y_train)
    assert pipe.named_steps["tok"].n_items_ == 33 and pipe.named_steps["rec"].n_items_ == 33
    assert pipe.predict(split.X_test).shape == (60, 5)


def test_a_plain_list_still_says_how_to_fix(split):
    rec = MostPopular().fit(list(split.X_train), split.y_train)
    with pytest.raises(ValueError, match=r"unknown item ids.*leave_last_out\(\.\.\.\)\.X_train.*n_items="):
        rec.predict(split.X_test)
