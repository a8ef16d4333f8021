"""Bring your own data: ``sksid.datasets.from_interactions`` and the dataset's raw-id
``encode`` / ``decode``."""
import doctest
import warnings

import numpy as np
import pandas as pd
import pytest

from sksid import MostPopular
from sksid.datasets import SequenceDataset, frame, from_interactions


def test_doctests():
    assert doctest.testmod(frame).failed == 0


def _toy():
    return pd.DataFrame({"user": ["u2", "u1", "u2", "u1", "u2", "u1"],
                         "item": ["b", "a", "c", "c", "a", "b"],
                         "ts": [10, 5, 10, 7, 11, 6],
                         "rating": [5, 4, 3, 2, 1, 5],
                         "title": ["B", "A", None, "C", "A2", "B"]})


def test_sequences_ids_and_ties_keep_the_row_order():
    ds = from_interactions(_toy(), user_col="user", item_col="item", time_col="ts", item_text="title")
    assert isinstance(ds, SequenceDataset)
    assert ds.raw_user_ids.tolist() == ["u1", "u2"] and ds.raw_item_ids.tolist() == ["a", "b", "c"]
    # u2's "b" and "c" share ts=10: row order (b before c) is kept
    assert [ds.decode(s).tolist() for s in ds.sequences] == [["a", "b", "c"], ["b", "c", "a"]]
    assert ds.n_items == 3 and ds.n_users == 2 and ds.item_popularity.tolist() == [2, 2, 2]
    # the first non-missing title in row order
    assert ds.item_text == ["A", "B", "C"] and ds.item_categories == [[], [], []]
    rows = ds.interactions
    assert list(rows.columns) == ["user_id", "item_id", "timestamp", "rating"]
    assert rows["user_id"].tolist() == [1, 0, 1, 0, 1, 0] and rows["rating"].tolist() == [5, 4, 3, 2, 1, 5]


def test_text_and_categories_as_mappings_keyed_by_raw_id():
    df = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [30, 10, 30], "timestamp": [1, 2, 3]})
    ds = from_interactions(df, item_text=pd.Series({30: "thirty"}),
                           item_categories={10: "x|y", 30: ["z"]})
    assert ds.raw_item_ids.tolist() == [10, 30]
    assert ds.item_text == ["", "thirty"] and ds.item_categories == [["x", "y"], ["z"]]


def test_no_time_column_means_row_order():
    df = pd.DataFrame({"user_id": [0, 0, 0], "item_id": [3, 1, 2]})
    ds = from_interactions(df, time_col=None)
    assert ds.decode(ds.sequences[0]).tolist() == [3, 1, 2]


