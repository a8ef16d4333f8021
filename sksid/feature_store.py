"""Item features kept on disk and shared by reference: :class:`FeatureStore`.

A grid search on a cluster runs one task per candidate; every task receives the fit
parameters, so a ``tok__item_features`` dict of in-memory arrays is serialised and sent
once per candidate (joblib's Dask backend scatters large *top-level* arguments once, but
fit parameters travel inside a dict). A :class:`FeatureStore` is a read-only mapping
``{modality: array}`` whose arrays live in ``.npy`` files: it pickles as its folder path
only, and each worker memory-maps the files it reads, so the features cross the network
zero times on a shared filesystem (NFS, a cluster's scratch) instead of once per task.

>>> import tempfile, pickle, numpy as np
>>> from sksid.feature_store import FeatureStore
>>> folder = tempfile.mkdtemp()
>>> store = FeatureStore.save(folder, {"text": np.ones((4, 3), np.float32)})
>>> store["text"].shape, len(pickle.dumps(store)) < 500
((4, 3), True)
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = ["FeatureStore"]

_INDEX = "modalities.json"


class FeatureStore(Mapping):
    """Read-only ``{modality: (n_items, d) array}`` backed by ``.npy`` files in a folder.

    Every sksid tokenizer accepts it wherever it accepts a dict of modalities (``fit(X)``,
    ``transform(X)``, ``item_features=``). Arrays are memory-mapped on access
    (``np.load(mmap_mode="r")``); pickling (joblib, Dask, multiprocessing) keeps only the
    folder path, so the folder must be readable at that path wherever the object is
    unpickled (a shared filesystem on a cluster).

    Parameters
    ----------
    folder : str or path-like
        A folder written by :meth:`save` (``modalities.json`` + one ``.npy`` per modality).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> store = FeatureStore.save(tempfile.mkdtemp(), {"text": np.zeros((5, 2))})
    >>> list(store), store["text"].dtype
    (['text'], dtype('float64'))
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        index = self.folder / _INDEX
        try:
            names = json.loads(index.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.folder} is not a FeatureStore folder (no {_INDEX}); "
                                    "write one with FeatureStore.save(folder, features)") from None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{index} must list the modality names")
        self._names = names

    @classmethod
    def save(cls, folder, features) -> "FeatureStore":
        """Write ``features`` (a mapping of modality name to 2-D array) under ``folder``
        and return the store that reads them."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        names = []
        for name, arr in features.items():
            a = np.asarray(arr)
            _check_modality(name, a.shape)
            np.save(folder / f"{name}.npy", a, allow_pickle=False)
            names.append(name)
        _write_index(folder, names)
        return cls(folder)

    @classmethod
    @contextmanager
    def writer(cls, folder, shapes, dtype=np.float32):
        """Write a store piece by piece, for features larger than memory.

        Yields ``{modality: writable memory-mapped array}`` of the given ``shapes``
        (``{name: (n_items, d)}``); fill them in chunks. The folder becomes a readable
        store (its index is written) only when the block exits without an error, so a
        half-written folder is never mistaken for a store.

        Examples
        --------
        >>> import tempfile, numpy as np
        >>> folder = tempfile.mkdtemp()
        >>> with FeatureStore.writer(folder, {"text": (6, 2)}) as out:
        ...     for start in range(0, 6, 4):
        ...         out["text"][start:start + 4] = 1.0
        >>> float(FeatureStore(folder)["text"].sum())
        12.0
        """
        folder = Path(folder)
        for name, shape in shapes.items():
            _check_modality(name, tuple(shape))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / _INDEX).unlink(missing_ok=True)
        arrays = {name: np.lib.format.open_memmap(folder / f"{name}.npy", mode="w+", dtype=dtype,
                                                   shape=tuple(int(s) for s in shape))
                  for name, shape in shapes.items()}
        yield arrays
        for a in arrays.values():
            a.flush()
        arrays.clear()
        _write_index(folder, list(shapes))

    def __getitem__(self, name):
        if name not in self._names:
            raise KeyError(name)
        return np.load(self.folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)

    def __iter__(self):
        return iter(self._names)

    def __len__(self):
        return len(self._names)

    def __reduce__(self):  # the path only: no array data in the pickle
        return (type(self), (str(self.folder),))

    def __repr__(self):
        return f"FeatureStore({str(self.folder)!r}, modalities={self._names})"


def _check_modality(name, shape):
    if not isinstance(name, str) or not name or os.sep in name or name.startswith("."):
        raise ValueError(f"modality names must be plain non-empty strings, got {name!r}")
    if len(shape) != 2:
        raise ValueError(f"modality {name!r} must be 2-D (n_items, d), got shape {shape}")


def _write_index(folder, names):
    (folder / _INDEX).write_text(json.dumps(names), encoding="utf-8")
