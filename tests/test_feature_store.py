"""FeatureStore: item features on disk, shared by reference (pickles as a path)."""
import pickle

import numpy as np
import pytest

from sksid import ADCSIDTokenizer, RQVAETokenizer
from sksid.feature_store import FeatureStore


@pytest.fixture
def feats():
    rng = np.random.RandomState(0)
    return {"text": rng.randn(40, 8).astype(np.float32), "category": rng.randint(0, 2, (40, 3)).astype(np.float32)}


def test_round_trip_and_pickle_is_a_path(feats, tmp_path):
    store = FeatureStore.save(tmp_path / "f", feats)
    assert sorted(store) == sorted(feats) and len(store) == 2
    for k, v in feats.items():
        np.testing.assert_array_equal(store[k], v)
        assert isinstance(store[k], np.memmap)
    blob = pickle.dumps(store)
    assert len(blob) < 500  # the folder path, not 40 x 11 floats
    again = pickle.loads(blob)
    np.testing.assert_array_equal(again["text"], feats["text"])
    assert "FeatureStore(" in repr(store)
    with pytest.raises(KeyError):
        store["nope"]


def test_tokenizers_give_the_same_codes_from_a_store(feats, tmp_path):
    store = FeatureStore.save(tmp_path / "f", feats)
    kw = dict(codebook_size=4, max_epochs=2, device="cpu", random_state=0)
    a = RQVAETokenizer(n_levels=2, hidden_dim=8, latent_dim=4, **kw).fit(feats)
    b = RQVAETokenizer(n_levels=2, hidden_dim=8, latent_dim=4, **kw).fit(store)
    np.testing.assert_array_equal(a.codes_, b.codes_)
    np.testing.assert_array_equal(a.transform(feats)[0], b.transform(store)[0])
    rng = np.random.RandomState(1)
    X = [rng.randint(0, 40, size=6) for _ in range(50)]
    y = rng.randint(0, 40, size=50)
    from sksid import SASRecRecommender
    beh = SASRecRecommender(d_model=8, n_layers=1, n_heads=1, d_ff=16, max_epochs=1, device="cpu", random_state=0)
    c = ADCSIDTokenizer(behavior_estimator=beh, hidden_dim=8, latent_dim=4, **kw).fit(X, y, item_features=feats)
    d = ADCSIDTokenizer(behavior_estimator=beh, hidden_dim=8, latent_dim=4, **kw).fit(X, y, item_features=store)
    np.testing.assert_array_equal(c.codes_, d.codes_)


def test_bad_folders_and_names(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a FeatureStore folder"):
        FeatureStore(tmp_path)
    with pytest.raises(ValueError, match="2-D"):
        FeatureStore.save(tmp_path / "a", {"text": np.zeros(3)})
    with pytest.raises(ValueError, match="plain non-empty"):
        FeatureStore.save(tmp_path / "b", {"../x": np.zeros((2, 2))})
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "modalities.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match="list the modality names"):
        FeatureStore(tmp_path / "c")


def test_writer_fills_a_store_in_chunks_and_only_indexes_it_when_complete(feats, tmp_path):
    shapes = {k: v.shape for k, v in feats.items()}
    with FeatureStore.writer(tmp_path / "w", shapes) as out:
        assert not (tmp_path / "w" / "modalities.json").exists()  # not a store while writing
        for k, v in feats.items():
            for s in range(0, len(v), 16):
                out[k][s:s + 16] = v[s:s + 16]
    store = FeatureStore(tmp_path / "w")
    assert list(store) == list(feats)
    for k, v in feats.items():
        np.testing.assert_array_equal(store[k], v)
        assert store[k].dtype == np.float32
    with pytest.raises(RuntimeError), FeatureStore.writer(tmp_path / "w", shapes) as out:
        out["text"][:] = 0
        raise RuntimeError("interrupted")
    with pytest.raises(FileNotFoundError, match="not a FeatureStore"):
        FeatureStore(tmp_path / "w")  # an interrupted rewrite leaves no index behind
    with pytest.raises(ValueError, match="2-D"):
        with FeatureStore.writer(tmp_path / "bad", {"text": (3,)}):
            pass
    with pytest.raises(ValueError, match="plain non-empty"):
        with FeatureStore.writer(tmp_path / "bad", {".hidden": (3, 2)}):
            pass
