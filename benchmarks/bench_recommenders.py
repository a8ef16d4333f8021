"""IntRR vs TIGER (vs SASRec, MostPopular): quality and efficiency on one split, one run.

    python benchmarks/bench_recommenders.py --dataset movielens [--quick]

One leave-last-out split; one SASRec trained on the training fold gives both the SASRec
baseline and the behavioural embeddings the tokenizers quantise; the same RQ-VAE and
ADC-SID codes feed TIGER and IntRR (λ = 0 and λ = 0.1). Quality: Recall/NDCG@5/10 on
the test items, overall and per popularity stratum (head/tail 25% of items by training
interactions). Efficiency: training windows/s (mean epoch time from skorch's history,
validation excluded), peak training memory (CUDA: ``max_memory_allocated``; CPU: peak
RSS growth of a fresh process over a few training steps), inference latency per user at
beam widths 10/20/50, backbone tokens per sequence. Writes
``docs/results/recommenders_<dataset>.md`` and prints it.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Timer, load_dataset, machine_line, markdown_table, write_result  # noqa: E402

from sksid.metrics import ranking_report  # noqa: E402
from sksid.model_selection import leave_last_out, train_item_counts  # noqa: E402
from sksid.recommenders.intrr import IntRRRecommender  # noqa: E402
from sksid.recommenders.popular import MostPopular  # noqa: E402
from sksid.recommenders.sasrec import SASRecRecommender  # noqa: E402
from sksid.recommenders.tiger import TIGERRecommender  # noqa: E402

BEAMS = (10, 20, 50)


def _backbone(args):
    if args.quick or args.small:
        return dict(d_model=64, n_layers=2, n_heads=2, head_dim=32, d_ff=256, dropout=0.15)
    return dict(d_model=256, n_layers=4, n_heads=6, head_dim=64, d_ff=1024, dropout=0.15)


def _rq_kmeans_fallback(emb, K, L, seed=0):
    """Residual k-means codes (sklearn KMeans): used only if the tokenizers fail."""
    from sklearn.cluster import KMeans

    r = (emb - emb.mean(0)) / (emb.std() + 1e-8)
    codes = []
    for _ in range(L):
        km = KMeans(K, n_init=3, random_state=seed).fit(r)
        codes.append(km.labels_)
        r = r - km.cluster_centers_[km.labels_]
    return np.stack(codes, 1).astype(np.int64), np.ones((emb.shape[0], L), np.float32)


def make_codes(ds, sasrec, args):
    """{name: (codes, weights, note)} from the shared behavioural embeddings."""
    feats = {}
    try:
        from sksid.features import item_features

        feats = item_features(ds, text=not args.no_text, categories=True, show_progress=False)
    except Exception as exc:  # noqa: BLE001 - benchmark keeps going, and says so
        print(f"[codes] content features unavailable ({exc!r}); behavioural only", flush=True)
    feats["collab"] = sasrec.item_embeddings_.astype(np.float32)
    K = 32 if ds.n_items < 5000 else 100
    out = {}
    tok_kw = dict(codebook_size=K, max_epochs=args.tok_epochs, random_state=0, device=args.device)
    try:
        from sksid.tokenizers import ADCSIDTokenizer, RQVAETokenizer

        makers = [("RQ-VAE", lambda: RQVAETokenizer(n_levels=3, **tok_kw)),
                  ("ADC-SID", lambda: ADCSIDTokenizer(**tok_kw))]
    except Exception as exc:  # noqa: BLE001
        print(f"[codes] tokenizers not importable ({exc!r})", flush=True)
        makers = []
    for name, make in makers:
        if name not in args.code_sets.split(","):
            continue
        try:
            with Timer() as t:
                codes, weights = make().fit_transform(feats)
            out[name] = (np.asarray(codes), np.asarray(weights, np.float32), f"K={K}, fit {t.seconds:.0f}s")
            print(f"[codes] {name}: shape {codes.shape} in {t.seconds:.1f}s", flush=True)
        except Exception as exc:  # noqa: BLE001
            print(f"[codes] {name} failed: {exc!r}", flush=True)
    if not out:
        codes, weights = _rq_kmeans_fallback(feats["collab"], K, 3)
        out["RQ-KMeans (FALLBACK: sklearn KMeans in the benchmark)"] = (codes, weights, f"K={K}")
    return out


def _saved_tensor_mib(m, batch):
    """MiB of tensors autograd saves for backward in one training step (CPU proxy of peak memory)."""
    seen = {}

    def pack(t):
        try:
            key = (t.untyped_storage().data_ptr(), t.device)
            seen[key] = t.untyped_storage().nbytes()
        except Exception:  # noqa: BLE001
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = m.loss(m(**batch), **batch)
    loss.backward()
    m.zero_grad(set_to_none=True)
    return sum(seen.values()) / 2**20


def peak_memory(rec, split):
    from sksid.sequences import training_windows

    inputs, targets = training_windows(split.X_train, split.y_train, rec.max_len)
    sl = slice(0, rec.batch_size)
    batch = dict(items=torch.as_tensor(inputs[sl], device=rec.device_),
                 targets=torch.as_tensor(targets[sl], device=rec.device_))
    m = rec.net_.module_.train()
    try:
        if rec.device_.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = m.loss(m(**batch), **batch)
            loss.backward()
            m.zero_grad(set_to_none=True)
            torch.cuda.synchronize()
            return (torch.cuda.max_memory_allocated() - base) / 2**20, \
                "CUDA max_memory_allocated growth over one training step (batch 256, bf16 autocast)"
        return _saved_tensor_mib(m, batch), \
            "CPU: MiB of tensors saved for backward in one training step (batch 256), via saved_tensors_hooks"
    finally:
        m.eval()


def latency(rec, X, beams):
    out = {}
    bw0 = rec.beam_width
    for bw in beams:
        rec.set_params(beam_width=bw)
        rec.predict(X[:64])  # warm-up
        if rec.device_.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        rec.predict(X)
        if rec.device_.startswith("cuda"):
            torch.cuda.synchronize()
        out[bw] = (time.perf_counter() - t0) / len(X) * 1e3
    rec.set_params(beam_width=bw0)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="movielens", choices=["movielens", "amazon"])
    ap.add_argument("--quick", action="store_true", help="small backbone, few epochs")
    ap.add_argument("--small", action="store_true", help="small backbone (d_model 64, 2 layers)")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--tok-epochs", type=int, default=None)
    ap.add_argument("--no-text", action="store_true", help="skip the MiniLM text embeddings")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads on CPU (1 avoids OpenMP oversubscription on busy boxes)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--sasrec-epochs", type=int, default=None,
                    help="SASRec max_epochs (default: --epochs); SASRec also gives the tokenizers' behaviour")
    ap.add_argument("--code-sets", default="RQ-VAE,ADC-SID", help="comma list of tokenizers to fit")
    ap.add_argument("--sid-models", default="tiger,intrr0,intrr",
                    help="comma list of SID models to run: tiger, intrr0 (λ=0), intrr (λ=0.1)")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    if args.epochs is None:
        args.epochs = 8 if args.quick else 30
    if args.tok_epochs is None:
        args.tok_epochs = 30 if args.quick else 100
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()

    ds = load_dataset(args.dataset)
    split = leave_last_out(ds, max_len=20)
    n_items = ds.n_items
    counts = train_item_counts(split, n_items)
    common = dict(max_epochs=args.epochs, patience=args.patience, device=args.device,
                  random_state=args.seed, batch_size=256, lr=1e-3)
    eval_set = (split.X_valid, split.y_valid)
    quality, eff = [], []

    def record(name, codes_name, rec, fit_s):
        pred = rec.predict(split.X_test)
        rep = ranking_report(split.y_test, pred, ks=(5, 10), item_counts=counts, metrics=("recall", "ndcg"))
        row = {"model": name, "codes": codes_name}
        for k in ("recall@5", "recall@10", "ndcg@5", "ndcg@10", "recall@10/head", "ndcg@10/head",
                  "recall@10/tail", "ndcg@10/tail"):
            row[k.replace("recall", "R").replace("ndcg", "N")] = rep[k]
        row["epochs"] = getattr(rec, "n_epochs_", "")
        row["fit s"] = f"{fit_s:.0f}"
        quality.append(row)
        print(markdown_table([row]), flush=True)

    pop = MostPopular().fit(split.X_train, split.y_train)
    record("MostPopular", "-", pop, 0.0)
    with Timer() as t:
        sas_kw = dict(common, max_epochs=args.sasrec_epochs or args.epochs)
        sasrec = SASRecRecommender(d_model=64, n_layers=2, n_heads=2, d_ff=256, dropout=0.2,
                                   **sas_kw).fit(split.X_train, split.y_train, eval_set=eval_set)
    record("SASRec", "-", sasrec, t.seconds)

    code_sets = make_codes(ds, sasrec, args)
    bb = _backbone(args)
    for cname, (codes, weights, note) in code_sets.items():
        wanted = set(args.sid_models.split(","))
        models = [(name, make()) for key, name, make in (
            ("tiger", "TIGER", lambda: TIGERRecommender(**bb, **common)),
            ("intrr0", "IntRR λ=0", lambda: IntRRRecommender(**bb, alignment_weight=0.0, **common)),
            ("intrr", "IntRR λ=0.1", lambda: IntRRRecommender(**bb, alignment_weight=0.1, **common)),
        ) if key in wanted]
        lat = {}
        for name, rec in models:
            with Timer() as t:
                rec.fit(split.X_train, split.y_train, eval_set=eval_set, codes=codes, weights=weights)
            record(name, cname, rec, t.seconds)
            kind = "TIGER" if name == "TIGER" else "IntRR"
            if name in ("TIGER", "IntRR λ=0.1"):
                durs = [h["dur"] for h in rec.history_]
                from sksid.sequences import training_windows

                n_win = training_windows(split.X_train, split.y_train, rec.max_len)[0].shape[0]
                mem, mem_how = peak_memory(rec, split)
                lat[kind] = latency(rec, split.X_test, BEAMS)
                eff.append({"model": kind, "codes": cname, "L (after disambiguation)": rec.codes_.shape[1],
                            "tokens/sequence": rec.max_len * rec.tokens_per_item_,
                            "train windows/s": n_win / float(np.mean(durs)),
                            "peak train MiB": mem,
                            **{f"ms/user bw={b}": v for b, v in lat[kind].items()}})
                eff[-1]["_mem_how"] = mem_how
        if "TIGER" in lat and "IntRR" in lat:
            ti = [r for r in eff if r["codes"] == cname]
            t_row = next(r for r in ti if r["model"] == "TIGER")
            i_row = next(r for r in ti if r["model"] == "IntRR")
            eff.append({"model": "IntRR / TIGER", "codes": cname,
                        "L (after disambiguation)": "",
                        "tokens/sequence": i_row["tokens/sequence"] / t_row["tokens/sequence"],
                        "train windows/s": i_row["train windows/s"] / t_row["train windows/s"],
                        "peak train MiB": i_row["peak train MiB"] / max(t_row["peak train MiB"], 1e-9),
                        **{f"ms/user bw={b}": i_row[f"ms/user bw={b}"] / t_row[f"ms/user bw={b}"]
                           for b in BEAMS}})

    mem_how = next((r.pop("_mem_how") for r in eff if "_mem_how" in r), "")
    for r in eff:
        r.pop("_mem_how", None)
    dev = sasrec.device_
    total = time.perf_counter() - t_start
    lines = [
        f"# Recommenders on {args.dataset} (one run, one split)",
        "",
        "Command: `python benchmarks/bench_recommenders.py " + " ".join(sys.argv[1:] if argv is None else argv) + "`",
        f"Machine: {machine_line()}; device `{dev}`, torch threads {torch.get_num_threads()}; "
        f"total {total / 60:.1f} min.",
        f"Split: leave-last-out, history ≤ 20, {split.n_users} users, {n_items} items; full ranking.",
        f"SID models: backbone {bb}, max_epochs {args.epochs}, early stopping on valid NDCG@10 "
        f"(patience {args.patience}), beam width 20 for quality. SASRec: d_model 64, 2 layers.",
        "Codes: " + "; ".join(f"{k} ({v[0].shape[1]} levels, {v[2]})" for k, v in code_sets.items()) + ".",
        "",
        "## Quality (test)",
        "",
        markdown_table(quality),
        "",
        "H/T: users whose test item is a head (top 25%) / tail (bottom 25%) item by training "
        "interactions.",
        "",
        "## Efficiency",
        "",
        markdown_table(eff, floatfmt=".3g"),
        "",
        f"Peak memory: {mem_how}. Training windows/s: {20}-item windows per second of training "
        "epoch (validation excluded). Latency: `predict` on all test users (batch 256) divided by "
        "the number of users. `IntRR / TIGER` rows are ratios (tokens and memory: lower is "
        "better for IntRR; windows/s: higher; latency: lower).",
        "TIGER decodes with a KV cache (history prefilled once, one token per beam and level).",
    ]
    text = "\n".join(lines) + "\n"
    path = write_result(args.out or f"recommenders_{args.dataset}.md", text)
    print(text)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
