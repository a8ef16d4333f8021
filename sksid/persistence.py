"""Safe persistence: :func:`save` and :func:`load` without pickle.

``pickle`` and ``joblib`` files run code when they are loaded: opening one from an
untrusted source is running that source's program. :func:`load` reads a format that
holds **data only**:

* one zip file (stored, not compressed) with three members:

  - ``meta.json``: the format name and version, the sksid / scikit-learn / torch
    versions, and for every estimator its class name, its constructor parameters
    (``get_params(deep=False)``, skorch-style ``module__*`` ... parameters included),
    its fitted attributes and, for torch-backed estimators, the class name and
    arguments of its torch module;
  - ``arrays.safetensors``: every numpy array (fitted codes, popularity, centroids,
    module arguments such as the catalogue's codes);
  - ``weights.safetensors``: the ``state_dict`` of every torch module.

* Loading looks each estimator class and torch module class up by name in a fixed
  allow-list of sksid classes (and scikit-learn's ``Pipeline``), never imports a module
  path read from the file, rebuilds the estimator with its parameters, restores its
  fitted attributes, rebuilds the skorch net with the estimator's own net-building code
  and loads the weights. Fitted attributes that are estimators (a tokenizer's fitted
  ``behavior_estimator_``, the steps of a fitted ``Pipeline``) are saved recursively.

Why one zip file rather than a directory: it moves like a pickle (one file to copy or
upload), the zip's central directory (at the end of the file) and the CRC-32 of every
member make a truncated or corrupted file fail loudly, and each member is a standard
format readable without sksid (``unzip``, ``json``, any safetensors reader).

A model saved from a GPU loads on a CPU-only machine: tensors are always written from
and read to the CPU, and a recorded ``device_`` of ``"cuda..."`` becomes ``"cpu"`` when
CUDA is absent (move it back with ``to_device``).

Not stored: optimizer state and skorch's per-epoch ``net_.history`` (the estimator's own
``history_`` summary is kept), training callbacks. A loaded model predicts and
transforms as before; to continue training use a checkpoint (see
``docs/persistence.md``). Values the format cannot represent (a callback object or a
``RandomState`` instance as a parameter, an estimator class outside the allow-list)
make :func:`save` raise a ``TypeError`` naming the attribute; use pickle/joblib for
those, from trusted sources only.
"""
from __future__ import annotations

import json
import math
import os
import pathlib
import re
import tempfile
import zipfile

import numpy as np
import torch

__all__ = ["save", "load", "FORMAT_VERSION"]

FORMAT = "sksid"
FORMAT_VERSION = 1
_META, _ARRAYS, _WEIGHTS = "meta.json", "arrays.safetensors", "weights.safetensors"
_TAG = "@"
# numpy dtypes the safetensors numpy backend stores (kinds: bool, int, uint, float)
_ARRAY_KINDS = "biuf"
_ATTR_NAME = re.compile(r"^_?[A-Za-z][A-Za-z0-9_]*$")


def _estimator_classes() -> dict:
    """The allow-list of estimator classes :func:`load` may instantiate, by name."""
    from sklearn.pipeline import Pipeline

    from .ranker import SIDRanker
    from .recommenders import IntRRRecommender, MostPopular, SASRecRecommender, TIGERRecommender
    from .tokenizers import ADCSIDTokenizer, OPQTokenizer, RQKMeansTokenizer, RQVAETokenizer

    classes = (MostPopular, SASRecRecommender, IntRRRecommender, TIGERRecommender, ADCSIDTokenizer,
               RQVAETokenizer, RQKMeansTokenizer, OPQTokenizer, SIDRanker, Pipeline)
    return {c.__name__: c for c in classes}


def _module_classes() -> dict:
    """The allow-list of torch module classes :func:`load` may instantiate, by name."""
    from .nn.adcsid import ADCSIDModule
    from .nn.intrr import IntRRModule
    from .nn.ranker import PPNetRanker
    from .nn.rqvae import RQVAEModule
    from .nn.sasrec import SASRecModule
    from .nn.tiger import TIGERModule

    return {c.__name__: c for c in (SASRecModule, IntRRModule, TIGERModule, ADCSIDModule, RQVAEModule,
                                    PPNetRanker)}


# ---------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------
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
        from .training import SIDNet

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


