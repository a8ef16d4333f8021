import csv
import doctest
import importlib.util
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sksid.datasets import SequenceDataset, k_core_filter, load_amazon, load_movielens_100k
from sksid.datasets import _base, movielens

REPO = Path(__file__).resolve().parents[1]


def test_doctests():
    assert doctest.testmod(_base).failed == 0


# ------------------------------------------------------------------ MovieLens-100k
needs_recbole = pytest.mark.skipif(importlib.util.find_spec("recbole") is None,
                                   reason="recbole data files not installed")


@pytest.fixture(scope="module")
def ml100k():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the full data set loads without dropping anything
        return load_movielens_100k()


def _raw_inter():
    folder = movielens._recbole_ml100k_dir()
    return pd.read_csv(folder / "ml-100k.inter", sep="\t", quoting=csv.QUOTE_NONE, dtype=str)


@needs_recbole
def test_movielens_counts(ml100k):
    ds = ml100k
    assert isinstance(ds, SequenceDataset)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (943, 1682, 100000)
    assert len(ds.sequences) == 943 and ds.name == "ml-100k"
    assert all(s.dtype == np.int64 and s.ndim == 1 for s in ds.sequences)
    flat = np.concatenate(ds.sequences)
    assert flat.min() == 0 and flat.max() == 1681
    assert ds.item_popularity.sum() == 100000 and ds.item_popularity.min() >= 1
    assert np.array_equal(ds.item_popularity, np.bincount(flat, minlength=1682))
    assert len(ds.item_text) == len(ds.item_categories) == len(ds.raw_item_ids) == 1682
    assert ds.item_text[0] == "Toy Story (1995)"
    assert ds.item_categories[0] == ["Animation", "Children's", "Comedy"]
    assert ds.raw_item_ids[0] == "1" and ds.raw_user_ids[0] == "1"
    assert ds.item_text[266] == "" and ds.item_categories[266] == []  # the 'unkonwn' placeholder item
    assert sum(t == "" for t in ds.item_text) == 1
    assert min(len(s) for s in ds.sequences) == 20


@needs_recbole
def test_movielens_chronological_and_stable(ml100k):
    raw = _raw_inter()
    raw["ts"] = raw["timestamp:float"].astype(float)
    raw["row"] = np.arange(len(raw))
    ds = ml100k
    item_pos = {r: i for i, r in enumerate(ds.raw_item_ids)}
    n_tied_users = 0
    groups = dict(tuple(raw.sort_values(["user_id:token", "ts", "row"]).groupby("user_id:token", sort=False)))
    for u, raw_u in enumerate(ds.raw_user_ids):
        expected = groups[raw_u]  # time, then file order
        assert ds.sequences[u].tolist() == [item_pos[i] for i in expected["item_id:token"]]
        ts = expected["ts"].to_numpy()
        assert np.all(np.diff(ts) >= 0)
        n_tied_users += int(len(np.unique(ts[-3:])) < 3)
    assert n_tied_users == 599  # ties among the last three items (docs/protocol.md: ties keep file order)


@needs_recbole
def test_movielens_five_core_warns():
    with pytest.warns(UserWarning, match=r"dropped 0 user\(s\), 333 item\(s\) and 713 interaction"):
        ds = load_movielens_100k(min_interactions=5)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (943, 1349, 99287)
    assert ds.item_popularity.min() >= 5
    flat = np.concatenate(ds.sequences)
    assert flat.max() == ds.n_items - 1 and len(np.unique(flat)) == ds.n_items
    assert len(set(ds.raw_item_ids)) == 1349


def test_movielens_missing_recbole(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "recbole" else real(name, *a))
    with pytest.raises(ImportError, match=r"pip install --no-deps recbole==1\.2\.1"):
        load_movielens_100k()


# ------------------------------------------------------------------ Amazon (synthetic)
def _write_amazon(folder: Path, inter: dict, meta: dict | None, name: str = "Toy") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.inter.json").write_text(json.dumps(inter, indent=4))
    if meta is not None:
        (folder / f"{name}.item_meta.json").write_text(json.dumps(meta, indent=4))
    return folder


def _meta(i, **kw):
    m = {"asin": f"A{i:03d}", "title": f"Item {i}", "brand": "B" if i % 2 else "Unknown",
         "categories": [["Beauty", "Nails" if i % 2 else "Skin"]]}
    m.update(kw)
    return m


def test_amazon_no_filtering_needed(tmp_path):
    inter = {"0": [0, 1, 2], "1": [2, 1, 0, 3], "2": [3, 2]}
    meta = {str(i): _meta(i) for i in range(4)}
    meta["1"]["title"] = ""
    folder = _write_amazon(tmp_path / "toy", inter, meta)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_amazon(folder, min_interactions=None)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (3, 4, 9)
    assert [s.tolist() for s in ds.sequences] == [[0, 1, 2], [2, 1, 0, 3], [3, 2]]
    assert ds.raw_item_ids.tolist() == ["A000", "A001", "A002", "A003"]
    assert ds.raw_user_ids.tolist() == ["0", "1", "2"]
    assert ds.item_text[0] == "Item 0. Categories: Beauty, Skin"  # brand 'Unknown' is missing
    assert ds.item_text[1] == "Brand: B. Categories: Beauty, Nails"
    assert ds.item_categories[1] == ["Beauty", "Nails", "brand=B"]
    assert ds.item_popularity.tolist() == [2, 2, 3, 2]
    assert ds.name == "amazon-toy"


