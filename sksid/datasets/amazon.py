"""Amazon Reviews 2014 categories in the LC-Rec / LETTER JSON format (e.g. Beauty)."""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np

from ._base import SequenceDataset, _remap, k_core_filter

__all__ = ["load_amazon"]

ENV_VAR = "SKSID_AMAZON_BEAUTY"


def _find_prefix(folder: Path, name: str | None) -> str:
    if name is not None:
        if not (folder / f"{name}.inter.json").is_file():
            raise FileNotFoundError(f"{folder / (name + '.inter.json')} does not exist")
        return name
    found = sorted(p.name[: -len(".inter.json")] for p in folder.glob("*.inter.json"))
    if not found:
        raise FileNotFoundError(
            f"no '<Name>.inter.json' file in {folder}; expected e.g. Beauty.inter.json "
            "and Beauty.item_meta.json")
    if len(found) > 1:
        raise ValueError(f"several data sets in {folder}: {found}; pass name=... to choose one")
    return found[0]


def _brand(meta: dict) -> str:
    brand = str(meta.get("brand") or "").strip()
    return "" if brand.lower() in {"unknown", "none", "nan"} else brand


def _item_text(meta: dict) -> str:
    title = str(meta.get("title") or "").strip()
    brand = _brand(meta)
    paths = meta.get("categories") or []
    cats: list[str] = []
    for path in paths:
        for c in ([path] if isinstance(path, str) else path):
            c = str(c).strip()
            if c and c not in cats:
                cats.append(c)
    parts = [title]
    if brand:
        parts.append(f"Brand: {brand}")
    if cats:
        parts.append("Categories: " + ", ".join(cats))
    return ". ".join(p for p in parts if p)


def _item_categories(meta: dict) -> list[str]:
    out: list[str] = []
    for path in meta.get("categories") or []:
        for c in ([path] if isinstance(path, str) else path):
            c = str(c).strip()
            if c and c not in out:
                out.append(c)
    brand = _brand(meta)
    if brand:
        out.append(f"brand={brand}")
    return out


