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

Why not ``skops.io`` (the scikit-learn ecosystem's safe format), measured with skops
0.16.0 on a fitted ``SASRecRecommender``: skops stores the skorch net through skorch's own
``__getstate__``, which writes the torch module and optimizer as ``torch.save`` bytes (a
pickle), and loading them unpickles; its type audit lists 14 types to trust, down to
``builtins.print`` and skorch's ``DataLoader`` settings. So it is not safe for torch
models; this format stores weights as safetensors and rebuilds the net from an
allow-list instead.

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
import os
import tempfile
import zipfile

import torch

from ._format import _ARRAYS, _META, _TAG, _WEIGHTS, FORMAT, FORMAT_VERSION
from ._read import _read_member, _Reader
from ._write import _Writer

__all__ = ["save", "load", "FORMAT_VERSION"]


def save(estimator, path):
    """Save a (fitted or not) sksid estimator, or a Pipeline of them, without pickle.

    The file is a zip holding ``meta.json`` (parameters and fitted metadata),
    ``arrays.safetensors`` (numpy arrays) and ``weights.safetensors`` (torch weights);
    :func:`load` reads it back without executing code from the file.

    Parameters
    ----------
    estimator : estimator
        One of sksid's estimators (``MostPopular``, ``ContentKNN``, ``SASRecRecommender``,
        ``IntRRRecommender``, ``TIGERRecommender``, ``RPGRecommender``, ``ADCSIDTokenizer``,
        ``RQVAETokenizer``, ``RQKMeansTokenizer``, ``OPQTokenizer``, ``SIDRanker``) or a scikit-learn
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

    from .. import __version__

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
