"""Where IntRR loses a cold target: per-level log-probabilities of cold test targets
against the items it ranks in their place.

    python benchmarks/diagnose_cold_ranks.py --seed 0 --epochs 10

Uses the cached SASRec-based ADC-SID codes of ``bench_cold.py`` (run it first) for the
seed, fits IntRR (package defaults, ``max_epochs=--epochs``) unless the bench left a fitted
one, and prints JSON: for the users whose test target is cold, the target's median rank
under the full score, under the level terms alone and under each ``cold_uid``; per level,
the mean log p_l of the cold targets and of the top-10 items, and the share of cold
targets whose code at that level is forced (one child in the trie).
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import joblib
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cache_root, load_dataset  # noqa: E402

from sksid import IntRRRecommender  # noqa: E402
from sksid.model_selection import cold_item_split  # noqa: E402
from sksid.sequences import pad_histories  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    data = load_dataset("movielens")
    split = cold_item_split(data.sequences, cold_fraction=0.1, random_state=args.seed, n_items=data.n_items)
    cache = cache_root() / "bench" / "cold_movielens" / f"seed{args.seed}"
    fitted = cache / "intrr_adcsid.joblib"
    if fitted.exists():
        rec = joblib.load(fitted)
    else:
        z = np.load(cache / "codes_adcsid.npz")
        rec = IntRRRecommender(max_epochs=args.epochs, device="cpu", random_state=args.seed)
        rec.fit(split.X_train, split.y_train, codes=z["codes"], weights=z["weights"])
    m = rec.net_.module_.eval()
    users = np.flatnonzero(split.test_cold)
    items, lengths = (torch.as_tensor(a) for a in pad_histories([split.X_test[u] for u in users], rec.max_len))
    target = torch.as_tensor(split.y_test[users])
    out = {"seed": args.seed, "n_cold_users": int(len(users)), "n_epochs": int(rec.n_epochs_)}
    with torch.no_grad():
        h = m.user_state(items, lengths).float()
        levels = list(m.level_scores(h))
        sid = sum(levels)

        def rank(score):
            t = score.gather(1, target[:, None])
            return (score > t).sum(1).float()

        out["median_rank_levels_only"] = float(rank(sid).median())
        for mode in ("prefix_mean", "drop", "uid"):
            rec.set_params(cold_uid=mode)
            rec._set_cold_items(m)
            out[f"median_rank_{mode}"] = float(rank(sid + m.item_bonus(h)).median())
        rec.set_params(cold_uid="prefix_mean")
        rec._set_cold_items(m)
        top = (sid + m.item_bonus(h)).topk(10, dim=1).indices
        per = []
        for lv, lp in enumerate(levels):
            forced = (lp.gather(1, target[:, None]) == 0).float().mean()
            per.append({"level": lv, "cold_target_logp": round(float(lp.gather(1, target[:, None]).mean()), 3),
                        "top10_logp": round(float(lp.gather(1, top).mean()), 3),
                        "cold_target_forced": round(float(forced), 3)})
        out["levels"] = per
        b = m.item_bonus(h)
        out["uid_term_cold_target"] = round(float(b.gather(1, target[:, None]).mean()), 3)
        out["uid_term_top10"] = round(float(b.gather(1, top).mean()), 3)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
