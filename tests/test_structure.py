"""The package's layout and its data path: files one can hold in one's head, imports that go one
way, fitted state that ends in ``_``, and a ``transform`` that leaves the estimator as it was."""
import ast
import inspect
import pathlib

import joblib
import numpy as np
import pandas as pd
import pytest

import sksid
from sksid import (ADCSIDTokenizer, ContentKNN, IntRRRecommender, LETTERTokenizer, MMRQVAETokenizer, MostPopular,
                   OPQTokenizer, RPGRecommender, RQKMeansTokenizer, RQVAETokenizer, SASRecRecommender, SIDRanker, TIGERRecommender)

PACKAGE = pathlib.Path(sksid.__file__).parent
MAX_LINES = 450


def test_no_module_of_the_package_is_above_the_line_budget():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these by concept: {long}"


def _imports(path):
    """Absolute module names a file imports (relative imports resolved)."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    pkg = parts if path.name == "__init__.py" else parts[:-1]
    if path.name == "__init__.py":
        pkg = parts[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[:len(pkg) - (node.level - 1)]
                out.append(".".join(base + ([node.module] if node.module else [])))
            else:
                out.append(node.module or "")
        elif isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
    return out


def test_tokenizers_do_not_import_the_recommenders():
    """Layers: data -> models -> tokenizers -> pipelines; the behaviour model a tokenizer
    needs is fitted by sksid.behavior, the one step between them."""
    for path in (PACKAGE / "tokenizers").glob("*.py"):
        bad = [m for m in _imports(path) if m.startswith("sksid.recommenders")]
        assert not bad, f"{path.name} imports {bad}"


def test_torch_modules_and_the_training_layer_do_not_import_estimators():
    for sub in ("nn", "training"):
        for path in (PACKAGE / sub).glob("*.py"):
            bad = [m for m in _imports(path)
                   if m.startswith(("sksid.recommenders", "sksid.tokenizers", "sksid.ranker"))]
            assert not bad, f"{sub}/{path.name} imports {bad}"


# ---- fitted state ----------------------------------------------------------------------
N = 40
_rng = np.random.RandomState(0)
X = [_rng.randint(0, N, size=_rng.randint(2, 10)) for _ in range(80)]
Y = _rng.randint(0, N, size=80)
CODES = _rng.randint(0, 4, size=(N, 2))
FEATS = {"text": _rng.randn(N, 6).astype(np.float32), "collab": _rng.randn(N, 4).astype(np.float32)}
FRAME = pd.DataFrame({"user_id": _rng.randint(0, 20, 200), "item_id": _rng.randint(0, N, 200),
                      "timestamp": np.arange(200)})
LABELS = (_rng.rand(200) > 0.5).astype(int)
SID = dict(max_len=6, batch_size=32, device="cpu", random_state=0, d_model=8, n_layers=1, n_heads=2,
           head_dim=4, d_ff=16, top_k=5, beam_width=5, max_epochs=1)
TOK = dict(codebook_size=4, device="cpu", random_state=0)


def _fitted():
    yield MostPopular(top_k=5).fit(X, Y)
    yield ContentKNN(top_k=5, exclude_seen=True).fit(X, Y, item_features=FEATS)
    yield SASRecRecommender(d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=6, max_epochs=1, device="cpu",
                            random_state=0, top_k=5).fit(X, Y)
    yield IntRRRecommender(**SID).fit(X, Y, codes=CODES)
    yield TIGERRecommender(**SID).fit(X, Y, codes=CODES)
    yield RPGRecommender(max_len=6, batch_size=32, device="cpu", random_state=0, d_model=8, n_layers=1, n_heads=2,
                         d_ff=16, top_k=5, max_epochs=1, decoding="graph", beam_width=5, graph_neighbors=4).fit(
        X, Y, codes=CODES)
    yield ADCSIDTokenizer(hidden_dim=8, latent_dim=4, max_epochs=1, **TOK).fit(FEATS)
    yield ADCSIDTokenizer(hidden_dim=8, latent_dim=4, max_epochs=1, **TOK).fit(
        X, Y, item_features={"text": FEATS["text"]})
    yield RQVAETokenizer(n_levels=2, hidden_dim=8, latent_dim=4, max_epochs=1, **TOK).fit(FEATS["text"])
    yield RQKMeansTokenizer(n_levels=2, **TOK).fit(FEATS)
    yield LETTERTokenizer(n_levels=2, hidden_dim=8, latent_dim=4, max_epochs=1, **TOK).fit(FEATS)
    yield MMRQVAETokenizer(n_levels=2, hidden_dim=8, latent_dim=4, max_epochs=1, **TOK).fit(FEATS)
    yield OPQTokenizer(n_levels=2, **TOK).fit(FEATS["text"])
    yield SIDRanker(hidden_dims=(8,), embedding_dim=4, max_epochs=1, device="cpu", random_state=0).fit(
        FRAME, LABELS, codes=CODES)


@pytest.fixture(scope="module")
def fitted():
    return list(_fitted())


def test_every_attribute_set_by_fit_is_a_parameter_or_ends_in_an_underscore(fitted):
    for est in fitted:
        params = set(inspect.signature(type(est)).parameters) | set(est.get_params(deep=False))
        stray = [k for k in vars(est) if k not in params and not k.endswith("_")]
        assert not stray, f"{type(est).__name__} parks {stray} on self"


def _state(est):
    """Every attribute, hashed (nets by their weights and history)."""
    out = {}
    for k, v in vars(est).items():
        if k == "net_":
            out[k] = joblib.hash(({n: t.detach().cpu().numpy() for n, t in v.module_.state_dict().items()},
                                  list(v.history), v.module_.training))
        else:
            out[k] = joblib.hash(v)
    return out


def test_transform_and_predict_leave_the_estimator_unchanged(fitted):
    for est in fitted:
        params, before = joblib.hash(est.get_params(deep=False)), _state(est)
        if hasattr(est, "transform"):
            kind = getattr(est, "input_kind_", "features")
            if kind == "histories":
                est.transform(X)
                est.transform({"text": FEATS["text"], "collab": est.item_embeddings_})
            elif isinstance(est, (RQVAETokenizer, OPQTokenizer)):
                est.transform(FEATS["text"])
                est.transform(FEATS["text"][:7])
            else:
                est.transform(FEATS)
                est.transform({m: a[:7] for m, a in FEATS.items()})
                if isinstance(est, ADCSIDTokenizer):
                    est.transform(FEATS, item_counts=np.arange(N))
        elif isinstance(est, SIDRanker):
            est.predict_proba(FRAME)
        else:
            est.predict(X[:5])
            est.recommend(X[:5], k=3, exclude_seen=True)
        assert joblib.hash(est.get_params(deep=False)) == params, type(est).__name__
        after = _state(est)
        changed = [k for k in before if before[k] != after.get(k)] + [k for k in after if k not in before]
        assert not changed, f"{type(est).__name__}: {changed} changed"
