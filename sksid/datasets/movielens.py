"""MovieLens-100k, read from the copy shipped inside the ``recbole`` wheel."""
from __future__ import annotations

import csv
import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ._base import SequenceDataset, _remap, k_core_filter

__all__ = ["load_movielens_100k"]

_RECBOLE_HINT = (
    "MovieLens-100k is read from the files bundled with RecBole 1.2.1. Install them with:\n"
    "    pip install --no-deps recbole==1.2.1\n"
    "(sksid only reads the data files; RecBole's own dependencies are not needed)."
)
# placeholder values of the raw data that mean "unknown" (item 267 is spelt 'unkonwn')
_MISSING = {"", "unknown", "unkonwn"}


def _recbole_ml100k_dir() -> Path:
    """Locate ``recbole/dataset_example/ml-100k`` without importing recbole's code."""
    try:
        spec = importlib.util.find_spec("recbole")
    except (ImportError, ValueError):  # pragma: no cover - broken installs
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(_RECBOLE_HINT)
    for loc in spec.submodule_search_locations:
        folder = Path(loc) / "dataset_example" / "ml-100k"
        if (folder / "ml-100k.inter").is_file() and (folder / "ml-100k.item").is_file():
            return folder
    raise ImportError("recbole is installed but its dataset_example/ml-100k files were not found. "
                      + _RECBOLE_HINT)


def _read_atomic(path: Path) -> pd.DataFrame:
    """Read a RecBole atomic file; column names lose their ``:type`` suffix."""
    df = pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, dtype=str,
                     keep_default_na=False, encoding="utf-8")
    df.columns = [c.split(":")[0] for c in df.columns]
    return df


