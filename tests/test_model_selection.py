import doctest
from contextlib import nullcontext

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator
from sklearn.model_selection import GridSearchCV

from sksid import model_selection
from sksid.datasets import SequenceDataset
from sksid.metrics import ndcg10_scorer
from sksid.model_selection import LeaveLastOutCV, leave_last_out, train_item_counts


@pytest.mark.parametrize("module", [model_selection._leave_last_out, model_selection._temporal],
                         ids=lambda m: m.__name__)
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_split_definition():
    s = np.arange(30)
    split = leave_last_out([s], max_len=20)
    assert split.X_train[0].tolist() == list(range(27))  # uncapped
    assert split.y_train.tolist() == [27]
    assert split.X_valid[0].tolist() == list(range(8, 28))
    assert split.y_valid.tolist() == [28]
    assert split.X_test[0].tolist() == list(range(9, 29))
    assert split.y_test.tolist() == [29]
    for part in (split.X_train, split.X_valid, split.X_test):
        assert all(x.dtype == np.int64 for x in part)
    assert split.y_test.dtype == np.int64
    assert split.max_len == 20 and split.n_users == 1


def test_length_three_keeps_empty_training_history():
    split = leave_last_out([np.array([4, 5, 6])])
    assert split.X_train[0].size == 0 and split.y_train.tolist() == [4]
    assert split.X_valid[0].tolist() == [4] and split.X_test[0].tolist() == [4, 5]


def test_short_sequences_warn_with_count():
    seqs = [np.array([1, 2]), np.array([0, 1, 2, 3]), np.array([3]), np.array([], dtype=int)]
    with pytest.warns(UserWarning, match="dropped 3 user"):
        split = leave_last_out(seqs)
    assert split.users.tolist() == [1]
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="at least 3"):
        leave_last_out([np.array([1, 2])])


@pytest.mark.parametrize("bad, match", [
    ([np.array([0, -1, 2])], "negative"),
    ([np.array([0, 1, 9])], "unknown item ids"),
    ([np.array([0.5, 1, 2])], "non-integer"),
    ([], "empty"),
])
def test_bad_ids(bad, match):
    with pytest.raises(ValueError, match=match):
        leave_last_out(bad, n_items=5)


@pytest.mark.parametrize("max_len", [0, -1, 2.5, True])
def test_bad_max_len(max_len):
    with pytest.raises(ValueError, match="max_len"):
        leave_last_out([np.arange(4)], max_len=max_len)


def test_accepts_dataset():
    ds = SequenceDataset(sequences=[np.array([0, 1, 2, 1])], n_items=3, n_users=1, item_text=["", "", ""],
                         item_popularity=np.array([1, 2, 1]), item_categories=[[], [], []],
                         raw_item_ids=np.array(["a", "b", "c"], dtype=object))
    split = leave_last_out(ds)
    assert split.y_test.tolist() == [1]
    ds.sequences[0] = np.array([0, 1, 2, 7])
    with pytest.raises(ValueError, match="unknown"):
        leave_last_out(ds)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(0, 30), min_size=0, max_size=40), min_size=1, max_size=15),
       st.integers(1, 25))
def test_split_properties(seqs, max_len):
    seqs = [np.array(s, dtype=np.int64) for s in seqs]
    if not any(len(s) >= 3 for s in seqs):
        return
    with pytest.warns(UserWarning) if any(len(s) < 3 for s in seqs) else nullcontext():
        split = leave_last_out(seqs, max_len=max_len)
    for row, u in enumerate(split.users):
        s = seqs[u]
        assert np.array_equal(np.r_[split.X_train[row], split.y_train[row]], s[:-2])
        assert np.array_equal(np.r_[split.X_valid[row], split.y_valid[row]], s[:-1][-max_len - 1:])
        assert np.array_equal(np.r_[split.X_test[row], split.y_test[row]], s[-max_len - 1:])
        assert len(split.X_valid[row]) <= max_len and len(split.X_test[row]) <= max_len
    counts = train_item_counts(split, 31)
    assert counts.sum() == sum(len(seqs[u]) - 2 for u in split.users)


def test_train_item_counts_excludes_valid_and_test():
    split = leave_last_out([np.array([0, 1, 2, 3, 4]), np.array([1, 2, 5])])
    counts = train_item_counts(split, 6)
    assert counts.tolist() == [1, 2, 1, 0, 0, 0]
    with pytest.raises(ValueError, match="outside"):
        train_item_counts(split, 2)


# ------------------------------------------------------------------ search data / CV
class _Recorder(BaseEstimator):
    """Ranks items by popularity in what it was fitted on; records everything it saw."""

    seen: list = []

    def __init__(self, bonus=0):
        self.bonus = bonus

    def fit(self, X, y):
        items = np.concatenate([np.concatenate([np.asarray(x) for x in X]), np.asarray(y)]).astype(int)
        _Recorder.seen.append(set(items.tolist()))
        self.ranking_ = np.argsort(-np.bincount(items, minlength=100), kind="stable")[:10]
        return self

    def predict(self, X):
        _Recorder.seen.append(set(np.concatenate([np.asarray(x) for x in X]).astype(int).tolist()))
        return np.tile(self.ranking_, (len(X), 1))


def test_search_data_never_sees_test_items():
    rng = np.random.default_rng(0)
    # test items (90..99) appear only as the last item of each sequence
    seqs = [np.r_[rng.integers(0, 80, rng.integers(3, 30)), 90 + u] for u in range(10)]
    split = leave_last_out(seqs, max_len=5)
    X, y, cv = split.search_data()
    assert len(X) == len(y) == 20 and cv.get_n_splits() == 1
    (tr, va), = list(cv.split(X, y))
    assert tr.tolist() == list(range(10)) and va.tolist() == list(range(10, 20))
    assert y[va].tolist() == split.y_valid.tolist()

    _Recorder.seen = []
    gs = GridSearchCV(_Recorder(), {"bonus": [0, 1]}, cv=cv, scoring=ndcg10_scorer, refit=True)
    gs.fit(X, y)
    assert "mean_test_score" in gs.cv_results_
    assert len(_Recorder.seen) == 5  # 2 fits + 2 scorings + refit
    for items in _Recorder.seen:
        assert not items & set(range(90, 100))
    X_test, y_test = split.test_data()
    assert set(y_test.tolist()) == set(range(90, 100))


def test_cv_checks_length_and_repr():
    cv = LeaveLastOutCV(3, 2)
    assert repr(cv) == "LeaveLastOutCV(n_train=3, n_valid=2)"
    with pytest.raises(ValueError, match="n_train \\+ n_valid"):
        list(cv.split(list(range(4))))
    assert [v.tolist() for v in cv._iter_test_indices()] == [[3, 4]]


@pytest.mark.parametrize("n_train, n_valid, bad", [(-1, 2, "n_train"), (3, 0, "n_valid"), (2.5, 2, "n_train"),
                                                    (3, True, "n_valid")])
def test_cv_rejects_bad_sizes(n_train, n_valid, bad):
    # LeaveLastOutCV(-1, 2) used to yield the index -1
    with pytest.raises(ValueError, match=f"{bad} must be a positive int"):
        LeaveLastOutCV(n_train, n_valid)
