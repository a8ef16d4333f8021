"""Cost against catalogue size: SASRec (full and sampled softmax), IntRR, TIGER and RPG at
10k, 100k and 1M items.

    python benchmarks/bench_scale.py                          # 10k, 100k, 1M items; writes scale.md
    python benchmarks/bench_scale.py --items 10000,100000 --steps 4 --page scale_quick

What is measured, per model and catalogue size, in one run on one machine (every model on
the same synthetic data of that size):

* **parameters** and **MiB of parameters + buffers** (codes, tries, item tables), and the
  share of them that grows with the catalogue (the difference to the same model at the
  smallest size, scaled);
* **train ms/step**: mean wall-clock of the training steps of a second epoch (the first
  warms up), batch ``--batch`` sequences of 20 items, through the package's own fit
  (``fit(max_epochs=2, validation_fraction=0)``): the step includes the optimizer;
* **train activation MiB**: tensors autograd saves for backward in one step (a CPU proxy
  of peak training memory; on CUDA ``max_memory_allocated`` growth);
* **predict ms/user**: ``predict`` of ``--users`` histories, exact scoring of every item
  and, for the SID models, their approximate decoding (IntRR/TIGER: constrained beam of
  width 20; RPG: the graph search, up to ``--graph-max-items`` (10k) items: building its
  item graph costs O(items² · 32 · d), hours on a CPU at 100k).

Rows are appended to ``docs/results/scale.jsonl`` as they finish and the page is rebuilt
from it; a rerun skips the (model, size) pairs already there (``--rerun`` redoes them).

SASRec with full-softmax cross-entropy and IntRR with its UID head (the default,
``uid_weight=1``: a softmax over every item beside the code levels) materialise
(batch × 20 × items) logits per step: above ``--max-logits-gib`` they are not run, and the
row says how much memory the logits of one step would need. IntRR with ``uid_weight=0`` is
the pure-SID model.

Synthetic catalogues with realistic structure (the same recipe at every size): items fall
in 256 topical clusters; popularity is Zipf (exponent 1.1) over the catalogue; a user
browses 1–3 clusters and picks items in them by popularity, so histories are topical and
popular items recur. Codes follow the clusters: a 3-level SID of 256-way codebooks whose
first level is the item's cluster, second level a sub-cluster of it and third level random
(the recommenders add their disambiguating level where tuples collide); RPG's 32 sub-codes
of 256 entries share the cluster's code at each position with probability .5, else random.
Quality on these data means nothing; the cost columns are the point.
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine_line, markdown_table, stage, write_result  # noqa: E402

from sksid.recommenders import (IntRRRecommender, RPGRecommender, SASRecRecommender,  # noqa: E402
                                TIGERRecommender)

MODELS = ("sasrec-ce", "sasrec-ss", "intrr", "intrr-sid", "tiger", "rpg")
LABELS = {"sasrec-ce": "SASRec (full softmax)", "sasrec-ss": "SASRec (sampled softmax, 256 negatives)",
          "intrr": "IntRR (3×256 SID + UID head, the default)", "intrr-sid": "IntRR (3×256 SID, uid_weight=0)", "tiger": "TIGER (3×256 SID)", "rpg": "RPG (32×256 sub-codes)"}
CLUSTERS = 256
FULL_SOFTMAX = ("sasrec-ce", "intrr")  # a softmax over every item at every training position
HISTORY = 20


# ---- synthetic catalogue -------------------------------------------------------------------
def synthetic(n_items, n_users, seed=0):
    """Histories, targets, SID codes (L=3) and RPG sub-codes (32) of a clustered catalogue."""
    rng = np.random.RandomState(seed)
    cluster = rng.randint(0, CLUSTERS, size=n_items)
    pop = 1.0 / np.arange(1, n_items + 1) ** 1.1
    pop = pop[rng.permutation(n_items)]
    members = [np.flatnonzero(cluster == c) for c in range(CLUSTERS)]
    probs = [pop[m] / pop[m].sum() if len(m) else None for m in members]
    filled = np.array([c for c in range(CLUSTERS) if len(members[c])])  # small catalogues leave gaps
    X, y = [], []
    for _ in range(n_users):
        cs = rng.choice(filled, size=min(rng.randint(1, 4), len(filled)), replace=False)
        picks = [rng.choice(members[c], p=probs[c]) for c in rng.choice(cs, size=HISTORY + 1)]
        X.append(np.asarray(picks[:-1], dtype=np.int64))
        y.append(picks[-1])
    sub = np.empty(n_items, dtype=np.int64)
    for m in members:  # sub-clusters: popularity rank within the cluster, 256 bands
        sub[m[np.argsort(-pop[m])]] = np.arange(len(m)) * 256 // max(len(m), 1)
    codes = np.stack([cluster, sub, rng.randint(0, 256, size=n_items)], axis=1)
    cluster_code = rng.randint(0, 256, size=(CLUSTERS, 32))
    rpg = np.where(rng.rand(n_items, 32) < 0.5, cluster_code[cluster], rng.randint(0, 256, size=(n_items, 32)))
    return X, np.asarray(y, dtype=np.int64), codes, rpg


# ---- measurements --------------------------------------------------------------------------
def make(model, n_items, batch):
    common = dict(max_epochs=2, patience=None, validation_fraction=0.0, batch_size=batch, device="cpu",
                  random_state=0, top_k=10, n_items=n_items, compile=False)
    if model == "sasrec-ce":
        return SASRecRecommender(**common)
    if model == "sasrec-ss":
        return SASRecRecommender(loss="sampled_softmax", n_negatives=256, **common)
    common.pop("n_items")  # the codes define the catalogue
    if model == "intrr":
        return IntRRRecommender(backbone_size="small", **common)
    if model == "intrr-sid":
        return IntRRRecommender(backbone_size="small", uid_weight=0.0, **common)
    if model == "tiger":
        return TIGERRecommender(backbone_size="small", **common)
    return RPGRecommender(**common)


def state_mib(module):
    return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()]) / 2**20


def activation_mib(rec, X, y, batch):
    from bench_recommenders import _saved_tensor_mib

    from sksid.sequences import training_windows

    inputs, targets = training_windows(X[:batch], y[:batch], rec.max_len)
    tensors = {k: torch.as_tensor(v) for k, v in rec._train_inputs(inputs, targets, None).items()}
    m = rec.net_.module_.train()
    try:
        return _saved_tensor_mib(m, tensors)
    finally:
        m.eval()


def predict_ms(rec, X, n_users, **params):
    old = {k: rec.get_params()[k] for k in params}
    rec.set_params(**params)
    try:
        rec.predict(X[:8])  # warm-up
        t0 = time.perf_counter()
        rec.predict(X[:n_users])
        return (time.perf_counter() - t0) / n_users * 1e3
    finally:
        rec.set_params(**old)


def measure(model, n_items, data, args):
    X, y, codes, rpg = data
    rec = make(model, n_items, args.batch)
    if model in FULL_SOFTMAX:  # (batch x 20 x n_items) logits and their gradient, float32
        gib = 2 * args.batch * HISTORY * n_items * 4 / 2**30
        if gib > args.max_logits_gib:
            return {"not run": f"one step's logits + gradient over every item need {gib:.0f} GiB"}
    fit_kw = {} if model.startswith("sasrec") else {"codes": rpg if model == "rpg" else codes}
    Xf, yf = X[: args.steps * args.batch], y[: args.steps * args.batch]
    t0 = time.perf_counter()
    rec.fit(Xf, yf, **fit_kw)
    fit_s = time.perf_counter() - t0
    steps = int(np.ceil(len(Xf) / args.batch))
    module = rec.net_.module_
    row = {"parameters (M)": sum(p.numel() for p in module.parameters()) / 1e6,
           "params + buffers MiB": state_mib(module),
           "train ms/step": rec.history_[-1]["dur"] / steps * 1e3,
           "fit setup s": fit_s - sum(h["dur"] for h in rec.history_)}
    try:
        row["train activation MiB"] = activation_mib(rec, Xf, yf, args.batch)
    except Exception as err:  # noqa: BLE001 - a proxy; say why it is missing
        row["train activation MiB"] = f"n/a ({type(err).__name__})"
    if model.startswith("sasrec"):
        row["predict ms/user (exact)"] = predict_ms(rec, X, args.users)
    elif model in ("intrr", "intrr-sid", "tiger"):
        exact_users = max(8, args.users // 16) if n_items > 100_000 else args.users
        if model != "tiger":
            row["predict ms/user (exact)"] = predict_ms(rec, X, exact_users, decoding="exact")
        row["predict ms/user (approx.)"] = predict_ms(rec, X, args.users, decoding="beam", beam_width=20)
    else:
        row["predict ms/user (exact)"] = predict_ms(rec, X, args.users)
        if n_items <= args.graph_max_items:  # the graph costs O(n_items² · m · d) to build
            t1 = time.perf_counter()
            rec.build_graph()
            row["fit setup s"] += time.perf_counter() - t1
            row["predict ms/user (approx.)"] = predict_ms(rec, X, args.users, decoding="graph")
    del rec
    gc.collect()
    return row


SERVE = "predict ms/user (serving)"


def cost(rows, model, n, column):
    """``column`` of a row as a float, or None; ``SERVE`` is a SID model's approximate
    decoding (its serving path) where it has one, else exact scoring, and SASRec with full
    softmax serves as SASRec with sampled softmax does (the same network at inference)."""
    r = rows.get((model, n), {})
    if column == SERVE:
        if model == "sasrec-ce" and "not run" in r:
            r = rows.get(("sasrec-ss", n), {})
        v = r.get("predict ms/user (approx.)", r.get("predict ms/user (exact)"))
    else:
        v = r.get(column)
    return float(v) if isinstance(v, (int, float)) else None


def crossover(rows, sizes, column, ref="sasrec-ce"):
    """Per SID model: the smallest size from which it is cheaper than ``ref`` on ``column``
    (or ``ref`` could not be trained there and it could)."""
    out = []
    for sid in ("intrr", "intrr-sid", "tiger", "rpg"):
        for n in sizes:
            v = cost(rows, sid, n, column)
            if v is None:
                continue
            r = cost(rows, ref, n, column)
            untrainable = "not run" in rows.get((ref, n), {}) and column != SERVE
            if untrainable or (r is not None and v < r):
                out.append(f"{LABELS[sid]}: from {n:,} items")
                break
        else:
            out.append(f"{LABELS[sid]}: not up to {sizes[-1]:,} items")
    return "; ".join(out)


def per_item_sentence(rows, sizes, models):
    """One sentence: the SID models' bytes per item at the largest size against SASRec's."""
    n = sizes[-1]
    per = {m: rows[(m, n)]["params + buffers MiB"] * 2**20 / n for m in models
           if isinstance(rows.get((m, n), {}).get("params + buffers MiB"), float)}
    sid = {m: v for m, v in per.items() if not m.startswith("sasrec")}
    ref = per.get("sasrec-ss", per.get("sasrec-ce"))
    if not sid or ref is None:
        return ""
    lo = min(sid, key=sid.get)
    return (f"At {n:,} items every SID model here still keeps {min(sid.values()):.0f}–{max(sid.values()):.0f} "
            f"bytes per item ({LABELS[lo]} the fewest) against SASRec's {ref:.0f}: none of them is yet "
            "independent of the catalogue's size in memory.")


def plot(rows, sizes, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    cols = ("params + buffers MiB", "train ms/step", "predict ms/user (exact)")
    for ax, col in zip(axes, cols):
        for model in MODELS:
            pts = [(n, rows[(model, n)][col]) for n in sizes
                   if isinstance(rows.get((model, n), {}).get(col), float)]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=LABELS[model])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("catalogue size (items)")
        ax.set_title(col)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", default="10000,100000,1000000")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=4, help="training steps per epoch (users = steps × batch)")
    ap.add_argument("--users", type=int, default=256, help="histories predicted for the latency")
    ap.add_argument("--max-logits-gib", type=float, default=8.0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--graph-max-items", type=int, default=10_000)
    ap.add_argument("--rerun", action="store_true")
    ap.add_argument("--report", action="store_true", help="only rebuild the page from the .jsonl")
    ap.add_argument("--page", default="scale")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = sorted(int(s) for s in args.items.split(","))
    models = args.models.split(",")
    store = RESULTS / f"{args.page}.jsonl"
    rows = {}
    if store.exists() and not args.rerun:
        for line in store.read_text().splitlines():
            r = json.loads(line)
            rows[(r.pop("model"), r.pop("items"))] = r
    n_users = max(args.steps * args.batch, args.users)
    for n in sizes:
        todo = [] if args.report else [m for m in models if (m, n) not in rows]
        if not todo:
            continue
        stage(f"synthetic catalogue of {n:,} items, {n_users} users")
        data = synthetic(n, n_users)
        for model in todo:
            stage(f"{model} at {n:,} items")
            rows[(model, n)] = measure(model, n, data, args)
            print(rows[(model, n)], flush=True)
            with store.open("a") as f:
                f.write(json.dumps({"model": model, "items": n, **rows[(model, n)]}) + "\n")
    sizes = [n for n in sizes if any((m, n) in rows for m in models)]
    table = []
    for model in models:
        for n in sizes:
            r = rows.get((model, n), {"not run": "not measured yet"})
            table.append({"model": LABELS[model], "items": f"{n:,}",
                          **{k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in r.items()}})
    cols = sorted({k for r in table for k in r}, key=lambda k: [*table[0]].index(k) if k in table[0] else 99)
    table = [{c: r.get(c, "") for c in cols} for r in table]
    plot_name = f"{args.page}.png"
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(rows, sizes, RESULTS / plot_name)
    flags = f"--items {args.items} --batch {args.batch} --steps {args.steps} --users {args.users}"
    text = "\n".join([
        "# Cost against catalogue size",
        "",
        f"Command: `python benchmarks/bench_scale.py {flags}`"
        + (f" `--threads {args.threads}`" if args.threads else "") + f". Machine: {machine_line()}"
        + (f"; {torch.get_num_threads()} torch thread(s)" if not torch.cuda.is_available() else "") + ".",
        "",
        f"Rows are appended to `{args.page}.jsonl` as they finish (a rerun measures only the missing "
        "ones), so sizes may come from different runs on this machine; compare rows of one size.",
        "",
        "Synthetic clustered catalogues (the recipe is in the script's docstring); histories of 20 items; "
        f"training batch {args.batch}; the CPU-size backbones (SASRec d_model 64, 2 blocks; IntRR/TIGER/RPG "
        "the small backbone). Train ms/step: mean over the second epoch's steps. Predict: one batch of "
        f"{args.users} histories (exact IntRR above 100k items: {max(8, args.users // 16)}).",
        "",
        markdown_table(table),
        "",
        f"![cost against catalogue size]({plot_name})",
        "",
        "What grows with the catalogue, per model (read off the bytes per item): SASRec's item "
        "table (d_model floats per item, with Adam's two moments in training); IntRR's UID anchors "
        "(one d_model vector per item, the RAN's assignment anchors and the UID head's output table) "
        "and its code tables and trie; TIGER's learned leaf (one vector per item, the code that tells "
        "colliding items apart) and its trie; RPG's sub-codes of every item (32 ints per item, twice: "
        "the codes and their flat table rows) — its parameters do not grow.",
        "",
        "| model | " + " | ".join(f"bytes / item at {n:,}" for n in sizes) + " |",
        "|---|" + "---|" * len(sizes),
        *[f"| {LABELS[m]} | " + " | ".join(
            (f"{rows[(m, n)]['params + buffers MiB'] * 2**20 / n:.0f}"
             if isinstance(rows.get((m, n), {}).get("params + buffers MiB"), float) else "")
            for n in sizes) + " |" for m in models],
        per_item_sentence(rows, sizes, models),
        "",
        "Crossover, against SASRec with full softmax (or where it cannot run):",
        f"- memory of the model: {crossover(rows, sizes, 'params + buffers MiB')};",
        f"- training step: {crossover(rows, sizes, 'train ms/step')};",
        f"- serving (the SID models' approximate decoding, SASRec's exact scoring): {crossover(rows, sizes, SERVE)}.",
        "",
        "Against SASRec with sampled softmax:",
        f"- memory of the model: {crossover(rows, sizes, 'params + buffers MiB', 'sasrec-ss')};",
        f"- training step: {crossover(rows, sizes, 'train ms/step', 'sasrec-ss')};",
        f"- serving: {crossover(rows, sizes, SERVE, 'sasrec-ss')}.",
        "",
    ])
    path = write_result(f"{args.page}.md", text)
    print(text)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
