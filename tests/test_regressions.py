"""Regression tests of reproduced defects (one test per defect, named after its number)."""
import numpy as np
import pytest

import sksid
from sksid import ADCSIDTokenizer, RQVAETokenizer


def _tiny_tokenizer(cls, **kw):
    if cls is RQVAETokenizer:
        params = dict(codebook_size=4, n_levels=2, hidden_dim=16, latent_dim=4)
    else:
        params = dict(codebook_size=4, hidden_dim=16, latent_dim=8)
    return cls(**{**params, "max_epochs": 1, "device": "cpu", "random_state": 0, **kw})


def _tokenizer_input(cls):
    rng = np.random.RandomState(0)
    if cls is RQVAETokenizer:
        return rng.randn(40, 6)
    return {"text": rng.randn(40, 8), "collab": rng.randn(40, 4)}


@pytest.mark.parametrize("cls", [ADCSIDTokenizer, RQVAETokenizer])
def test_defect_4_tokenizer_weight_decay_is_a_parameter(cls, tmp_path):
    """The torch-trained tokenizers trained with AdamW's hidden default weight_decay=0.01,
    which was neither a parameter nor documented."""
    X = _tokenizer_input(cls)
    default = _tiny_tokenizer(cls).fit(X)
    assert default.get_params()["weight_decay"] == 0.01  # today's effective value: same codes
    assert default.net_.optimizer_.param_groups[0]["weight_decay"] == 0.01
    tok = _tiny_tokenizer(cls, weight_decay=0.0).fit(X)
    assert tok.get_params()["weight_decay"] == 0.0
    assert tok.net_.optimizer_.param_groups[0]["weight_decay"] == 0.0
    with pytest.raises(ValueError, match="weight_decay"):
        _tiny_tokenizer(cls, weight_decay=-1.0).fit(X)
    path = tmp_path / "tok.sksid"
    sksid.save(tok, path)
    loaded = sksid.load(path)
    assert loaded.get_params()["weight_decay"] == 0.0
    np.testing.assert_array_equal(loaded.transform(X)[0], tok.transform(X)[0])


def _tiny_histories(n_items=30, n_users=40, seed=0):
    rng = np.random.RandomState(seed)
    X = [rng.randint(0, n_items, size=rng.randint(2, 9)) for _ in range(n_users)]
    y = rng.randint(0, n_items, size=n_users)
    return X, y


def test_defect_5_recommend_honours_the_exclude_seen_parameter():
    """recommend(X) ignored the estimator's exclude_seen=True (its own default was False),
    while predict honoured it."""
    from sksid import SASRecRecommender

    X, y = _tiny_histories()
    rec = SASRecRecommender(exclude_seen=True, d_model=16, n_layers=1, n_heads=2, d_ff=32, max_epochs=1,
                            top_k=5, device="cpu", random_state=0).fit(X, y)
    ids, scores = rec.recommend(X)
    for row, hist in zip(ids, X):
        assert not set(row.tolist()) & set(hist.tolist())
    np.testing.assert_array_equal(ids, rec.predict(X))
    kept, _ = rec.recommend(X, exclude_seen=False)  # an explicit argument still wins
    assert any(set(row.tolist()) & set(hist.tolist()) for row, hist in zip(kept, X))


