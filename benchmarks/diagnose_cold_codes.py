"""Do cold items' ADC-SID codes depend on their (untrained) behavioural rows?

    python benchmarks/diagnose_cold_codes.py --epochs 20

MovieLens-100k, ``cold_item_split(cold_fraction=0.1, random_state=0)``; behavioural rows: a
32-dimensional SVD of the training user-item matrix (cold items have no interaction, so
their rows are drawn like an untrained table's, 0.05 * N(0, 1)). ADC-SID (package defaults
but ``max_epochs``) is fitted with the training counts (cold: 0); then the cold rows are
redrawn at the warm rows' scale and the catalogue transformed again. Prints, as JSON, the
share of cold items whose code changed (per position and any), the warm items' share, and
the behavioural weights of cold and warm items.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sksid  # noqa: E402
from sksid.datasets import load_movielens_100k  # noqa: E402
from sksid.features import item_features  # noqa: E402
from sksid.model_selection import cold_item_split, train_item_counts  # noqa: E402
from sksid.tokenizers import ADCSIDTokenizer  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    ds = load_movielens_100k()
    split = cold_item_split(ds.sequences, cold_fraction=0.1, random_state=args.seed)
    counts = train_item_counts(split, ds.n_items)
    feats = dict(item_features(ds, text=True, categories=True, show_progress=False))
    M = np.zeros((len(split.X_train), ds.n_items), np.float32)
    for u, s in enumerate(split.X_train):
        M[u, s] = 1
    _, sv, vt = np.linalg.svd(M, full_matrices=False)
    collab = (vt[:32].T * sv[:32]).astype(np.float32)
    cold = split.cold_items
    collab[cold] = 0.05 * np.random.RandomState(0).randn(len(cold), 32)
    X = {**feats, "collab": collab}
    t = ADCSIDTokenizer(max_epochs=args.epochs, device="cpu", random_state=args.seed).fit(X, item_counts=counts)
    b = t._behavior_positions()
    X2 = {**X, "collab": collab.copy()}
    X2["collab"][cold] = np.random.RandomState(1).randn(len(cold), 32) * collab[counts > 0].std(0)
    c2, _ = t.transform(X2)
    changed = c2[cold] != t.codes_[cold]
    warm = counts > 0
    print(json.dumps({
        "package": sksid.__file__, "layout": t.code_layout_, "n_cold": int(len(cold)),
        "cold_codes_changed_per_position": changed.mean(0).round(3).tolist(),
        "cold_items_any_code_changed": float(changed.any(1).mean()),
        "warm_codes_changed": float((c2[warm] != t.codes_[warm]).any(1).mean()),
        "cold_behav_weight_mean": float(t.weights_[cold][:, b].mean()),
        "cold_behav_weight_max": float(t.weights_[cold][:, b].max()),
        "warm_behav_weight_mean": float(t.weights_[warm][:, b].mean()),
        "cold_alignment_strength": float(t.alignment_strength_[cold].max())}))


if __name__ == "__main__":
    main()