def save(estimator, path):
    """Save a (fitted or not) sksid estimator, or a Pipeline of them, without pickle.

    The file is a zip holding ``meta.json`` (parameters and fitted metadata),
    ``arrays.safetensors`` (numpy arrays) and ``weights.safetensors`` (torch weights);
    :func:`load` reads it back without executing code from the file.

    Parameters
    ----------
    estimator : estimator
        One of sksid's estimators (``MostPopular``, ``SASRecRecommender``,
        ``IntRRRecommender``, ``TIGERRecommender``, ``ADCSIDTokenizer``,
        ``RQVAETokenizer``, ``RQKMeansTokenizer``, ``OPQTokenizer``) or a scikit-learn
        ``Pipeline`` made of them.
    path : str or path-like
        Destination file (replaced if it exists; written to a temporary file first, so a
        failed save leaves no partial file).

    Raises
    ------
    TypeError
        If the estimator (or a parameter / fitted attribute) cannot be represented:
        the message names the attribute.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import sksid
    >>> rec = sksid.MostPopular(top_k=2).fit([np.array([0, 1]), np.array([1])], [2, 1])
    >>> path = os.path.join(tempfile.mkdtemp(), "popular.sksid")
    >>> sksid.save(rec, path)
    >>> sksid.load(path).predict([np.array([0])]).tolist()
    [[1, 0]]
    """
    from safetensors.numpy import save as save_arrays
    from safetensors.torch import save as save_weights
    from sklearn import __version__ as sklearn_version

    from . import __version__

    w = _Writer()
    root = w.value(estimator, "estimator")
    if not (isinstance(root, dict) and root.get(_TAG) == "estimator"):
        raise TypeError(f"sksid.save saves estimators; got {type(estimator)}")
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sksid_version": __version__,
        "sklearn_version": sklearn_version,
        "torch_version": torch.__version__,
        "root": root,
    }
    meta_bytes = json.dumps(meta, allow_nan=False, indent=1).encode("utf-8")
    arrays = save_arrays(w.arrays)
    weights = save_weights(w.weights)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".sksid-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(_META, meta_bytes)
            zf.writestr(_ARRAYS, arrays)
            zf.writestr(_WEIGHTS, weights)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# ---------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------
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


def _read_member(zf, name, source):
    try:
        return zf.read(name)
    except KeyError:
        raise ValueError(f"{source}: not an sksid file: member {name!r} is missing") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"{source}: member {name!r} is corrupted or truncated ({exc})") from None


def load(path):
    """Load an estimator written by :func:`save`; no code from the file is executed.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    estimator
        The estimator (or Pipeline) as saved, fitted if it was. Its ``device_`` is
        ``"cpu"`` when it was saved on a GPU and CUDA is not available here.

    Raises
    ------
    ValueError
        If the file is not an sksid file, is truncated or corrupted, has an unsupported
        format version, names a class outside the allow-list, or holds arrays / weights
        whose shapes do not match what the metadata and the rebuilt modules expect. The
        message names the file, the member or attribute and the problem.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import sksid
    >>> X, y = [np.array([0, 1, 2]), np.array([2, 1])], np.array([3, 0])
    >>> tok = sksid.RQKMeansTokenizer(codebook_size=2, n_levels=2, device="cpu", random_state=0)
    >>> tok.fit(np.random.RandomState(0).randn(10, 4))  # doctest: +ELLIPSIS
    RQKMeansTokenizer(...)
    >>> path = os.path.join(tempfile.mkdtemp(), "tok.sksid")
    >>> sksid.save(tok, path)
    >>> bool((sksid.load(path).codes_ == tok.codes_).all())
    True
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load as load_arrays
    from safetensors.torch import load as load_weights

    source = os.fspath(path)
    try:
        zf = zipfile.ZipFile(source, "r")
    except (zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{source}: not an sksid file, or truncated: {exc}") from None
    with zf:
        raw_meta = _read_member(zf, _META, source)
        try:
            meta = json.loads(raw_meta.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ValueError(f"{source}: {_META} is not valid JSON ({exc!r:.200})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"{source}: {_META} does not describe an sksid model (format "
                             f"{meta.get('format') if isinstance(meta, dict) else None!r})")
        version = meta.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"{source}: format version {version!r} is not supported (this sksid "
                             f"reads version {FORMAT_VERSION}); save the model again with a "
                             "matching sksid")
        try:
            arrays = load_arrays(_read_member(zf, _ARRAYS, source))
        except SafetensorError as exc:
            raise ValueError(f"{source}: {_ARRAYS} is not a valid safetensors file ({exc})") from None
        try:
            weights = load_weights(_read_member(zf, _WEIGHTS, source))
        except SafetensorError as exc:
            raise ValueError(f"{source}: {_WEIGHTS} is not a valid safetensors file ({exc})") from None
    if "root" not in meta:
        raise ValueError(f"{source}: {_META} has no 'root' estimator")
    try:
        root = _Reader(arrays, weights, source).value(meta["root"], "estimator")
    except RecursionError:
        raise ValueError(f"{source}: {_META} nests estimators too deeply") from None
    from sklearn.base import BaseEstimator

    if not isinstance(root, BaseEstimator):
        raise ValueError(f"{source}: the saved root is not an estimator")
    return root
