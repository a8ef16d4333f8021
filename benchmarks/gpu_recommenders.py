"""IntRR vs TIGER on CUDA: training samples/s, peak memory, beam-search latency.

    python benchmarks/gpu_recommenders.py [--dataset movielens] [--epochs 3]

Trains both models with the reference backbone (4 layers, d_model 256, 6 x 64 heads,
FF 1024) on the same residual-k-means codes (sklearn KMeans on a short SASRec's item
embeddings, computed here so the script has no tokenizer dependency), then measures
training windows/s (skorch epoch time), ``torch.cuda.max_memory_allocated`` over one
training step, and per-user latency at beam widths 10/20/50. Writes
``docs/results/gpu_recommenders.md`` with the card's name. On a CPU-only machine it
says so and exits 0.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="movielens", choices=["movielens", "amazon"])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--levels", type=int, default=3)
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_recommenders: no CUDA device on this machine; nothing to do (run it on a GPU).")
        return 0

    from _common import load_dataset, markdown_table, write_result
    from bench_recommenders import BEAMS, _rq_kmeans_fallback, latency, peak_memory

    from sksid.model_selection import leave_last_out
    from sksid.recommenders.intrr import IntRRRecommender
    from sksid.recommenders.sasrec import SASRecRecommender
    from sksid.recommenders.tiger import TIGERRecommender
    from sksid.sequences import training_windows

    card = torch.cuda.get_device_name()
    ds = load_dataset(args.dataset)
    split = leave_last_out(ds, max_len=20)
    common = dict(max_epochs=args.epochs, device="cuda", random_state=0, batch_size=256,
                  validation_fraction=0, compile=False)
    sas = SASRecRecommender(d_model=64, **common).fit(split.X_train, split.y_train)
    K = 32 if ds.n_items < 5000 else 100
    codes, weights = _rq_kmeans_fallback(sas.item_embeddings_, K, args.levels)
    n_win = training_windows(split.X_train, split.y_train, 20)[0].shape[0]
    bb = dict(d_model=256, n_layers=4, n_heads=6, head_dim=64, d_ff=1024, dropout=0.15)
    rows = []
    for name, cls in (("TIGER", TIGERRecommender), ("IntRR", IntRRRecommender)):
        rec = cls(**bb, **common)
        t0 = time.perf_counter()
        rec.fit(split.X_train, split.y_train, codes=codes, weights=weights)
        fit_s = time.perf_counter() - t0
        durs = [h["dur"] for h in rec.history_[1:]] or [rec.history_[0]["dur"]]  # skip warm-up epoch
        mem, _ = peak_memory(rec, split)
        lat = latency(rec, split.X_test, BEAMS)
        rows.append({"model": name, "tokens/sequence": 20 * rec.tokens_per_item_,
                     "train windows/s": n_win / float(np.mean(durs)), "peak train MiB": mem,
                     "fit s": fit_s, **{f"ms/user bw={b}": v for b, v in lat.items()}})
    t, i = rows
    rows.append({"model": "IntRR / TIGER", **{k: i[k] / t[k] for k in t if k != "model"}})
    text = "\n".join([
        f"# IntRR vs TIGER on {card}",
        "",
        f"`python benchmarks/gpu_recommenders.py --dataset {args.dataset} --epochs {args.epochs}`; "
        f"torch {torch.__version__}; bf16 autocast; {args.levels}-level residual k-means codes "
        f"(K={K}, +1 disambiguation level when needed); reference backbone {bb}; batch 256.",
        "",
        markdown_table(rows, floatfmt=".3g"),
        "",
        "Peak memory: CUDA max_memory_allocated growth over one training step. Latency: predict on "
        "all test users (batch 256) / users, after a warm-up. TIGER decodes with a KV cache.",
    ]) + "\n"
    path = write_result("gpu_recommenders.md", text)
    print(text)
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
