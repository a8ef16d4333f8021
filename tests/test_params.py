"""Declared parameter constraints: every public estimator validates its parameters in fit
through scikit-learn's machinery, and bad values raise a ValueError naming them."""
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import check_param_validation

import sksid
from sksid import (
    ADCSIDTokenizer,
    LETTERTokenizer,
    MMRQVAETokenizer,
    ContentKNN,
    IntRRRecommender,
    MostPopular,
    OPQTokenizer,
    RPGRecommender,
    RQKMeansTokenizer,
    RQVAETokenizer,
    SASRecRecommender,
    TIGERRecommender,
)
from sksid._validation import DeviceOptions, StrictInterval

ESTIMATORS = [getattr(sksid, n) for n in sksid.__all__
              if isinstance(getattr(sksid, n), type) and hasattr(getattr(sksid, n), "get_params")]
# the estimators with parameters of their own (a RecommenderPipeline's are scikit-learn
# Pipeline's, validated by scikit-learn; it cannot be built without its steps)
OWN_PARAMS = [c for c in ESTIMATORS if c.__name__ != "RecommenderPipeline"]
N_ITEMS = 30


def test_every_public_estimator_is_listed():
    assert {c.__name__ for c in ESTIMATORS} == {
        "MostPopular", "ContentKNN", "SASRecRecommender", "IntRRRecommender", "TIGERRecommender", "RPGRecommender",
        "ADCSIDTokenizer", "RQVAETokenizer", "RQKMeansTokenizer", "OPQTokenizer", "LETTERTokenizer", "MMRQVAETokenizer",
        "SIDRanker",
        "ItemEncoder", "RecommenderPipeline"}


@pytest.mark.parametrize("cls", OWN_PARAMS, ids=lambda c: c.__name__)
def test_sklearn_check_param_validation(cls):
    # one constraint per parameter, and every invalid type or value raises
    # InvalidParameterError from fit (before the data is looked at)
    check_param_validation(cls.__name__, cls())


def _data(n_users=40, seed=0):
    rng = np.random.RandomState(seed)
    X = [rng.randint(0, N_ITEMS, size=rng.randint(2, 8)) for _ in range(n_users)]
    y = rng.randint(0, N_ITEMS, size=n_users)
    return X, y