def test_min_interactions_filters_and_warns():
    df = pd.DataFrame({"user_id": [0, 0, 1, 1, 2], "item_id": [5, 6, 5, 6, 7], "timestamp": range(5)})
    with pytest.warns(UserWarning, match="2-core"):
        ds = from_interactions(df, min_interactions=2)
    assert ds.raw_item_ids.tolist() == [5, 6] and ds.raw_user_ids.tolist() == [0, 1]
    assert len(ds.interactions) == 4
    with pytest.raises(ValueError, match="leaves no user"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_interactions(df, min_interactions=9)


@pytest.mark.parametrize("kwargs, frame_, match", [
    (dict(user_col="who"), None, r"no 'who' column .*pass user_col="),
    (dict(time_col="when"), None, r"no 'when' column .*pass time_col="),
    (dict(item_text="nope"), None, r"no 'nope' column .*pass item_text="),
    (dict(), pd.DataFrame({"user_id": [0, np.nan], "item_id": [1, 2], "timestamp": [0, 1]}),
     r"'user_id' has 1 missing value.*dropna"),
    (dict(), pd.DataFrame({"user_id": [0, 1], "item_id": ["a", None], "timestamp": [0, 1]}),
     r"'item_id' has 1 missing value"),
    (dict(), pd.DataFrame({"user_id": [0, 1], "item_id": ["a", 3], "timestamp": [0, 1]}),
     r"mixes id types.*astype\(str\)"),
    (dict(), pd.DataFrame({"user_id": [0, 1], "item_id": [1, 2], "timestamp": ["x", "y"]}),
     r"numbers or datetimes.*to_datetime"),
    (dict(item_text={"1": "one"}), None, r"not item ids of df\['item_id'\].*str.*same type"),
    (dict(item_categories={99: ["x"]}), None, r"item_categories has 1 key"),
    (dict(), pd.DataFrame({"user_id": [], "item_id": [], "timestamp": []}), "no rows"),
])
def test_errors_say_how_to_fix(kwargs, frame_, match):
    df = frame_ if frame_ is not None else pd.DataFrame(
        {"user_id": [0, 0, 1], "item_id": [1, 2, 1], "timestamp": [0, 1, 2]})
    with pytest.raises(ValueError, match=match):
        from_interactions(df, **kwargs)
    with pytest.raises(TypeError, match="DataFrame"):
        from_interactions([[0, 1]])


def test_movielens_rebuilt_from_a_frame_with_string_ids(ml100k):
    rows = ml100k.interactions
    df = pd.DataFrame({"user": ml100k.raw_user_ids[rows["user_id"]].astype(str),
                       "movie": "m" + ml100k.raw_item_ids[rows["item_id"]].astype(str),
                       "ts": rows["timestamp"]})
    text = {"m" + r: t for r, t in zip(ml100k.raw_item_ids, ml100k.item_text)}
    ds = from_interactions(df, user_col="user", item_col="movie", time_col="ts", item_text=text)
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (943, 1682, 100_000)
    want = {u: ["m" + r for r in ml100k.raw_item_ids[s]] for u, s in zip(ml100k.raw_user_ids, ml100k.sequences)}
    got = {u: ds.decode(s).tolist() for u, s in zip(ds.raw_user_ids, ds.sequences)}
    assert got == want  # same histories, same tie rule (stable, file order)
    assert dict(zip(ds.raw_item_ids, ds.item_text)) == text


def test_raw_id_recommendations_round_trip():
    df = pd.DataFrame({"user_id": ["a", "a", "b", "b", "b"], "item_id": ["x", "y", "y", "z", "y"],
                       "timestamp": range(5)})
    ds = from_interactions(df)
    rec = MostPopular(top_k=2).fit(ds.sequences, None)
    raw = ds.decode(rec.predict(ds.encode([["x"], []])))
    assert raw.tolist() == [["y", "x"], ["y", "x"]]
    ids, _ = rec.recommend(ds.encode([["y", "x"]]), k=3, exclude_seen=True)
    assert ds.decode(ids).tolist() == [["z", -1, -1]]
    with pytest.raises(ValueError, match=r"\['new'\] are not items.*unknown='drop'"):
        ds.encode([["x", "new"]])
    assert [h.tolist() for h in ds.encode([["x", "new"]], unknown="drop")] == [[0]]
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\)"):
        ds.decode([[3]])


def test_columns_already_named_like_the_index_columns_are_kept_as_original():
    df = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 2], "item_id": [5, 6, 7, 5, 6, 7],
                       "u": list("aaabbb"), "i": list("xyzxzy"), "t": range(6)})
    ds = from_interactions(df, user_col="u", item_col="i", time_col="t")
    cols = ds.interactions.columns.tolist()
    assert {"user_id", "item_id", "timestamp", "user_id_original", "item_id_original"} <= set(cols)
    assert ds.interactions["item_id_original"].tolist() == [5, 6, 7, 5, 6, 7]
    assert ds.interactions["item_id"].tolist() == [0, 1, 2, 0, 2, 1]


def test_item_features_of_a_dataset_without_categories():
    from sksid.features import item_features

    df = pd.DataFrame({"u": list("aaabbb"), "i": list("xyzxzy"), "t": range(6)})
    ds = from_interactions(df, user_col="u", item_col="i", time_col="t")
    with pytest.raises(ValueError, match="no categories"):
        item_features(ds, text=False)