def load_movielens_100k(min_interactions: int | None = None) -> SequenceDataset:
    """Load MovieLens-100k as chronological user sequences.

    The data are RecBole 1.2.1's atomic files ``ml-100k.inter`` (user, item, rating,
    timestamp) and ``ml-100k.item`` (title, release year, genres), located through
    :func:`importlib.util.find_spec` so that none of RecBole's code runs. Every rating
    counts as an interaction (implicit feedback), as in RecBole's sequential setting.

    Each user's interactions are sorted by timestamp with a **stable** sort: ties keep
    the file order, which is what RecBole does (599 of the 943 users have ties among
    their last three items, so this choice changes the test items).

    Parameters
    ----------
    min_interactions : int or None, default=None
        Iterative k-core filtering of users *and* items. The default keeps the full
        data set, as RecBole's default configuration does (943 users, 1,682 items,
        100,000 interactions; every user already has at least 20 ratings). With
        ``min_interactions=5`` the 5-core drops 333 items with fewer than 5 ratings
        and their 713 interactions, leaving 943 users, 1,349 items and 99,287
        interactions; the ids are then remapped and a warning gives the counts.

    Returns
    -------
    SequenceDataset
        ``item_text`` is ``"<title> (<year>)"``; ``item_categories`` the genres
        (the raw placeholder genre ``unknown`` is treated as missing).
        ``raw_item_ids``/``raw_user_ids`` hold MovieLens' ids as str. Users are in
        increasing order of their MovieLens id, items in increasing item id.
        ``interactions`` is a DataFrame of the rating rows (``user_id``, ``item_id``,
        ``rating``, ``timestamp``; int64, file order, ids as in ``sequences``), the input
        of the CTR ranking protocol (:func:`sksid.model_selection.temporal_split`);
        rows removed by ``min_interactions`` are removed there too.

    Raises
    ------
    ImportError
        If RecBole's data files are not installed; the message gives the command.

    Examples
    --------
    >>> ds = load_movielens_100k()  # doctest: +SKIP
    >>> ds.n_users, ds.n_items, ds.n_interactions  # doctest: +SKIP
    (943, 1682, 100000)
    """
    folder = _recbole_ml100k_dir()
    inter = _read_atomic(folder / "ml-100k.inter")
    items = _read_atomic(folder / "ml-100k.item")

    n_rows = len(inter)
    bad = (inter["user_id"] == "") | (inter["item_id"] == "") | (inter["timestamp"] == "")
    if bad.any():
        warnings.warn(f"ml-100k: dropped {int(bad.sum())} of {n_rows} interaction rows with a "
                      "missing user, item or timestamp", UserWarning, stacklevel=2)
        inter = inter[~bad]
    ts = pd.to_numeric(inter["timestamp"]).to_numpy()

    # item id space: items of the .item file (in file order), then interacted ids missing there
    item_raw = list(items["item_id"])
    meta_ids = set(item_raw)
    extra = sorted(set(inter["item_id"]) - meta_ids, key=lambda x: (len(x), x))
    if extra:
        warnings.warn(f"ml-100k: {len(extra)} interacted item(s) have no row in ml-100k.item; "
                      "their text and genres are empty", UserWarning, stacklevel=2)
    item_raw = item_raw + extra
    item_index = {r: i for i, r in enumerate(item_raw)}
    item_codes = inter["item_id"].map(item_index).to_numpy(dtype=np.int64)

    user_codes, user_raw = pd.factorize(inter["user_id"])
    order_u = np.argsort(pd.to_numeric(pd.Series(user_raw), errors="coerce").fillna(np.inf).to_numpy(),
                         kind="stable")
    user_rank = np.empty_like(order_u)
    user_rank[order_u] = np.arange(len(order_u))
    user_codes = user_rank[user_codes]
    user_raw = np.asarray(user_raw, dtype=object)[order_u]

    # group by user, then time; lexsort is stable, so ties keep the file order
    order = np.lexsort((ts, user_codes))
    bounds = np.cumsum(np.bincount(user_codes, minlength=len(user_raw)))[:-1]
    sequences = np.split(item_codes[order], bounds)

    n_all = len(item_raw)
    counts0 = np.bincount(item_codes, minlength=n_all)
    if (counts0 == 0).any():
        warnings.warn(f"ml-100k: dropped {int((counts0 == 0).sum())} item(s) without any interaction",
                      UserWarning, stacklevel=2)
    sequences, kept_users, keep = k_core_filter(sequences, min_interactions, n_all, name="ml-100k")
    counts = np.bincount(np.concatenate(sequences), minlength=n_all) if sequences else np.zeros(n_all, int)
    keep &= counts > 0
    sequences, old_ids = _remap(sequences, keep)

    meta = items.set_index("item_id")
    texts, cats = [], []
    for old in old_ids:
        raw = item_raw[old]
        if raw in meta.index:
            row = meta.loc[raw]
            title = row["movie_title"].strip()
            year = row["release_year"].strip()
            title = "" if title.lower() in _MISSING else title
            year = "" if year.lower() in _MISSING else year
            text = f"{title} ({year})" if title and year else title
            genres = [g for g in row["class"].split() if g.lower() not in _MISSING]
        else:
            text, genres = "", []
        texts.append(text)
        cats.append(genres)

    new_user = np.full(len(user_raw), -1, dtype=np.int64)
    new_user[kept_users] = np.arange(len(kept_users))
    new_item = np.full(n_all, -1, dtype=np.int64)
    new_item[old_ids] = np.arange(len(old_ids))
    rows = pd.DataFrame({"user_id": new_user[user_codes], "item_id": new_item[item_codes],
                         "rating": pd.to_numeric(inter["rating"]).to_numpy().astype(np.int64),
                         "timestamp": ts.astype(np.int64)})
    rows = rows[(rows["user_id"] >= 0) & (rows["item_id"] >= 0)].reset_index(drop=True)

    return SequenceDataset(
        sequences=sequences,
        n_items=len(old_ids),
        n_users=len(sequences),
        item_text=texts,
        item_popularity=np.bincount(np.concatenate(sequences), minlength=len(old_ids)).astype(np.int64),
        item_categories=cats,
        raw_item_ids=np.asarray([item_raw[i] for i in old_ids], dtype=object),
        raw_user_ids=user_raw[kept_users],
        name="ml-100k",
        interactions=rows,
    )