def _codes():
    i = np.arange(N_ITEMS)
    return np.stack([i % 4, i // 4 % 4, i // 16], 1)


TINY = dict(max_epochs=2, device="cpu", random_state=0, validation_fraction=0.0)
TINY_SID = dict(TINY, d_model=16, n_layers=1, n_heads=2, head_dim=8, d_ff=32)


def _fit(cls, **params):
    X, y = _data()
    if cls is SASRecRecommender:
        return cls(**{**TINY, "d_model": 16, "n_heads": 2, "d_ff": 32, **params}).fit(X, y)
    if cls in (IntRRRecommender, TIGERRecommender):
        return cls(**{**TINY_SID, **params}).fit(X, y, codes=_codes())
    if cls is RPGRecommender:
        return cls(**{**TINY, "d_model": 16, "d_ff": 32, **params}).fit(X, y, codes=_codes())
    if cls is MostPopular:
        return cls(**params).fit(X, y)
    if cls is ContentKNN:
        return cls(**params).fit(X, y, item_features=np.random.RandomState(0).randn(N_ITEMS, 4))
    feats = np.random.RandomState(0).randn(N_ITEMS, 6)
    base = dict(codebook_size=4, device="cpu", random_state=0)
    if cls in (ADCSIDTokenizer, RQVAETokenizer, LETTERTokenizer, MMRQVAETokenizer):
        base.update(max_epochs=1, hidden_dim=8, latent_dim=4)
    return cls(**{**base, **params}).fit(feats)


# the bad values users hit (issue 10); each trained silently into garbage, hung or failed
# with an unrelated error before
BAD = [
    (SASRecRecommender, "d_model", 0), (SASRecRecommender, "n_heads", 0),
    (SASRecRecommender, "max_len", 0), (SASRecRecommender, "max_len", 2.5),
    (SASRecRecommender, "max_epochs", -1), (SASRecRecommender, "max_epochs", 0),
    (SASRecRecommender, "batch_size", 0), (SASRecRecommender, "top_k", True),
    (SASRecRecommender, "validation_fraction", -0.5), (SASRecRecommender, "device", "gpu"),
    (IntRRRecommender, "d_model", 0), (IntRRRecommender, "head_dim", 0),
    (IntRRRecommender, "n_heads", 0), (IntRRRecommender, "tau", 0),
    (IntRRRecommender, "max_len", 0), (IntRRRecommender, "max_epochs", 0),
    (TIGERRecommender, "max_len", 0), (TIGERRecommender, "head_dim", 0),
    (TIGERRecommender, "top_k", True),
    (RPGRecommender, "temperature", 0), (RPGRecommender, "decoding", "beam"),
    (RPGRecommender, "beam_width", 0), (RPGRecommender, "graph_neighbors", 0),
    (RPGRecommender, "propagation_steps", -1), (RPGRecommender, "max_len", 0),
    (MostPopular, "top_k", True), (MostPopular, "top_k", 0), (MostPopular, "device", "gpu"),
    (ContentKNN, "n_recent", 0), (ContentKNN, "n_recent", 2.5), (ContentKNN, "decay", 0),
    (ContentKNN, "decay", 1.5), (ContentKNN, "decay", float("nan")), (ContentKNN, "top_k", True),
    (RQVAETokenizer, "latent_dim", 0), (RQVAETokenizer, "hidden_dim", 0),
    (RQVAETokenizer, "max_epochs", -1),
    (ADCSIDTokenizer, "latent_dim", 0), (ADCSIDTokenizer, "hidden_dim", 0),
    (RQKMeansTokenizer, "n_iter", -5), (OPQTokenizer, "n_iter", -5),
    (OPQTokenizer, "n_iter", 0),
    (LETTERTokenizer, "temperature", 0), (LETTERTokenizer, "n_clusters", 0),
    (LETTERTokenizer, "sinkhorn_epsilon", 0), (LETTERTokenizer, "diversity_weight", -1.0),
    (MMRQVAETokenizer, "alignment", "cosine"), (MMRQVAETokenizer, "reconstruction", "l1"),
    (MMRQVAETokenizer, "temperature", 0), (MMRQVAETokenizer, "n_levels", 0),
]


@pytest.mark.parametrize("cls, name, value", BAD,
                         ids=[f"{c.__name__}-{n}={v!r}" for c, n, v in BAD])
def test_bad_parameter_raises_naming_it(cls, name, value):
    with pytest.raises(ValueError, match=f"'{name}' parameter of {cls.__name__}") as exc:
        _fit(cls, **{name: value})
    assert isinstance(exc.value, InvalidParameterError)


def test_sasrec_more_heads_than_width_raises():
    with pytest.raises(ValueError, match="n_heads=4 exceeds d_model=2"):
        _fit(SASRecRecommender, d_model=2, n_heads=4)


def test_strict_interval_and_device_options():
    from numbers import Integral
    iv = StrictInterval(Integral, 1, None, closed="left")
    assert iv.is_satisfied_by(3) and iv.is_satisfied_by(np.int64(3))
    assert not iv.is_satisfied_by(True) and not iv.is_satisfied_by(np.bool_(True))
    dev = DeviceOptions()
    for ok in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        assert dev.is_satisfied_by(ok)
    for bad in ("gpu", "cuda:", "cuda:x", "CPU", 0):
        assert not dev.is_satisfied_by(bad)


def test_skorch_prefixed_parameters_are_not_validated_and_survive_clone():
    est = SASRecRecommender(**TINY, d_model=16, optimizer__betas=(0.9, 0.98))
    est._validate_params()  # prefixed names are not declared; sklearn skips them
    c = clone(est)
    assert c.get_params()["optimizer__betas"] == (0.9, 0.98)
    X, y = _data()
    c.fit(X, y)
    assert c.net_.optimizer_.param_groups[0]["betas"] == (0.9, 0.98)


def test_sasrec_accepts_lists_of_lists():
    X, y = _data()
    rec = SASRecRecommender(**TINY, d_model=16).fit([s.tolist() for s in X], y.tolist())
    assert rec.n_items_ == N_ITEMS and rec.predict([[0, 1], [2]]).shape == (2, 10)


@pytest.mark.parametrize("cls", [MostPopular, SASRecRecommender, IntRRRecommender],
                         ids=lambda c: c.__name__)
def test_set_params_top_k_after_fit(cls):
    rec = _fit(cls, **({"beam_width": 40} if cls is IntRRRecommender else {}))
    X, _ = _data(5, seed=1)
    assert rec.set_params(top_k=25).predict(X).shape == (5, 25)
    # more than the catalogue holds: the fit-time error, not a wrong shape or a torch error
    with pytest.raises(ValueError, match=f"top_k=35 exceeds the number of catalogue items \\({N_ITEMS}\\)"):
        rec.set_params(top_k=35).predict(X)
    with pytest.raises(ValueError, match="'top_k' parameter"):
        rec.set_params(top_k=True).predict(X)


@pytest.mark.parametrize("cls", [MostPopular, SASRecRecommender, IntRRRecommender],
                         ids=lambda c: c.__name__)
def test_dataframe_input_says_how_to_pass_histories(cls):
    df = pd.DataFrame({"user": [0, 0, 1], "item": [1, 2, 3], "timestamp": [1, 2, 3]})
    est = cls(**TINY) if cls is not MostPopular else cls()
    with pytest.raises(TypeError, match="X is a DataFrame.*list of 1-D int arrays.*from_interactions"):
        est.fit(df, [0, 1, 2])


def test_one_name_per_concept_alignment_weight():
    """The alignment-loss weight has one name on every estimator that has one (it was
    ``align_weight`` on the tokenizer and ``alignment_weight`` on IntRR)."""
    names = {c.__name__: set(c().get_params()) for c in OWN_PARAMS}
    assert not any("align_weight" in p for p in names.values())
    assert "alignment_weight" in names["ADCSIDTokenizer"]
    assert "alignment_weight" in names["IntRRRecommender"]


def _split_with_test_only_item():
    """A leave-last-out split where item 7 occurs only in a test history (issue 10)."""
    from sksid.model_selection import leave_last_out

    rng = np.random.RandomState(0)
    seqs = [rng.randint(0, 7, size=8) for _ in range(30)]
    seqs[0] = np.array([0, 1, 2, 3, 4, 5, 7, 6])  # 7 is this user's validation item
    return leave_last_out(seqs, max_len=5, n_items=8)


@pytest.mark.parametrize("cls", [MostPopular, SASRecRecommender])
def test_items_seen_only_at_predict_are_in_the_catalogue(cls):
    split = _split_with_test_only_item()
    assert split.n_items == 8
    assert 7 not in np.concatenate(split.X_train) and 7 not in split.y_train
    kw = dict(max_epochs=1, d_model=8, n_heads=1, d_ff=8, device="cpu") if cls is SASRecRecommender else {}
    rec = cls(n_items=split.n_items, top_k=3, random_state=0, **kw).fit(split.X_train, split.y_train)
    assert rec.n_items_ == 8
    assert rec.predict(split.X_test).shape == (len(split.X_test), 3)
    # without n_items: the split's histories carry the catalogue size
    rec = cls(top_k=3, random_state=0, **kw).fit(split.X_train, split.y_train)
    assert rec.n_items_ == 8
    # plain lists carry nothing: the never-trained item is unknown, and the error says what to do
    rec = cls(top_k=3, random_state=0, **kw).fit(list(split.X_train), split.y_train)
    with pytest.raises(ValueError, match="unknown item.*n_items="):
        rec.predict(split.X_test)


def test_n_items_smaller_than_the_ids_raises():
    with pytest.raises(ValueError, match="n_items=3"):
        MostPopular(n_items=3, top_k=1).fit([np.array([0, 5])], [1])


@pytest.mark.parametrize("cls", [IntRRRecommender, TIGERRecommender])
def test_sid_models_n_items_must_match_the_codes(cls):
    codes = np.stack([np.arange(6) % 2, np.arange(6) // 2], 1)
    with pytest.raises(ValueError, match="codes cover 6 items"):
        cls(n_items=7, max_epochs=1, device="cpu").fit([np.array([0, 1, 2])], [3], codes=codes)


def test_mostpopular_exclude_seen_pads_with_minus_one():
    rec = MostPopular(top_k=3, exclude_seen=True).fit([np.array([0, 1, 2])], [1])
    assert rec.predict([np.array([0, 1])]).tolist() == [[2, -1, -1]]


@pytest.mark.parametrize("cls", [SASRecRecommender, IntRRRecommender, TIGERRecommender])
def test_user_callbacks_are_honoured_and_survive_clone(cls):
    """Issue 10: a user ``callbacks`` parameter (skorch's LRScheduler here)."""
    from skorch.callbacks import LRScheduler

    sched = LRScheduler(policy="StepLR", step_size=1, gamma=0.5, event_name="event_lr")
    rec = _fit(cls, callbacks=[("halve", sched)], max_epochs=3)
    lrs = [row["event_lr"] for row in rec.net_.history]
    np.testing.assert_allclose(lrs, [rec.lr, rec.lr / 2, rec.lr / 4])
    assert not hasattr(sched, "lr_scheduler_")  # the parameter itself was not initialised
    twin = clone(rec)
    assert twin.callbacks[0][0] == "halve" and twin.callbacks[0][1] is not sched
    with pytest.raises(ValueError, match=r"callbacks\[0\] must be a skorch Callback"):
        _fit(cls, callbacks=["not a callback"])
