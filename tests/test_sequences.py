import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from sksid._validation import check_sequences, check_targets, resolve_device
from sksid.sequences import SIDSequences, pad_histories, training_windows

seqs_strategy = st.lists(st.lists(st.integers(0, 50), min_size=0, max_size=60), min_size=1, max_size=15)


@settings(max_examples=60, deadline=None)
@given(seqs=seqs_strategy, max_len=st.integers(1, 25), stride=st.one_of(st.none(), st.integers(1, 30)))
def test_training_windows_cover_every_target_once(seqs, max_len, stride):
    X = [np.array(s[:-1], dtype=np.int64) for s in seqs if len(s)]
    y = np.array([s[-1] for s in seqs if len(s)], dtype=np.int64)
    inputs, targets = training_windows(X, y, max_len=max_len, stride=stride)
    assert inputs.shape == targets.shape and inputs.shape[1] == max_len
    # every (context -> target) pair of every sequence appears exactly once
    expected = sum(max(0, len(x)) for x in X)
    assert int((targets >= 0).sum()) == expected
    # a target's input position holds the previous item, and padding is right-aligned
    for row_i, row_t in zip(inputs, targets):
        n_real = int((row_i >= 0).sum())
        assert (row_i[:n_real] >= 0).all() and (row_i[n_real:] == -1).all()
        assert (row_t[n_real:] == -1).all()
    # the multiset of targets equals the multiset of items after the first one
    all_targets = np.sort(targets[targets >= 0])
    ref = np.sort(np.concatenate([np.append(x, t)[1:] for x, t in zip(X, y)] or [np.zeros(0, np.int64)]))
    np.testing.assert_array_equal(all_targets, ref)


def test_training_windows_context_is_long():
    X = [np.arange(100)]
    inputs, targets = training_windows(X, [100], max_len=20)
    # apart from the sequence start, every target sees at least max_len - stride items
    for row_i, row_t in zip(inputs, targets):
        for pos in np.flatnonzero(row_t >= 0):
            if row_i[0] != 0:
                assert pos + 1 >= 10


@settings(max_examples=40, deadline=None)
@given(seqs=seqs_strategy, max_len=st.integers(1, 25))
def test_pad_histories_keeps_most_recent(seqs, max_len):
    items, lengths = pad_histories([np.array(s, dtype=np.int64) for s in seqs], max_len)
    for s, row, n in zip(seqs, items, lengths):
        assert n == min(len(s), max_len)
        np.testing.assert_array_equal(row[:n], np.array(s[-max_len:] if s else [], dtype=np.int64))
        assert (row[n:] == -1).all()


def test_check_sequences_errors():
    with pytest.raises(ValueError, match="unknown item"):
        check_sequences([[0, 5]], n_items=5)
    with pytest.raises(ValueError, match="negative"):
        check_sequences([[0, -2]])
    with pytest.raises(ValueError, match="NaN"):
        check_sequences([np.array([0.0, np.nan])])
    with pytest.raises(ValueError, match="non-integer"):
        check_sequences([np.array([0.5])])
    with pytest.raises(ValueError, match="empty"):
        check_sequences([])
    with pytest.raises(ValueError, match="empty sequence"):
        check_sequences([[1], []], allow_empty=False)
    with pytest.raises(ValueError, match="1-D"):
        check_sequences([np.zeros((2, 2), dtype=int)])
    with pytest.raises(TypeError):
        check_sequences("abc")
    assert [s.tolist() for s in check_sequences([[1.0, 2.0]])] == [[1, 2]]


def test_check_targets_errors():
    with pytest.raises(ValueError, match="entries"):
        check_targets([1, 2], 3)
    with pytest.raises(ValueError, match="unknown"):
        check_targets([1, 9], 2, n_items=5)
    with pytest.raises(ValueError, match="NaN"):
        check_targets([1.0, np.inf], 2)


def test_resolve_device():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda")


def test_sidsequences_behaves_like_list():
    codes = np.array([[0, 1], [1, 0], [1, 1]])
    s = SIDSequences([np.array([0, 1]), np.array([2])], codes=codes)
    assert len(s) == 2 and s.n_items == 3 and s.code_length == 2
    assert s.codebook_sizes == (2, 2)
    np.testing.assert_array_equal(s.weights, np.ones((3, 2)))
    import pickle

    t = pickle.loads(pickle.dumps(s))
    assert isinstance(t, SIDSequences) and len(t) == 2
    np.testing.assert_array_equal(t.codes, codes)
    with pytest.raises(ValueError, match="weights shape"):
        SIDSequences([], codes=codes, weights=np.ones((3, 3)))


@pytest.mark.parametrize("codes, match", [
    (np.array([[0.7, 1.0], [1.0, 0.0]]), "codes must be integers"),  # 0.7 became 0
    (np.array([[0, -1], [1, 0]]), "non-negative"),
    (np.zeros((0, 2), dtype=np.int64), "non-empty"),
    (np.zeros((2, 0), dtype=np.int64), "non-empty"),
    (np.array([0, 1]), "2-D"),
])
def test_sidsequences_rejects_bad_codes(codes, match):
    with pytest.raises(ValueError, match=match):
        SIDSequences([np.array([0, 1])], codes=codes)


def test_sidsequences_rejects_bad_weights():
    codes = np.array([[0, 1], [1, 0]])
    for bad in (np.array([[1.0, -1.0], [1.0, 1.0]]), np.array([[1.0, np.nan], [1.0, 1.0]])):
        with pytest.raises(ValueError, match="finite and non-negative"):
            SIDSequences([np.array([0, 1])], codes=codes, weights=bad)
