"""Your own interaction log as a :class:`SequenceDataset`: :func:`from_interactions`."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ._base import SequenceDataset, _remap, k_core_filter

__all__ = ["from_interactions"]

#: separator of several categories written in one string ("Action|Comedy")
CATEGORY_SEP = "|"


def _column(df, col, what):
    if col not in df.columns:
        raise ValueError(f"the DataFrame has no {col!r} column for {what} (columns: {list(df.columns)}); "
                         f"pass {what}=<the name of that column>")
    return df[col]


def _no_missing(values: pd.Series, col: str) -> None:
    bad = values.isna().to_numpy()
    if bad.any():
        rows = values.index[bad][:5].tolist()
        raise ValueError(f"column {col!r} has {int(bad.sum())} missing value(s) (rows {rows}); every "
                         f"interaction needs one: drop them first, df.dropna(subset=[{col!r}])")


def _raw_ids(values: pd.Series, col: str) -> np.ndarray:
    """Sorted distinct raw ids of a column; one kind of id (numbers or strings)."""
    _no_missing(values, col)
    try:
        return np.unique(values.to_numpy())
    except TypeError:
        raise ValueError(f"column {col!r} mixes id types (e.g. ints and strings); make them one "
                         f"type, e.g. df[{col!r}] = df[{col!r}].astype(str)") from None


def _per_item(spec, df, item_col, raw_items, what):
    """``{raw item id: value}`` of a column name of ``df`` or of a mapping / Series keyed by
    raw item id (keys must occur in ``df[item_col]``)."""
    if spec is None:
        return {}
    if isinstance(spec, str):
        col = _column(df, spec, what)
        first = col[col.notna()].groupby(df.loc[col.notna(), item_col], sort=False).first()
        return dict(first.items())
    if isinstance(spec, pd.Series):
        spec = spec[spec.notna()].to_dict()
    if not isinstance(spec, Mapping):
        raise TypeError(f"{what} must be None, a column name of the DataFrame or a mapping / pandas "
                        f"Series from raw item id to value, got {type(spec).__name__}")
    known = pd.Index(raw_items)
    keys = list(spec)
    unknown = [k for k, ok in zip(keys, known.get_indexer(keys) >= 0) if not ok] if keys else []
    if unknown:
        kinds = sorted({type(k).__name__ for k in unknown})
        raise ValueError(
            f"{what} has {len(unknown)} key(s) that are not item ids of df[{item_col!r}] (e.g. "
            f"{unknown[:3]}, of type {', '.join(kinds)}; the column holds {raw_items.dtype} ids like "
            f"{raw_items[:3].tolist()}). Key it by the raw ids of that column (same type), and keep "
            f"the interacted items only: {{k: v for k, v in {what}.items() if k in set(df[{item_col!r}])}}")
    return dict(spec)


def _as_text(v) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()


def _as_categories(v) -> list:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return []
    if isinstance(v, str):
        return [c.strip() for c in v.split(CATEGORY_SEP) if c.strip()]
    if isinstance(v, (list, tuple, set, np.ndarray, pd.Series)):
        return [str(c).strip() for c in v if str(c).strip()]
    return [str(v)]


def from_interactions(df, *, user_col: str = "user_id", item_col: str = "item_id",
                      time_col: str | None = "timestamp", item_text=None, item_categories=None,
                      min_interactions: int | None = None, name: str = "interactions") -> SequenceDataset:
    """Turn a (user, item, time) interaction log into the dataset the bundled loaders return.

    One row is one interaction. Each user's rows are sorted by ``time_col`` with a
    **stable** sort: rows with the same timestamp keep their order in ``df`` (sort ``df``
    first if another tie rule is wanted). Raw ids may be ints or strings; items are
    numbered ``0 .. n_items - 1`` in sorted raw-id order and users in sorted raw-id order.
    The raw ids stay on the dataset (``raw_item_ids``, ``raw_user_ids``);
    :meth:`SequenceDataset.encode` and :meth:`SequenceDataset.decode` translate
    histories and recommendations between the two.

    Parameters
    ----------
    df : pandas.DataFrame
        The interaction rows.
    user_col, item_col : str, default="user_id", "item_id"
        Columns of the raw user and item ids (no missing values; one id type per column).
    time_col : str or None, default="timestamp"
        Column ordering each user's interactions (numbers or datetimes, no missing
        values); None: the row order of ``df`` is the time order.
    item_text : str, mapping or pandas.Series, optional
        Text of each item (title, description), used by
        :func:`sksid.features.item_features`. A **column name** of ``df`` (an item's first
        non-missing value in row order), or a **mapping / Series from raw item id to
        text** (keys must be item ids of ``df[item_col]``, same type). Items without one
        get ``''``.
    item_categories : str, mapping or pandas.Series, optional
        Categories of each item (genres, brand ...), given like ``item_text``. A value is a
        list of strings or one string with categories separated by ``'|'``
        (``"Action|Comedy"``). Items without one get ``[]``.
    min_interactions : int or None, default=None
        Iterative k-core filtering of users and items (:func:`k_core_filter`; a warning
        gives what was dropped). None keeps every row.
    name : str, default="interactions"
        Dataset name (``SequenceDataset.name``).

    Returns
    -------
    SequenceDataset
        ``sequences``, ``n_items``, ``item_text``, ``item_categories``,
        ``item_popularity``, ``raw_item_ids`` / ``raw_user_ids`` as for the bundled
        loaders; ``interactions`` holds the kept rows in ``df``'s order with ``user_id`` and
        ``item_id`` as dataset indices (``timestamp`` from ``time_col``; the other columns
        of ``df``, except those named by ``item_text`` / ``item_categories``, unchanged; one
        that already bore one of those three names keeps its values as ``<name>_original``).

    Raises
    ------
    ValueError
        A missing column, a missing id or timestamp, an id column mixing types, text or
        category keys that are not item ids of ``df``, an empty frame, or filtering that
        leaves nothing; each message says what to change.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"user": ["ann", "bob", "ann", "ann", "bob"],
    ...                    "item": ["tea", "jam", "jam", "tea", "bun"],
    ...                    "ts": [3, 1, 5, 5, 2]})
    >>> ds = from_interactions(df, user_col="user", item_col="item", time_col="ts",
    ...                        item_text={"tea": "Green tea", "jam": "Plum jam"})
    >>> ds.raw_item_ids.tolist(), [s.tolist() for s in ds.sequences]
    (['bun', 'jam', 'tea'], [[2, 1, 2], [1, 0]])
    >>> ds.item_text
    ['', 'Plum jam', 'Green tea']
    >>> ds.decode([[2, 0]]).tolist(), [h.tolist() for h in ds.encode([["jam", "bun"]])]
    ([['tea', 'bun']], [[1, 0]])
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame of interaction rows, got {type(df).__name__}; "
                        "e.g. pd.read_csv('interactions.csv')")
    users = _column(df, user_col, "user_col")
    items = _column(df, item_col, "item_col")
    if len(df) == 0:
        raise ValueError("df has no rows: at least one interaction is required")
    raw_users = _raw_ids(users, user_col)
    raw_items = _raw_ids(items, item_col)
    texts = _per_item(item_text, df, item_col, raw_items, "item_text")
    cats = _per_item(item_categories, df, item_col, raw_items, "item_categories")

    u = pd.Index(raw_users).get_indexer(users.to_numpy()).astype(np.int64)
    i = pd.Index(raw_items).get_indexer(items.to_numpy()).astype(np.int64)
    if time_col is None:
        times = np.arange(len(df))
    else:
        t = _column(df, time_col, "time_col")
        _no_missing(t, time_col)
        times = t.to_numpy()
        if times.dtype.kind not in "iufM":
            raise ValueError(f"column {time_col!r} must hold numbers or datetimes, got dtype {times.dtype}; "
                             f"convert it, e.g. pd.to_datetime(df[{time_col!r}])")
    order = np.lexsort((times, u))  # by user, then time; stable, so ties keep the row order
    bounds = np.cumsum(np.bincount(u, minlength=len(raw_users)))[:-1]
    sequences = np.split(i[order], bounds)

    n_all = len(raw_items)
    sequences, kept_users, keep = k_core_filter(sequences, min_interactions, n_all, name=name)
    if not sequences:
        raise ValueError(f"min_interactions={min_interactions} leaves no user (the data have "
                         f"{len(raw_users)} users, {n_all} items); lower it or pass None")
    sequences, old_ids = _remap(sequences, keep)

    new_user = np.full(len(raw_users), -1, dtype=np.int64)
    new_user[kept_users] = np.arange(len(kept_users))
    new_item = np.full(n_all, -1, dtype=np.int64)
    new_item[old_ids] = np.arange(len(old_ids))
    dropped = {c for c in (item_text, item_categories) if isinstance(c, str)}
    rows = df[[c for c in df.columns if c not in dropped]].copy()
    rows[user_col], rows[item_col] = new_user[u], new_item[i]
    renames = {user_col: "user_id", item_col: "item_id", **({time_col: "timestamp"} if time_col is not None else {})}
    # other columns already named like a target keep their values under "<name>_original"
    clash = {c: f"{c}_original" for c in rows.columns if c in renames.values() and c not in renames}
    rows = rows.rename(columns={**clash, **renames})
    rows = rows[(rows["user_id"] >= 0) & (rows["item_id"] >= 0)].reset_index(drop=True)

    kept_raw = raw_items[old_ids]
    return SequenceDataset(
        sequences=sequences,
        n_items=len(old_ids),
        n_users=len(sequences),
        item_text=[_as_text(texts.get(r)) for r in kept_raw],
        item_popularity=np.bincount(np.concatenate(sequences), minlength=len(old_ids)).astype(np.int64),
        item_categories=[_as_categories(cats.get(r)) for r in kept_raw],
        raw_item_ids=np.asarray(kept_raw.tolist(), dtype=object),
        raw_user_ids=np.asarray(raw_users[kept_users].tolist(), dtype=object),
        name=name,
        interactions=rows,
    )