def test_amazon_k_core_iterates_and_remaps(tmp_path):
    # with k=2: user 3 has one item -> dropped; then item 9 (only used by user 3) goes;
    # item 5 is used once -> dropped, which leaves user 2 with one item -> dropped, ...
    inter = {"0": [0, 1, 4], "1": [1, 0, 4], "2": [5, 4], "3": [9], "4": [0, 1]}
    meta = {str(i): _meta(i) for i in range(10)}
    folder = _write_amazon(tmp_path / "toy", inter, meta)
    with pytest.warns(UserWarning) as rec:
        ds = load_amazon(folder, min_interactions=2)
    msgs = " | ".join(str(w.message) for w in rec)
    assert "dropped 5 item id(s) without any interaction" in msgs  # 2, 3, 6, 7, 8
    assert "2-core filtering dropped 2 user(s), 2 item(s) and 3 interaction(s)" in msgs
    assert ds.raw_user_ids.tolist() == ["0", "1", "4"]
    assert ds.raw_item_ids.tolist() == ["A000", "A001", "A004"]
    assert [s.tolist() for s in ds.sequences] == [[0, 1, 2], [1, 0, 2], [0, 1]]
    assert ds.item_popularity.min() >= 2 and min(len(s) for s in ds.sequences) >= 2


def test_k_core_until_stable():
    # k=2 chain: dropping user 2 removes item 3's support, which removes user 1's second item
    seqs = [np.array([0, 1]), np.array([0, 1, 3]), np.array([3, 2]), np.array([0, 1])]
    with pytest.warns(UserWarning, match="2-core"):
        kept, users, items = k_core_filter(seqs, 2, 4)
    assert users.tolist() == [0, 1, 3] and items.tolist() == [True, True, False, False]
    assert [s.tolist() for s in kept] == [[0, 1], [0, 1], [0, 1]]
    with pytest.raises(ValueError):
        k_core_filter(seqs, -1, 4)


@pytest.mark.parametrize("seqs, k, match", [
    ([np.array([0.0, 1.5])], 2, "non-integer"),        # 1.5 was truncated to 1
    ([np.array([0, 7])], 2, "unknown item ids"),        # numpy shape error before
    ([np.array([0, -1])], 2, "negative"),
    ([np.array([0, 1])], 2.5, "min_interactions"),
])
def test_k_core_rejects_bad_ids(seqs, k, match):
    with pytest.raises(ValueError, match=match):
        k_core_filter(seqs, k, 4)


def test_amazon_env_var_and_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("SKSID_AMAZON_BEAUTY", raising=False)
    with pytest.raises(ValueError, match="export SKSID_AMAZON_BEAUTY="):
        load_amazon()
    folder = _write_amazon(tmp_path / "Any", {"0": [0, 1], "1": [1, 0]}, None, name="Sports")
    monkeypatch.setenv("SKSID_AMAZON_BEAUTY", str(folder))
    with pytest.warns(UserWarning, match="item_meta.json not found"):
        ds = load_amazon(min_interactions=0)
    assert ds.item_text == ["", ""] and ds.raw_item_ids.tolist() == ["0", "1"] and ds.name == "amazon-sports"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_amazon(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="inter.json"):
        load_amazon(tmp_path)
    _write_amazon(folder, {"0": [0, 1]}, None, name="Beauty")
    with pytest.raises(ValueError, match="several data sets"):
        load_amazon(folder)
    with pytest.warns(UserWarning):
        assert load_amazon(folder, name="Beauty", min_interactions=None).n_users == 1
    bad = _write_amazon(tmp_path / "bad", {"0": [0, -1]}, None)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="negative"):
        load_amazon(bad)
    bad = _write_amazon(tmp_path / "bad2", {"0": [[0], [1]]}, None)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="flat list"):
        load_amazon(bad)


def test_dataset_container_checks():
    with pytest.raises(ValueError, match="n_users"):
        SequenceDataset(sequences=[np.array([0])], n_items=1, n_users=2, item_text=[""],
                        item_popularity=np.array([1]), item_categories=[[]], raw_item_ids=np.array(["a"]))
    with pytest.raises(ValueError, match="item_text"):
        SequenceDataset(sequences=[np.array([0])], n_items=1, n_users=1, item_text=[],
                        item_popularity=np.array([1]), item_categories=[[]], raw_item_ids=np.array(["a"]))


# ------------------------------------------------------------------ Amazon Beauty (real data)
def _beauty_dir():
    env = os.environ.get("SKSID_AMAZON_BEAUTY")
    cand = Path(env) if env else None
    return cand if cand is not None and (cand / "Beauty.inter.json").is_file() else None


@pytest.mark.slow
@pytest.mark.skipif(_beauty_dir() is None, reason="Amazon Beauty files not found (set SKSID_AMAZON_BEAUTY)")
def test_amazon_beauty_real():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # already 5-core: nothing is dropped
        ds = load_amazon(_beauty_dir())
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (22363, 12101, 198502)
    assert ds.item_popularity.min() >= 5 and min(len(s) for s in ds.sequences) >= 5
    assert ds.raw_item_ids[0] == "B004756YJA" and len(set(ds.raw_item_ids)) == 12101
    assert ds.sequences[1].tolist() == [5, 6, 7, 8, 9, 3, 10]
    assert sum(bool(t) for t in ds.item_text) == 12101
    assert all(c[0] == "Beauty" for c in ds.item_categories)
