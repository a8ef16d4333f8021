"""ADC-SID on cold items (training count 0): nothing of their behavioural row reaches a
code, a weight or the training of the other items."""
import numpy as np
import pytest

from sksid import SASRecRecommender
from sksid.tokenizers import ADCSIDTokenizer


def tok(**kw):
    base = dict(codebook_size=6, hidden_dim=16, latent_dim=8, max_epochs=3, batch_size=32,
                device="cpu", random_state=0)
    base.update(kw)
    return ADCSIDTokenizer(**base)


def catalogue(n=80, n_cold=12, seed=0):
    rng = np.random.RandomState(seed)
    X = {"text": rng.randn(n, 10).astype(np.float32), "collab": rng.randn(n, 6).astype(np.float32)}
    counts = rng.randint(1, 50, size=n)
    cold = np.sort(rng.choice(n, n_cold, replace=False))
    counts[cold] = 0
    return X, counts, cold


def noisy(X, rows, seed, scale=10.0):
    """``X`` with the behavioural rows ``rows`` replaced by large random noise."""
    out = {m: a.copy() for m, a in X.items()}
    out["collab"][rows] = scale * np.random.RandomState(seed).randn(len(rows), X["collab"].shape[1])
    return out


@pytest.mark.parametrize("reliability", ["auto", "norm"])
def test_cold_codes_and_weights_ignore_their_behavioural_row(reliability):
    X, counts, cold = catalogue()
    t = tok(reliability=reliability).fit(X, item_counts=counts)
    b = t._behavior_positions()
    # documented values: weight 0 at every behavioural position, the content weights as usual
    np.testing.assert_array_equal(t.weights_[cold][:, b], 0.0)
    np.testing.assert_array_equal(t.raw_weights_[cold][:, b], 0.0)
    assert np.all(t.weights_[cold][:, 0] == 1.0)  # the shared code
    assert (t.weights_[np.setdiff1d(np.arange(len(counts)), cold)][:, b] > 0).any()
    # encoding: replacing a cold item's row by noise changes nothing
    for seed in (1, 2):
        codes, weights = t.transform(noisy(X, cold, seed))
        np.testing.assert_array_equal(codes, t.codes_)
        np.testing.assert_array_equal(weights, t.weights_)
    # fitting: the cold rows move neither the scaler nor the training, so every item's
    # code (warm ones too) is the same whatever noise the cold rows hold
    t2 = tok(reliability=reliability).fit(noisy(X, cold, 3), item_counts=counts)
    np.testing.assert_array_equal(t2.codes_, t.codes_)
    np.testing.assert_allclose(t2.weights_, t.weights_, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(t2.scalers_["collab"][0], t.scalers_["collab"][0])


def test_cold_behavioural_codes_are_those_of_the_mean_embedding():
    X, counts, cold = catalogue()
    t = tok().fit(X, item_counts=counts)
    b = t._behavior_positions()
    # every cold item's behavioural codes are the codes of the (warm) catalogue mean
    assert len(np.unique(t.codes_[cold][:, b], axis=0)) == 1
    mean_row = {m: a[:1].copy() for m, a in X.items()}
    mean_row["collab"][:] = t.scalers_["collab"][0]
    c_mean, _ = t.transform(mean_row, item_counts=np.ones(1))
    np.testing.assert_array_equal(t.codes_[cold[0], b], c_mean[0, b])
    # new rows passed to transform are cold by default, and their rows are ignored too
    new = noisy({m: a[:5] for m, a in X.items()}, np.arange(5), 4)
    c_new, w_new = t.transform(new)
    np.testing.assert_array_equal(w_new[:, b], 0.0)
    np.testing.assert_array_equal(c_new[:, b], np.repeat(c_mean[:, b], 5, 0))


def test_histories_input_marks_items_never_seen_as_cold():
    rng = np.random.RandomState(0)
    n = 60
    feats = {"text": rng.randn(n, 8).astype(np.float32)}
    X = [rng.randint(0, 50, size=6) for _ in range(80)]  # items 50..59 never occur
    y = rng.randint(0, 50, size=80)
    sas = SASRecRecommender(d_model=8, n_layers=1, n_heads=1, d_ff=16, max_epochs=1, device="cpu",
                            random_state=0)
    t = tok(behavior_estimator=sas, n_items=n)
    t.fit(X, y, item_features=feats)
    assert np.all(t.item_counts_[50:] == 0)
    np.testing.assert_array_equal(t.weights_[50:][:, t._behavior_positions()], 0.0)