def test_defect_6_intrr_behavior_anchors_accept_a_random_state():
    """IntRR(anchor_init="behavior") seeded its projection of the behaviour table with
    np.random.RandomState(random_state), a TypeError for a RandomState random_state."""
    from sksid import IntRRRecommender
    from sksid.sequences import SIDSequences

    n = 30
    X, y = _tiny_histories(n)
    codes = np.stack([np.arange(n) % 4, np.arange(n) // 4 % 4, np.arange(n) // 16], 1)
    table = np.random.RandomState(1).standard_normal((n, 8)).astype(np.float32)  # width != d_model
    seqs = SIDSequences(X, codes=codes, item_embeddings=table)
    kw = dict(d_model=16, n_layers=1, n_heads=2, head_dim=8, d_ff=32, max_epochs=1, validation_fraction=0,
              anchor_init="behavior", device="cpu")
    rec = IntRRRecommender(**kw, random_state=np.random.RandomState(0)).fit(seqs, y)
    assert rec.net_.module_.ran.uid.weight.shape == (n, 16)
    assert rec.predict(X[:3]).shape == (3, 10)
    # the same RandomState state gives the same model
    again = IntRRRecommender(**kw, random_state=np.random.RandomState(0)).fit(seqs, y)
    np.testing.assert_array_equal(rec.net_.module_.ran.uid.weight.detach().numpy(),
                                  again.net_.module_.ran.uid.weight.detach().numpy())


def test_defect_7_epoch_cap_warns_once_per_fit(monkeypatch, tmp_path):
    """SKSID_MAX_EPOCHS silently lowered max_epochs: a fit now warns, once, naming the
    variable, the cap and the requested value; a fit it does not shorten, and sksid.load,
    stay silent."""
    import warnings

    from sksid import SASRecRecommender

    X, y = _tiny_histories()
    rec = SASRecRecommender(d_model=16, n_layers=1, n_heads=2, d_ff=32, max_epochs=3, validation_fraction=0,
                            device="cpu", random_state=0)
    monkeypatch.setenv("SKSID_MAX_EPOCHS", "1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec.fit(X, y)
    capped = [w for w in caught if "SKSID_MAX_EPOCHS" in str(w.message)]
    assert len(capped) == 1 and issubclass(capped[0].category, UserWarning)
    msg = str(capped[0].message)
    assert "SKSID_MAX_EPOCHS=1" in msg and "max_epochs=3" in msg
    assert rec.n_epochs_ == 1
    # a tokenizer fit warns once too
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _tiny_tokenizer(RQVAETokenizer, max_epochs=2).fit(_tokenizer_input(RQVAETokenizer))
    assert sum("SKSID_MAX_EPOCHS" in str(w.message) for w in caught) == 1
    path = tmp_path / "rec.sksid"
    sksid.save(rec, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sksid.load(path)  # rebuilding the net is no fit
        rec.set_params(max_epochs=1).fit(X, y)  # the cap does not lower max_epochs=1


@pytest.mark.parametrize("name", ["IntRRRecommender", "TIGERRecommender"])
def test_defect_8_backbone_size_does_not_depend_on_the_device(name, capsys):
    """The same parameters built the reference backbone on CUDA and a small one on CPU, with
    no way to ask for the other; backbone_size="reference" / "small" now names the table."""
    from sksid.recommenders._sid import BACKBONE_CPU, BACKBONE_CUDA

    cls = getattr(sksid, name)
    n = 30
    X, y = _tiny_histories(n, n_users=20)
    codes = np.stack([np.arange(n) % 4, np.arange(n) // 4 % 4, np.arange(n) // 16], 1)
    kw = dict(max_epochs=1, max_len=5, validation_fraction=0, device="cpu", random_state=0)

    def n_params(rec):
        return sum(p.numel() for p in rec.net_.module_.parameters())

    auto = cls(**kw).fit(X, y, codes=codes)
    small = cls(**kw, backbone_size="small").fit(X, y, codes=codes)
    ref = cls(**kw, backbone_size="reference", verbose=1).fit(X, y, codes=codes)
    assert "reference backbone" in capsys.readouterr().out  # verbose says which size ran
    assert auto.backbone_ == small.backbone_ == BACKBONE_CPU
    assert auto.backbone_size_ == small.backbone_size_ == "small"
    assert ref.backbone_ == BACKBONE_CUDA and ref.backbone_size_ == "reference"
    assert n_params(auto) == n_params(small) < n_params(ref)
    one = cls(**kw, backbone_size="reference", n_layers=1).fit(X, y, codes=codes)  # fields still override
    assert one.backbone_ == dict(BACKBONE_CUDA, n_layers=1)
    with pytest.raises(ValueError, match="backbone_size"):
        cls(**kw, backbone_size="large").fit(X, y, codes=codes)
    # the size is part of a resumable fit's fingerprint: a checkpoint of one size never
    # resumes into another
    train = {"items": np.zeros((2, 3), np.int64)}
    assert small._fingerprint(train, (), {}, 0) != ref._fingerprint(train, (), {}, 0)


def test_defect_9a_max_len_below_one_raises():
    """training_windows(X, y, max_len=0) never returned (its window loop did not advance);
    pad_histories(max_len=0) failed with a broadcasting error."""
    from sksid.sequences import pad_histories, training_windows

    X, y = [np.array([1, 2, 3])], np.array([4])
    for bad in (0, -1, True, 2.0):
        with pytest.raises(ValueError, match="max_len must be a positive int"):
            pad_histories(X, max_len=bad)
        with pytest.raises(ValueError, match="max_len must be a positive int"):
            training_windows(X, y, max_len=bad)  # max_len=0 hung before the fix
    inp, tgt = training_windows(X, y, max_len=np.int64(1))
    assert inp.shape == tgt.shape == (3, 1)
    assert pad_histories(X, 1)[0].tolist() == [[3]]


def test_defect_9b_raw_ids_warn_before_building_a_huge_catalogue():
    """Raw ids (up to 100,000, 20,000 of them used) silently built a 100,000-item model: only
    under 10 % of the rows used raised."""
    from sksid import MostPopular

    rng = np.random.RandomState(0)
    raw = np.sort(rng.choice(100_000, size=20_000, replace=False))
    raw[-1] = 99_999
    X = [raw[i:i + 5] for i in range(0, raw.size, 5)]
    y = raw[rng.randint(0, raw.size, size=len(X))]
    with pytest.warns(UserWarning, match=r"(?s)item ids may be raw.*ItemEncoder.*n_items="):
        assert MostPopular().fit(X, y).n_items_ == 100_000
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MostPopular(n_items=100_000).fit(X, y)  # a catalogue that really is that large
        dense = [np.arange(i, i + 5) % 20_000 for i in range(0, 20_000, 5)]
        MostPopular().fit(dense + [np.array([19_999])], np.zeros(len(dense) + 1, int))
    with pytest.raises(ValueError, match="item ids look raw"):  # the extreme case still raises:
        MostPopular().fit(X[:100], y[:100])  # at most 600 of 100,000 ids used


def test_defect_9c_boolean_item_ids_raise():
    """Boolean histories and targets were accepted as items 0 and 1."""
    from sksid import MostPopular
    from sksid._validation import check_sequences, check_targets

    with pytest.raises(ValueError, match="bool"):
        check_sequences([np.array([True, False])])
    with pytest.raises(ValueError, match="bool"):
        check_sequences([[1, 2], [True, False]])
    with pytest.raises(ValueError, match="bool"):
        check_sequences(np.array([[True, False]]))
    with pytest.raises(ValueError, match="bool"):
        check_targets(np.array([True]), 1)
    with pytest.raises(ValueError, match="bool"):
        check_targets([False, True], 2)
    with pytest.raises(ValueError, match="bool"):
        MostPopular().fit([np.array([0, 1]), np.array([1, 2])], np.array([True, False]))
    assert check_sequences([np.array([], dtype=bool), [1]])[0].size == 0  # empty: no item at all
