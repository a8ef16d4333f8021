"""Reading: ``meta.json`` entries back to values and estimators, checked against the
allow-lists, the arrays and the weights of the file."""
from __future__ import annotations

import pathlib
import zipfile

import numpy as np
import torch

from ._format import _ARRAY_KINDS, _ARRAYS, _ATTR_NAME, _META, _TAG, _estimator_classes, _module_classes


class _Reader:
    def __init__(self, arrays, weights, source):
        self.arrays = arrays
        self.weights = weights
        self.source = source
        self._classes = _estimator_classes()
        self._modules = _module_classes()

    def error(self, where, msg):
        return ValueError(f"{self.source}: {where}: {msg}")

    def value(self, v, where):
        if v is None or isinstance(v, (bool, str, int, float)):
            return v
        if isinstance(v, list):
            return [self.value(x, f"{where}[{i}]") for i, x in enumerate(v)]
        if not isinstance(v, dict) or not isinstance(v.get(_TAG), str):
            raise self.error(where, f"malformed value {v!r:.80}")
        tag = v[_TAG]
        try:
            if tag == "float":
                if v["value"] not in ("nan", "inf", "-inf"):
                    raise self.error(where, f"bad float {v['value']!r}")
                return float(v["value"])
            if tag == "scalar":
                dtype = np.dtype(v["dtype"])
                if dtype.kind not in _ARRAY_KINDS:
                    raise self.error(where, f"bad scalar dtype {v['dtype']!r}")
                return dtype.type(self.value(v["value"], where))
            if tag == "ndarray":
                return self.array(v, where)
            if tag == "strarray":
                return np.array([str(x) for x in v["values"]], dtype=object).reshape(v["shape"])
            if tag == "device":
                return torch.device(str(v["value"]))
            if tag == "path":
                return pathlib.Path(str(v["value"]))
            if tag == "tuple":
                return tuple(self.value(x, f"{where}[{i}]") for i, x in enumerate(v["items"]))
            if tag == "dict":
                out = {}
                for k, x in v["items"]:
                    if not isinstance(k, (str, int)):
                        raise self.error(where, f"bad dict key {k!r}")
                    out[k] = self.value(x, f"{where}[{k!r}]")
                return out
            if tag == "estimator":
                return self.estimator(v, where)
        except (KeyError, TypeError) as exc:
            raise self.error(where, f"malformed {tag!r} entry ({exc!r})") from None
        raise self.error(where, f"unknown value tag {tag!r}")

    def array(self, v, where):
        key = v["key"]
        if key not in self.arrays:
            raise self.error(where, f"array {key!r} is missing from {_ARRAYS}")
        a = self.arrays[key]
        if a.dtype.str != v["dtype"] or list(a.shape) != list(v["shape"]):
            raise self.error(where, f"array {key!r} has dtype {a.dtype.str} and shape {list(a.shape)} "
                                    f"but {_META} records {v['dtype']} and {v['shape']}")
        return a

    def estimator(self, spec, where):
        name = spec["class"]
        cls = self._classes.get(name) if isinstance(name, str) else None
        if cls is None:
            raise self.error(where, f"estimator class {name!r} is not one sksid.load may build "
                                    f"(allowed: {sorted(self._classes)})")
        params = {k: self.value(x, f"{where}.{k}") for k, x in spec["params"].items()}
        try:
            est = cls(**params)
        except TypeError as exc:
            raise self.error(where, f"parameters do not fit {name}: {exc}") from None
        if hasattr(est, "_validate_params"):
            try:
                est._validate_params()
            except ValueError as exc:
                raise self.error(where, f"invalid parameters for {name}: {exc}") from None
        for k, x in spec["fitted"].items():
            if not isinstance(k, str) or not _ATTR_NAME.match(k) or k in params or hasattr(cls, k):
                raise self.error(where, f"{k!r} is not a fitted attribute {name} may hold")
            est.__dict__[k] = self.value(x, f"{where}.{k}")
        dev = est.__dict__.get("device_")
        if isinstance(dev, str) and dev.startswith("cuda") and not torch.cuda.is_available():
            est.device_ = "cpu"  # a model fitted on a GPU, loaded on a CPU-only machine
        if "net" in spec:
            est.net_ = self.net(est, spec["net"], f"{where}.net_")
        return est

    def net(self, est, spec, where):
        name = spec["module"]
        module_cls = self._modules.get(name) if isinstance(name, str) else None
        if module_cls is None:
            raise self.error(where, f"torch module class {name!r} is not one sksid.load may build "
                                    f"(allowed: {sorted(self._modules)})")
        if not hasattr(est, "_build_net"):
            raise self.error(where, f"{type(est).__name__} has no torch net")
        kwargs = self.value(spec["module_kwargs"], f"{where}.module__")
        if not isinstance(kwargs, dict):
            raise self.error(where, "module arguments must be a dict")
        prefix = spec["weights"]
        state = {k[len(prefix):]: t for k, t in self.weights.items() if k.startswith(prefix)}
        # building the module draws its random initialisation: keep the caller's RNG intact
        with torch.random.fork_rng(devices=[]):
            try:
                net = est._build_net(module_cls, kwargs, None, 0)
                net.initialize()
            except (TypeError, ValueError, RuntimeError) as exc:
                raise self.error(where, f"cannot rebuild {name} from the stored arguments: {exc}") from None
        expected = net.module_.state_dict()
        # files written before the trie's buffers became derived (non-persistent) state
        state = {k: v for k, v in state.items() if k in expected or "trie." not in k}
        state = {_current_name(name, k): v for k, v in state.items()}
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        if missing or extra:
            raise self.error(where, f"weights do not match {name}: missing {missing[:5]}, unexpected "
                                    f"{extra[:5]}")
        for k, t in state.items():
            ref = expected[k]
            if t.shape != ref.shape or t.dtype != ref.dtype:
                raise self.error(where, f"weight {k!r} has shape {tuple(t.shape)} and dtype {t.dtype}, "
                                        f"the rebuilt {name} expects {tuple(ref.shape)} and {ref.dtype}")
        net.module_.load_state_dict(state)
        net.module_.eval()
        return net


#: (module class, buffer name in files written before it was renamed) -> its name now
_RENAMED_WEIGHTS = {("IntRRModule", "code_weights"): "level_loss_weights",
                    ("TIGERModule", "code_weights"): "level_loss_weights",
                    ("PPNetRanker", "code_weights"): "importance_weights"}


def _current_name(module, key):
    """A ``state_dict`` key of a saved ``module`` under the name the module uses now."""
    head, _, last = key.rpartition(".")
    new = _RENAMED_WEIGHTS.get((module, last))
    return key if new is None else (f"{head}.{new}" if head else new)


def _read_member(zf, name, source):
    try:
        return zf.read(name)
    except KeyError:
        raise ValueError(f"{source}: not an sksid file: member {name!r} is missing") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"{source}: member {name!r} is corrupted or truncated ({exc})") from None
