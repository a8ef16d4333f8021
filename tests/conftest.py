"""Shared fixtures: small real slices of MovieLens-100k and synthetic sequences."""
import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def ml100k():
    from sksid.datasets import load_movielens_100k

    return load_movielens_100k()


@pytest.fixture(scope="session")
def ml_split(ml100k):
    from sksid.model_selection import leave_last_out

    return leave_last_out(ml100k.sequences, max_len=20)


@pytest.fixture(scope="session")
def ml_small(ml_split):
    """First 200 users of the leave-last-out split, histories capped at 30 items."""
    n = 200
    s = ml_split
    return dict(
        X_train=[x[-30:] for x in s.X_train[:n]], y_train=s.y_train[:n],
        X_valid=s.X_valid[:n], y_valid=s.y_valid[:n],
        X_test=s.X_test[:n], y_test=s.y_test[:n],
        n_items=int(max(max(x.max() for x in s.X_test[:n] if len(x)), s.y_test[:n].max()) + 1),
    )


@pytest.fixture
def synthetic_sequences():
    """Sequences with a learnable pattern: item i is followed by (i + 1) mod 30."""
    rng = np.random.RandomState(0)
    X, y = [], []
    for _ in range(120):
        start = rng.randint(0, 30)
        length = rng.randint(2, 12)
        seq = (start + np.arange(length + 1)) % 30
        X.append(seq[:-1])
        y.append(seq[-1])
    return X, np.array(y)


def pytest_configure(config):
    # One torch thread per test process: tiny models gain nothing from more, and on a
    # shared 2-core machine oversubscribed threads make small steps orders slower.
    import torch

    torch.set_num_threads(1)
