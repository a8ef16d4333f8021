"""Fit ADCSIDTokenizer on CUDA (when available) and on CPU on the same data; print timings.

    python benchmarks/gpu_tokenizer.py [--n-items 5000] [--epochs 20]

Synthetic catalogue (text-like 384-d, category-like 20-d, behaviour 64-d with log-normal
norms) so that it runs without downloads. On a CPU-only machine it says CUDA is absent and
times the CPU fit only.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sksid.tokenizers import ADCSIDTokenizer


def make_data(n, seed=0):
    rng = np.random.RandomState(seed)
    text = rng.randn(n, 384).astype(np.float32)
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    cat = (rng.rand(n, 20) > 0.85).astype(np.float32)
    collab = (np.exp(rng.randn(n, 1)) * rng.randn(n, 64)).astype(np.float32)
    return {"text": text, "category": cat, "collab": collab}


def fit_time(device, X, epochs, batch_size):
    tok = ADCSIDTokenizer(max_epochs=epochs, batch_size=batch_size, device=device, random_state=0)
    if device == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    tok.fit(X)
    if device == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t
    rep = tok.quantization_report()
    return dt, rep


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-items", type=int, default=5000)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=512)
    args = ap.parse_args(argv)
    X = make_data(args.n_items)
    print(f"ADC-SID fit: {args.n_items} items, {args.epochs} epochs, batch {args.batch_size}")
    if torch.cuda.is_available():
        fit_time("cuda", {m: a[:200] for m, a in X.items()}, 1, args.batch_size)  # warm-up
        dt, rep = fit_time("cuda", X, args.epochs, args.batch_size)
        print(f"cuda ({torch.cuda.get_device_name(0)}): {dt:.2f}s  util min "
              f"{rep['utilization'].min():.3f}  entropy {rep['entropy'].mean():.3f} bits")
    else:
        print("CUDA is absent on this machine: CPU timing only")
    dt, rep = fit_time("cpu", X, args.epochs, args.batch_size)
    print(f"cpu ({torch.get_num_threads()} threads): {dt:.2f}s  util min "
          f"{rep['utilization'].min():.3f}  entropy {rep['entropy'].mean():.3f} bits")


if __name__ == "__main__":
    main()
