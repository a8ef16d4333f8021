"""sksid.save / sksid.load: the pickle-free format round-trips every estimator, maps GPU
models to the CPU, and rejects tampered or truncated files with a clear ValueError."""
import json
import zipfile

import numpy as np
import pytest
import torch
from sklearn.pipeline import Pipeline

import sksid
from sksid import (ADCSIDTokenizer, ContentKNN, IntRRRecommender, LETTERTokenizer, MMRQVAETokenizer, MostPopular,
                   OPQTokenizer, RPGRecommender, RQKMeansTokenizer, RQVAETokenizer, SASRecRecommender, SIDRanker, TIGERRecommender)

N_ITEMS = 30
TINY_SID = dict(d_model=16, n_layers=1, n_heads=2, head_dim=8, d_ff=32, max_epochs=2, device="cpu",
                random_state=0)


def tiny_sasrec(**kw):
    params = dict(d_model=16, n_layers=1, n_heads=2, d_ff=32, max_epochs=2, device="cpu", random_state=0)
    return SASRecRecommender(**{**params, **kw})


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = [rng.randint(0, N_ITEMS, size=rng.randint(1, 9)) for _ in range(60)]
    y = rng.randint(0, N_ITEMS, size=60)
    codes = np.stack([np.arange(N_ITEMS) % 4, np.arange(N_ITEMS) // 4 % 4, np.arange(N_ITEMS) // 16], 1)
    feats = rng.randn(N_ITEMS, 6)
    return X, y, codes, feats


def _fitted(name, data):
    X, y, codes, feats = data
    if name == "MostPopular":
        return MostPopular(top_k=5, exclude_seen=True).fit(X, y)
    if name == "ContentKNN":
        return ContentKNN(top_k=5, n_recent=3, decay=0.5).fit(X, y, item_features={"text": feats, "b": feats[:, :2]})
    if name == "SASRec":
        return tiny_sasrec(module__n_heads=1, optimizer__betas=(0.8, 0.99), device=torch.device("cpu"),
                           checkpoint_dir=None).fit(X, y)
    if name == "IntRR":
        return IntRRRecommender(**TINY_SID, uid_weight=0.5, code_order=[2, 0, 1]).fit(X, y, codes=codes)
    if name == "TIGER":
        return TIGERRecommender(**TINY_SID).fit(X, y, codes=codes)
    if name == "RPG":
        params = {k: v for k, v in TINY_SID.items() if k != "head_dim"}
        return RPGRecommender(**params, decoding="graph", beam_width=12, graph_neighbors=4).fit(X, y, codes=codes)
    if name == "ADCSID":
        return ADCSIDTokenizer(codebook_size=4, max_epochs=1, n_behavior=2, device="cpu", random_state=0,
                               behavior_estimator=tiny_sasrec(max_epochs=1)).fit(X, y)
    if name == "RQVAE":
        return RQVAETokenizer(codebook_size=4, n_levels=2, hidden_dim=16, latent_dim=4, max_epochs=1,
                              device="cpu", random_state=0, disambiguate=True).fit(feats)
    if name == "LETTER":
        return LETTERTokenizer(codebook_size=4, n_levels=2, hidden_dim=16, latent_dim=4, max_epochs=1, device="cpu",
                               random_state=0, behavior_estimator=tiny_sasrec(max_epochs=1)).fit(
            X, y, item_features={"text": feats})
    if name == "MMRQVAE":
        return MMRQVAETokenizer(codebook_size=4, n_levels=2, hidden_dim=16, latent_dim=4, max_epochs=1, device="cpu",
                                random_state=0, behavior_estimator=tiny_sasrec(max_epochs=1)).fit(
            X, y, item_features={"text": feats})
    if name == "RQKMeans":
        return RQKMeansTokenizer(codebook_size=4, n_levels=2, device="cpu", random_state=0).fit(feats)
    if name == "OPQ":
        import pandas as pd

        df = pd.DataFrame(feats, columns=[f"text:{j}" for j in range(6)])
        return OPQTokenizer(codebook_size=4, n_levels=3, n_iter=2, device="cpu", random_state=0).fit(df)
    if name == "SIDRanker":
        rows, labels = _ctr_rows(data)
        weights = np.random.RandomState(1).rand(*codes.shape).astype(np.float32)
        return SIDRanker(embedding_dim=4, hidden_dims=(8,), max_epochs=2, device="cpu",
                         random_state=0).fit(rows, labels, codes=codes, weights=weights)
    raise AssertionError(name)


def _ctr_rows(data):
    """(user, item, timestamp) rows with binary labels, from the histories."""
    import pandas as pd

    X = data[0]
    users = np.concatenate([np.full(len(s), u) for u, s in enumerate(X)])
    items = np.concatenate(X)
    rows = pd.DataFrame({"user_id": users, "item_id": items, "timestamp": np.arange(len(items))})
    return rows, (np.random.RandomState(2).rand(len(items)) > 0.5).astype(int)


def _outputs(est, data):
    """What a fitted estimator produces (predictions / codes), to compare before and after."""
    X, y, codes, feats = data
    if isinstance(est, SIDRanker):
        return [est.predict_proba(_ctr_rows(data)[0])]
    if hasattr(est, "predict"):
        out = [est.predict(X)]
        if isinstance(est, (IntRRRecommender, TIGERRecommender, RPGRecommender)):
            out.append(est.recommend(X)[1])
        if isinstance(est, SASRecRecommender):
            out.append(est.predict_scores(X))
        return out
    if est.input_kind_ == "histories":
        return [est.transform(X).codes, est.codes_, est.weights_, est.behavior_estimator_.predict(X)]
    if isinstance(est, OPQTokenizer):
        import pandas as pd

        feats = pd.DataFrame(feats, columns=[f"text:{j}" for j in range(6)])
    return [*est.transform(feats), est.codes_]


ALL = ["MostPopular", "ContentKNN", "SASRec", "IntRR", "TIGER", "RPG", "ADCSID", "RQVAE", "LETTER", "MMRQVAE", "RQKMeans",
       "OPQ", "SIDRanker"]


@pytest.mark.parametrize("name", ALL)
def test_round_trip_every_estimator(name, data, tmp_path):
    est = _fitted(name, data)
    ref = _outputs(est, data)
    path = tmp_path / "model.sksid"
    sksid.save(est, path)
    rng_before = torch.random.get_rng_state()
    loaded = sksid.load(path)
    assert torch.equal(torch.random.get_rng_state(), rng_before)  # load leaves the caller's RNG alone
    assert type(loaded) is type(est)
    assert loaded.get_params(deep=False).keys() == est.get_params(deep=False).keys()
    for k, v in est.get_params(deep=False).items():
        if k != "behavior_estimator":
            assert loaded.get_params(deep=False)[k] == v, k
    for got, want in zip(_outputs(loaded, data), ref):
        np.testing.assert_array_equal(got, want)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["arrays.safetensors", "meta.json", "weights.safetensors"]


def test_unfitted_estimator_and_nested_params(tmp_path):
    est = ADCSIDTokenizer(codebook_size=8, modality_dims=[("text", 4), ("collab", 2)],
                          behavior_estimator=tiny_sasrec(module__n_heads=1, checkpoint_dir=tmp_path / "c"))
    sksid.save(est, tmp_path / "t.sksid")
    loaded = sksid.load(tmp_path / "t.sksid")
    assert loaded.modality_dims == [("text", 4), ("collab", 2)]
    assert isinstance(loaded.behavior_estimator, SASRecRecommender)
    assert loaded.behavior_estimator.get_params() == est.behavior_estimator.get_params()
    assert not hasattr(loaded, "codes_")


def test_pipeline_tokenizer_intrr_round_trip_and_gpu_model_on_cpu(data, tmp_path, monkeypatch):
    """A fitted tokenizer -> IntRR Pipeline round-trips; a model whose device_ was CUDA loads on
    a CPU-only machine (the tensors are written from the CPU whatever the device, so recording
    device_="cuda" on a CPU fit reproduces what a GPU-trained model's file holds)."""
    X, y, codes, feats = data
    pipe = Pipeline([("tok", RQKMeansTokenizer(codebook_size=4, n_levels=2, device="cpu", random_state=0,
                                               behavior_estimator=tiny_sasrec(max_epochs=1))),
                     ("rec", IntRRRecommender(**TINY_SID))])
    pipe.fit(X, y)
    ref = pipe.predict(X)
    for step in (pipe.named_steps["tok"], pipe.named_steps["tok"].behavior_estimator_, pipe.named_steps["rec"]):
        step.device_ = "cuda"  # as if trained on a GPU
    sksid.save(pipe, tmp_path / "pipe.sksid")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = sksid.load(tmp_path / "pipe.sksid")
    assert isinstance(loaded, Pipeline) and list(loaded.named_steps) == ["tok", "rec"]
    tok, rec = loaded.named_steps["tok"], loaded.named_steps["rec"]
    assert tok.device_ == "cpu" and rec.device_ == "cpu" and tok.behavior_estimator_.device_ == "cpu"
    assert rec.net_.device == "cpu" and next(rec.net_.module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(loaded.predict(X), ref)


# ---- rejected files ----------------------------------------------------------------------
def _rewrite(path, member, fn):
    """Rewrite one member of a saved file with ``fn(bytes) -> bytes``."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members[member] = fn(members[member])
    with zipfile.ZipFile(path, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)


def _edit_meta(path, fn):
    def edit(raw):
        meta = json.loads(raw)
        fn(meta)
        return json.dumps(meta).encode()
    _rewrite(path, "meta.json", edit)


@pytest.fixture
def saved_sasrec(data, tmp_path):
    path = tmp_path / "sasrec.sksid"
    sksid.save(_fitted("SASRec", data), path)
    return path


def test_rejects_class_outside_allow_list(saved_sasrec):
    _edit_meta(saved_sasrec, lambda m: m["root"].update({"class": "os.system"}))
    with pytest.raises(ValueError, match=r"estimator class 'os.system' is not one sksid.load may build"):
        sksid.load(saved_sasrec)


def test_rejects_module_outside_allow_list(saved_sasrec):
    _edit_meta(saved_sasrec, lambda m: m["root"]["net"].update({"module": "Linear"}))
    with pytest.raises(ValueError, match=r"torch module class 'Linear' is not one"):
        sksid.load(saved_sasrec)


def test_rejects_wrong_format_version(saved_sasrec):
    _edit_meta(saved_sasrec, lambda m: m.update({"format_version": 99}))
    with pytest.raises(ValueError, match=r"format version 99 is not supported"):
        sksid.load(saved_sasrec)


def test_rejects_weights_of_the_wrong_shape(saved_sasrec):
    from safetensors.torch import load as load_w
    from safetensors.torch import save as save_w

    def shrink(raw):
        w = load_w(raw)
        key = next(k for k in w if k.endswith("item_emb.weight") or w[k].ndim == 2)
        w[key] = w[key][:-1].clone()
        return save_w(w)
    _rewrite(saved_sasrec, "weights.safetensors", shrink)
    with pytest.raises(ValueError, match=r"weight '.*' has shape .* expects"):
        sksid.load(saved_sasrec)


@pytest.mark.parametrize("name", ["IntRR", "TIGER", "SIDRanker"])
def test_files_with_the_earlier_weight_buffer_names_still_load(name, data, tmp_path):
    """IntRR's and TIGER's per-level loss weights (now ``level_loss_weights``) and the
    ranker's importance weights (now ``importance_weights``) were saved as ``code_weights``."""
    from safetensors.torch import load as load_w
    from safetensors.torch import save as save_w

    est = _fitted(name, data)
    path = tmp_path / "old.sksid"
    sksid.save(est, path)

    def old_names(raw):
        w = load_w(raw)
        renamed = {k.replace("level_loss_weights", "code_weights").replace("importance_weights", "code_weights"): v
                   for k, v in w.items()}
        assert renamed.keys() != w.keys()
        return save_w(renamed)
    _rewrite(path, "weights.safetensors", old_names)
    loaded = sksid.load(path)
    for a, b in zip(_outputs(est, data), _outputs(loaded, data)):
        np.testing.assert_array_equal(a, b)


def test_rejects_module_arguments_that_do_not_match_the_weights(saved_sasrec):
    def edit(m):
        items = m["root"]["net"]["module_kwargs"]["items"]
        next(kv for kv in items if kv[0] == "d_model")[1] = 8
    _edit_meta(saved_sasrec, edit)
    with pytest.raises(ValueError, match=r"has shape .* the rebuilt SASRecModule expects"):
        sksid.load(saved_sasrec)


def test_rejects_array_shape_that_differs_from_meta(saved_sasrec):
    def edit(m):
        items = m["root"]["fitted"]
        items["item_popularity_"]["shape"] = [7]
    _edit_meta(saved_sasrec, edit)
    with pytest.raises(ValueError, match=r"item_popularity_: array .* has dtype .* shape \[30\] but meta.json"):
        sksid.load(saved_sasrec)


def test_rejects_invalid_parameter_and_odd_attribute(saved_sasrec, tmp_path):
    _edit_meta(saved_sasrec, lambda m: m["root"]["params"].update({"top_k": -3}))
    with pytest.raises(ValueError, match=r"invalid parameters for SASRecRecommender"):
        sksid.load(saved_sasrec)
    _edit_meta(saved_sasrec, lambda m: (m["root"]["params"].update({"top_k": 10}),
                                        m["root"]["fitted"].update({"predict": 1})))
    with pytest.raises(ValueError, match=r"'predict' is not a fitted attribute"):
        sksid.load(saved_sasrec)


@pytest.mark.parametrize("keep", [0.5, 0.95, 10])
def test_rejects_truncated_file(saved_sasrec, keep):
    raw = saved_sasrec.read_bytes()
    n = keep if isinstance(keep, int) else int(len(raw) * keep)
    saved_sasrec.write_bytes(raw[:n])
    with pytest.raises(ValueError, match=r"truncated|corrupted"):
        sksid.load(saved_sasrec)


def test_rejects_corrupted_member_and_non_sksid_zip(saved_sasrec, tmp_path):
    raw = bytearray(saved_sasrec.read_bytes())
    with zipfile.ZipFile(saved_sasrec) as zf:
        info = zf.getinfo("weights.safetensors")
    pos = info.header_offset + 30 + len(info.filename) + 200  # inside the stored weights
    raw[pos] ^= 0xFF
    saved_sasrec.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"weights.safetensors' is corrupted or truncated"):
        sksid.load(saved_sasrec)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("meta.json", json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match=r"does not describe an sksid model"):
        sksid.load(other)


def test_save_refuses_what_it_cannot_represent(data, tmp_path):
    X, y, _, _ = data
    est = MostPopular().set_params(random_state=np.random.RandomState(0))
    with pytest.raises(TypeError, match=r"cannot save estimator.random_state: a numpy.random"):
        sksid.save(est, tmp_path / "x.sksid")
    assert not (tmp_path / "x.sksid").exists()
    from sklearn.linear_model import LinearRegression
    with pytest.raises(TypeError, match=r"not representable"):
        sksid.save(LinearRegression(), tmp_path / "x.sksid")


def test_doctests():
    import doctest

    from sksid import persistence

    assert doctest.testmod(persistence).failed == 0
