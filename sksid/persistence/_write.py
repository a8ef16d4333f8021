"""Writing: estimators, values and torch weights to ``meta.json`` entries and the arrays /
weights that go to the safetensors members."""
from __future__ import annotations

import math
import os

import numpy as np
import torch

from ._format import _ARRAY_KINDS, _TAG, _estimator_classes, _module_classes


class _Writer:
    def __init__(self):
        self.arrays = {}
        self.weights = {}
        self._memo = {}  # id(array) -> key: an array referenced twice is stored once
        self._keep = []  # keep memoised arrays alive so their ids stay unique
        self._n_nets = 0
        self._classes = _estimator_classes()
        self._modules = _module_classes()

    def value(self, v, where):
        if isinstance(v, np.generic):  # before float: np.float64 is a float subclass
            if v.dtype.kind not in _ARRAY_KINDS:
                raise TypeError(f"cannot save {where}: numpy scalar of dtype {v.dtype}")
            return {_TAG: "scalar", "dtype": v.dtype.str, "value": self.value(v.item(), where)}
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int):
            return int(v)
        if isinstance(v, float):
            return float(v) if math.isfinite(v) else {_TAG: "float", "value": repr(float(v))}
        if isinstance(v, np.ndarray):
            return self.array(v, where)
        if isinstance(v, list):
            return [self.value(x, f"{where}[{i}]") for i, x in enumerate(v)]
        if isinstance(v, tuple):
            return {_TAG: "tuple", "items": [self.value(x, f"{where}[{i}]") for i, x in enumerate(v)]}
        if isinstance(v, dict):
            items = []
            for k, x in v.items():
                if not isinstance(k, (str, int)) or isinstance(k, bool):
                    raise TypeError(f"cannot save {where}: dict key {k!r} is not a str or int")
                items.append([k, self.value(x, f"{where}[{k!r}]")])
            return {_TAG: "dict", "items": items}
        if isinstance(v, torch.device):
            return {_TAG: "device", "value": str(v)}
        if isinstance(v, os.PathLike):
            return {_TAG: "path", "value": os.fspath(v)}
        if type(v).__name__ in self._classes and self._classes[type(v).__name__] is type(v):
            return self.estimator(v, where)
        raise TypeError(
            f"cannot save {where}: a {type(v).__module__}.{type(v).__qualname__} is not representable "
            "in sksid's safe format (numbers, strings, lists, tuples, dicts, numpy arrays, "
            "paths, torch devices and sksid estimators are); use pickle/joblib for such a model, and load "
            "it from trusted sources only")

    def array(self, a, where):
        if a.dtype.kind in "OU" and all(isinstance(x, str) for x in a.ravel().tolist()):
            return {_TAG: "strarray", "shape": list(a.shape), "values": a.ravel().tolist()}
        if a.dtype.kind not in _ARRAY_KINDS:
            raise TypeError(f"cannot save {where}: numpy array of dtype {a.dtype} (only bool, int, "
                            "uint, float and str arrays are supported)")
        key = self._memo.get(id(a))
        if key is None:
            key = f"a{len(self.arrays)}"
            self.arrays[key] = np.ascontiguousarray(a)
            self._memo[id(a)] = key
            self._keep.append(a)
        return {_TAG: "ndarray", "key": key, "dtype": a.dtype.str, "shape": list(a.shape)}

    def estimator(self, est, where):
        params = est.get_params(deep=False)
        out = {
            _TAG: "estimator",
            "class": type(est).__name__,
            "params": {k: self.value(v, f"{where}.{k}") for k, v in params.items()},
            "fitted": {},
        }
        for k, v in vars(est).items():
            if k in params:
                continue
            if k == "net_":
                out["net"] = self.net(v, f"{where}.net_")
            else:
                out["fitted"][k] = self.value(v, f"{where}.{k}")
        return out

    def net(self, net, where):
        from ..training import SIDNet

        if not isinstance(net, SIDNet) or not getattr(net, "initialized_", False):
            raise TypeError(f"cannot save {where}: expected an initialised sksid SIDNet, got {type(net)}")
        module = net.module_
        name = type(module).__name__
        if self._modules.get(name) is not type(module):
            raise TypeError(f"cannot save {where}: torch module {type(module)} is not an sksid module")
        prefix = f"n{self._n_nets}."
        self._n_nets += 1
        for k, t in module.state_dict().items():
            self.weights[prefix + k] = t.detach().to("cpu").contiguous().clone()
        return {
            "module": name,
            "module_kwargs": self.value(net.get_params_for("module"), f"{where}.module__"),
            "weights": prefix,
        }