def load_amazon(path: str | os.PathLike | None = None, min_interactions: int | None = 5,
                *, name: str | None = None) -> SequenceDataset:
    """Load an Amazon review category (e.g. Beauty) as chronological sequences.

    The folder holds ``<Name>.inter.json`` (``{"<user>": [item, ...]}``, oldest item
    first, integer item ids) and, optionally, ``<Name>.item_meta.json``
    (``{"<item>": {"asin", "title", "brand", "categories"}}``, ``categories`` being a
    list of category paths). This is the LC-Rec / LETTER layout used for Amazon Beauty
    by P5, TIGER and IntRR.

    Parameters
    ----------
    path : str or path-like, optional
        The folder. Defaults to the environment variable ``SKSID_AMAZON_BEAUTY``.
    min_interactions : int or None, default=5
        Iterative k-core filtering of users and items, repeated until stable;
        ``None``/``0`` disables it. The public Beauty files are already 5-core
        (22,363 users, 12,101 items, 198,502 interactions) so nothing is dropped.
        When items are dropped the ids are remapped to ``0..n_items-1`` (in the
        order of the original ids) and a warning gives the counts.
    name : str, optional
        File prefix (``"Beauty"``); needed only when the folder holds several sets.

    Returns
    -------
    SequenceDataset
        ``item_text`` joins title, brand and category path elements (the
        placeholder brand ``Unknown`` counts as missing);
        ``item_categories`` holds the category path elements plus ``"brand=<brand>"``;
        ``raw_item_ids`` the ASINs (the original integer id as str where the
        metadata has no ASIN); ``raw_user_ids`` the keys of the interaction file.
        Users keep the order of the interaction file.

    Raises
    ------
    ValueError
        If ``path`` is omitted and ``SKSID_AMAZON_BEAUTY`` is not set.
    FileNotFoundError
        If the folder or its interaction file does not exist.

    Examples
    --------
    >>> ds = load_amazon("data/amazon-beauty")  # doctest: +SKIP
    >>> ds.n_users, ds.n_items, ds.n_interactions  # doctest: +SKIP
    (22363, 12101, 198502)
    """
    if path is None:
        path = os.environ.get(ENV_VAR)
        if not path:
            raise ValueError(
                "load_amazon() needs the folder holding '<Name>.inter.json' and "
                "'<Name>.item_meta.json': pass path=... or set the environment variable, e.g.\n"
                f"    export {ENV_VAR}=/path/to/amazon-beauty")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"Amazon data folder {folder} does not exist")
    prefix = _find_prefix(folder, name)
    with open(folder / f"{prefix}.inter.json", encoding="utf-8") as f:
        inter = json.load(f)
    meta_path = folder / f"{prefix}.item_meta.json"
    if meta_path.is_file():
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
    else:
        warnings.warn(f"{meta_path} not found: item text and categories are empty",
                      UserWarning, stacklevel=2)
        meta = {}
    if not isinstance(inter, dict):
        raise ValueError(f"{prefix}.inter.json must map user ids to lists of item ids")

    user_keys = list(inter.keys())
    raw_seqs = []
    for u in user_keys:
        s = np.asarray(inter[u])
        if s.ndim != 1 or (s.size and s.dtype.kind not in "iu"):
            raise ValueError(f"user {u!r}: items must be a flat list of integer ids, got {inter[u]!r:.80}")
        raw_seqs.append(s.astype(np.int64))
    if any(s.size and s.min() < 0 for s in raw_seqs):
        raise ValueError(f"{prefix}.inter.json contains negative item ids")
    meta_ids = [int(k) for k in meta.keys()]
    n_all = 1 + max([int(s.max()) for s in raw_seqs if s.size] + meta_ids + [-1])

    n_empty = sum(s.size == 0 for s in raw_seqs)
    if n_empty and not min_interactions:
        warnings.warn(f"{prefix}: dropped {n_empty} user(s) without interactions", UserWarning, stacklevel=2)
        keep_nonempty = [i for i, s in enumerate(raw_seqs) if s.size]
        raw_seqs = [raw_seqs[i] for i in keep_nonempty]
        user_keys = [user_keys[i] for i in keep_nonempty]
    counts0 = np.bincount(np.concatenate(raw_seqs), minlength=n_all) if raw_seqs else np.zeros(n_all, int)
    if (counts0 == 0).any():
        warnings.warn(f"{prefix}: dropped {int((counts0 == 0).sum())} item id(s) without any interaction",
                      UserWarning, stacklevel=2)
    seqs, kept_users, keep = k_core_filter(raw_seqs, min_interactions, n_all, name=prefix)
    counts = np.bincount(np.concatenate(seqs), minlength=n_all) if seqs else np.zeros(n_all, int)
    keep &= counts > 0
    missing_meta = int(sum(1 for i in np.flatnonzero(keep) if str(i) not in meta))
    if missing_meta and meta:
        warnings.warn(f"{prefix}: {missing_meta} interacted item(s) have no metadata; "
                      "their text and categories are empty", UserWarning, stacklevel=2)
    seqs, old_ids = _remap(seqs, keep)

    texts, cats, asins = [], [], []
    for old in old_ids:
        m = meta.get(str(int(old)), {})
        texts.append(_item_text(m))
        cats.append(_item_categories(m))
        asins.append(str(m.get("asin") or int(old)))
    n_items = len(old_ids)
    return SequenceDataset(
        sequences=seqs,
        n_items=n_items,
        n_users=len(seqs),
        item_text=texts,
        item_popularity=(np.bincount(np.concatenate(seqs), minlength=n_items).astype(np.int64)
                         if seqs else np.zeros(n_items, np.int64)),
        item_categories=cats,
        raw_item_ids=np.asarray(asins, dtype=object),
        raw_user_ids=np.asarray([user_keys[i] for i in kept_users], dtype=object),
        name=f"amazon-{prefix.lower()}",
    )
