"""Recommenders side by side: quality (3 seeds) and efficiency on one leave-last-out split.

    python benchmarks/bench_recommenders.py --dataset amazon --seeds 0,1,2
    python benchmarks/bench_recommenders.py --dataset movielens --rows sasrec,intrr:adcsid --seeds 0
    python benchmarks/bench_recommenders.py --dataset amazon --report      # rebuild the tables only

Rows (``--rows``, comma list; default: all of them):

* ``mostpop``, ``sasrec``
* ``<model>:<codes>[:<variant>]`` with model ``intrr`` or ``tiger``, codes ``rqvae``,
  ``rqkmeans``, ``opq`` or ``adcsid``, and an optional variant: ``noweights``
  (``code_weights=False``), ``weights`` (``code_weights=True``), ``previous`` (IntRR
  conditioned on the previous level only, the authors' reference), ``noleaf`` (TIGER's
  untrained disambiguation code) or ``time`` (equal wall-clock: trained for as many
  seconds as TIGER on the same codes took, recorded in an earlier row of the same seed).

Every row of every seed is one process-independent unit: the split is deterministic, the
behaviour model (SASRec, whose item table the tokenizers quantise) and each tokenizer's
codes are cached per seed under ``$SKSID_CACHE_DIR/bench`` (default
``~/.cache/sksid/bench``), and each finished (row, seed) is **appended** to
``docs/results/recommenders_<dataset>.jsonl``. The markdown table
(``recommenders_<dataset>.md``, mean ± sd over the seeds present) and its plot are rebuilt
from that file after every row, so a table can be built over several sittings and a row
is rerun only when asked (``--rerun``).

Quality: Recall/NDCG at 5/10/20/50 on the test items (full ranking over the catalogue;
SID models decode with ``decoding="auto"``, beam 50 for catalogues too large to score
exactly), NDCG@10 for head and tail target items (top / bottom 25 % by training
interactions). Every model trains with early stopping on the validation items
(leave-last-out: second-to-last item) with the same epoch cap and patience: an
**equal-epoch** comparison; the ``:time`` rows give the equal-wall-clock one.
``--efficiency`` adds tokens per sequence, training windows/s, peak training memory and
ms/user at beam widths 10/20/50 for every SID row.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, load_dataset, machine_line, markdown_table  # noqa: E402

from sksid.metrics import ranking_report  # noqa: E402
from sksid.model_selection import leave_last_out, train_item_counts  # noqa: E402
from sksid.recommenders import IntRRRecommender, MostPopular, SASRecRecommender, TIGERRecommender  # noqa: E402

BEAMS = (10, 20, 50)
KS = (5, 10, 20, 50)
TOKENIZERS = ("rqvae", "rqkmeans", "opq", "adcsid")
MODELS = ("intrr", "tiger")
VARIANTS = ("", "noweights", "weights", "previous", "noleaf", "time")
TOK_NAMES = {"rqvae": "RQ-VAE", "rqkmeans": "RQ-KMeans", "opq": "OPQ", "adcsid": "ADC-SID"}


def all_rows():
    rows = ["mostpop", "sasrec"]
    for tok in TOKENIZERS:
        rows += [f"tiger:{tok}", f"intrr:{tok}"]
    rows += ["intrr:adcsid:noweights", "intrr:adcsid:weights", "tiger:adcsid:noweights",
             "tiger:adcsid:weights", "intrr:adcsid:previous", "intrr:rqvae:time", "intrr:adcsid:time"]
    return rows


def parse_row(row):
    parts = row.split(":")
    if parts[0] in ("mostpop", "sasrec") and len(parts) == 1:
        return parts[0], None, ""
    if len(parts) not in (2, 3) or parts[0] not in MODELS or parts[1] not in TOKENIZERS:
        raise SystemExit(f"unknown row {row!r}; rows look like 'sasrec' or 'intrr:adcsid[:variant]'")
    variant = parts[2] if len(parts) == 3 else ""
    if variant not in VARIANTS:
        raise SystemExit(f"unknown variant {variant!r} in {row!r}; one of {VARIANTS[1:]}")
    return parts[0], parts[1], variant


# ---- cached, per-seed artefacts ------------------------------------------------------------
def cache_dir(dataset, seed):
    base = Path(os.environ.get("SKSID_CACHE_DIR", Path.home() / ".cache" / "sksid")).expanduser()
    d = base / "bench" / dataset / f"seed{seed}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def behaviour_model(ctx, seed):
    path = cache_dir(ctx["dataset"], seed) / "sasrec.joblib"
    if path.exists():
        return joblib.load(path), json.loads(path.with_suffix(".json").read_text())["fit_s"]
    split = ctx["split"]
    t0 = time.perf_counter()
    kw = {k: ctx[k] for k in ("max_epochs", "patience") if ctx[k] is not None}
    sas = SASRecRecommender(device=ctx["device"], random_state=seed, verbose=ctx["verbose"], **kw)
    sas.fit(split.X_train, split.y_train, eval_set=(split.X_valid, split.y_valid))
    fit_s = time.perf_counter() - t0
    joblib.dump(sas, path)
    path.with_suffix(".json").write_text(json.dumps({"fit_s": fit_s}))
    return sas, fit_s


def make_tokenizer(name, K, seed, device):
    from sksid.tokenizers import ADCSIDTokenizer, OPQTokenizer, RQKMeansTokenizer, RQVAETokenizer

    kw = dict(codebook_size=K, random_state=seed)
    if name == "adcsid":
        return ADCSIDTokenizer(device=device, **kw)
    if name == "rqvae":
        return RQVAETokenizer(n_levels=3, device=device, **kw)
    if name == "rqkmeans":
        return RQKMeansTokenizer(n_levels=3, **kw)
    return OPQTokenizer(n_levels=3, **kw)


def codes_for(ctx, tok, seed):
    """(codes, weights, info) of tokenizer ``tok`` on text + category + SASRec items (cached)."""
    path = cache_dir(ctx["dataset"], seed) / f"codes_{tok}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        return z["codes"], z["weights"], json.loads(str(z["info"]))
    sas, _ = behaviour_model(ctx, seed)
    X = dict(ctx["feats"])
    X["collab"] = np.asarray(sas.item_embeddings_, np.float32)
    t0 = time.perf_counter()
    est = make_tokenizer(tok, ctx["K"], seed, ctx["device"])
    fit_kw = {}
    if tok == "adcsid":
        fit_kw["item_counts"] = ctx["counts"]  # reliability from training interactions only
    try:
        est.fit(X, **fit_kw)
    except TypeError:
        est.fit(X)
    codes, weights = est.transform(X)
    info = {"fit_s": time.perf_counter() - t0, "collision_rate": float(est.collision_rate_),
            "K": ctx["K"], "L": int(codes.shape[1])}
    np.savez(path, codes=codes, weights=weights, info=json.dumps(info))
    return codes, weights, info


# ---- efficiency ----------------------------------------------------------------------------
def _saved_tensor_mib(m, batch):
    """MiB of tensors autograd saves for backward in one training step (CPU proxy of peak memory)."""
    seen = {}

    def pack(t):
        try:
            seen[(t.untyped_storage().data_ptr(), t.device)] = t.untyped_storage().nbytes()
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
            return (torch.cuda.max_memory_allocated() - base) / 2**20
        return _saved_tensor_mib(m, batch)
    finally:
        m.eval()


def latency(rec, X, beams):
    out = {}
    params = rec.get_params()
    for bw in beams:
        rec.set_params(beam_width=bw, top_k=min(10, bw), decoding="beam")
        rec.predict(X[:64])  # warm-up
        if rec.device_.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        rec.predict(X)
        if rec.device_.startswith("cuda"):
            torch.cuda.synchronize()
        out[bw] = (time.perf_counter() - t0) / len(X) * 1e3
    rec.set_params(beam_width=params["beam_width"], top_k=params["top_k"], decoding=params["decoding"])
    return out


# ---- one row -------------------------------------------------------------------------------
def run_row(ctx, row, seed, store):
    model, tok, variant = parse_row(row)
    split = ctx["split"]
    common = dict(device=ctx["device"], random_state=seed, verbose=ctx["verbose"])
    common.update({k: ctx[k] for k in ("max_epochs", "patience") if ctx[k] is not None})
    extra = {}
    t0 = time.perf_counter()
    if model == "mostpop":
        rec = MostPopular(top_k=max(KS)).fit(split.X_train, split.y_train)
        fit_s = time.perf_counter() - t0
    elif model == "sasrec":
        rec, fit_s = behaviour_model(ctx, seed)
        rec.set_params(top_k=max(KS))
    else:
        codes, weights, info = codes_for(ctx, tok, seed)
        extra.update(codes_L=info["L"], collision_rate=info["collision_rate"], tok_fit_s=info["fit_s"])
        kw = dict(common, top_k=max(KS), beam_width=max(max(KS), 50))
        if variant == "noweights":
            kw["code_weights"] = False
        elif variant == "weights":
            kw["code_weights"] = True
        elif variant == "previous":
            kw["conditioning"] = "previous"
        elif variant == "noleaf":
            kw["leaf"] = False
        elif variant == "time":
            ref = store.find(f"tiger:{tok}", seed, ctx["config"])
            if ref is None:
                print(f"[skip] {row} seed {seed}: needs 'tiger:{tok}' of that seed first (its fit time)")
                return None
            kw["max_time"] = float(ref["fit_s"])
            kw["max_epochs"] = 1000
            kw["patience"] = 1000
            extra["time_budget_s"] = kw["max_time"]
        cls = IntRRRecommender if model == "intrr" else TIGERRecommender
        rec = cls(**kw)
        if variant == "time" and "max_time" not in rec.get_params():
            raise SystemExit("this version of the recommenders has no max_time parameter")
        rec.fit(split.X_train, split.y_train, eval_set=(split.X_valid, split.y_valid),
                codes=codes, weights=weights)
        fit_s = time.perf_counter() - t0
        extra.update(decoding="exact" if rec._decodes_exactly(rec.net_.module_) else "beam 50",
                     tokens_per_seq=rec.max_len * rec.tokens_per_item_, backbone=rec.backbone_)
    t1 = time.perf_counter()
    pred = rec.predict(split.X_test)
    pred_s = time.perf_counter() - t1
    rep = ranking_report(split.y_test, pred, ks=KS, item_counts=ctx["counts"], metrics=("recall", "ndcg"))
    res = {"row": row, "seed": seed, "config": ctx["config"], "fit_s": fit_s,
           "ms_per_user": pred_s / len(split.y_test) * 1e3,
           "epochs": getattr(rec, "n_epochs_", None), **extra,
           **{k: rep[k] for k in rep if k.split("@")[0] in ("recall", "ndcg") and
              ("/" not in k or k.startswith("ndcg@10/"))}}
    if ctx["efficiency"] and model in MODELS:
        from sksid.sequences import training_windows

        n_win = training_windows(split.X_train, split.y_train, rec.max_len)[0].shape[0]
        res["train_windows_per_s"] = n_win / float(np.mean([h["dur"] for h in rec.history_]))
        res["peak_train_mib"] = peak_memory(rec, split)
        res.update({f"ms_user_bw{b}": v for b, v in latency(rec, split.X_test, BEAMS).items()})
    res["machine"] = ctx["machine"]
    res["finished"] = time.strftime("%Y-%m-%d %H:%M")
    store.append(res)
    return res


# ---- results store and report --------------------------------------------------------------
class Store:
    def __init__(self, path):
        self.path = path
        self.rows = [json.loads(l) for l in path.read_text().splitlines() if l.strip()] if path.exists() else []

    def find(self, row, seed, config):
        hits = [r for r in self.rows if r["row"] == row and r["seed"] == seed and r["config"] == config]
        return hits[-1] if hits else None

    def append(self, res):
        self.rows.append(res)
        with self.path.open("a") as f:
            f.write(json.dumps(res) + "\n")


def row_label(row):
    model, tok, variant = parse_row(row)
    if tok is None:
        return {"mostpop": "MostPopular", "sasrec": "SASRec (CE)"}[model], "-"
    name = {"intrr": "IntRR", "tiger": "TIGER"}[model]
    extra = {"": "", "noweights": ", code_weights=False", "weights": ", code_weights=True",
             "previous": ", previous-level conditioning", "noleaf": ", untrained disambiguation code",
             "time": ", TIGER's wall-clock"}[variant]
    return name + extra, TOK_NAMES[tok]


def _fmt(vals, digits=4):
    vals = [v for v in vals if v is not None and not (isinstance(v, float) and np.isnan(v))]
    if not vals:
        return ""
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{np.mean(vals):.{digits}f} ± {np.std(vals, ddof=1):.{digits}f}"


def report(store, ctx):
    config = ctx["config"]
    rows = [r for r in store.rows if r["config"] == config]
    order = [r for r in all_rows()] + sorted({r["row"] for r in rows} - set(all_rows()))
    table, eff = [], []
    for row in order:
        runs = [r for r in rows if r["row"] == row]
        if not runs:
            continue
        by_seed = {r["seed"]: r for r in runs}  # the last run of each seed
        runs = [by_seed[s] for s in sorted(by_seed)]
        name, codes = row_label(row)
        line = {"model": name, "codes": codes, "seeds": len(runs)}
        for metric in ("recall", "ndcg"):
            for k in KS:
                line[f"{metric[0].upper()}@{k}"] = _fmt([r[f"{metric}@{k}"] for r in runs])
        line["N@10 head"] = _fmt([r.get("ndcg@10/head") for r in runs])
        line["N@10 tail"] = _fmt([r.get("ndcg@10/tail") for r in runs])
        line["epochs"] = _fmt([r["epochs"] for r in runs if r["epochs"] is not None], 1)
        line["fit s"] = _fmt([r["fit_s"] for r in runs], 0)
        line["ms/user"] = _fmt([r["ms_per_user"] for r in runs], 2)
        table.append(line)
        if "train_windows_per_s" in runs[0]:
            r0 = runs[0]
            eff.append({"model": name, "codes": codes, "tokens/seq": r0["tokens_per_seq"],
                        "train windows/s": f"{r0['train_windows_per_s']:.0f}",
                        "peak train MiB": f"{r0['peak_train_mib']:.1f}",
                        **{f"ms/user bw={b}": f"{r0[f'ms_user_bw{b}']:.2f}" for b in BEAMS}})
    split = ctx["split"]
    machines = sorted({r["machine"] for r in rows})
    lines = [
        f"# Recommenders on {ctx['dataset']}: quality side by side",
        "",
        f"Command: `python benchmarks/bench_recommenders.py --dataset {ctx['dataset']} --seeds 0,1,2` "
        f"(rows appended over several sittings; raw runs in `recommenders_{ctx['dataset']}.jsonl`).",
        "Machine(s): " + "; ".join(machines) + ".",
        f"Split: leave-last-out, history ≤ 20, {split.n_users} users, {ctx['n_items']} items; full "
        f"ranking. Setting: {config}.",
        "Every model: the package defaults (on CPU the small backbone), epoch cap 100 and early "
        "stopping on the validation items' NDCG@10 (an equal-epoch budget; SASRec patience 5, SID "
        "models 10).  Cells: mean ± sd over the seeds run (one value: one seed). "
        "SID codes: text (MiniLM) + category + the same seed's SASRec item table; "
        f"K = {ctx['K']}. SID models use the package defaults (prefix-conditioned RAN, learned "
        "leaf, exact decoding where the trie is small, else beam 50).",
        "",
        markdown_table(table),
        "",
        "N@10 head / tail: NDCG@10 over the users whose test item is a head (top 25 %) / tail "
        "(bottom 25 %) item by training interactions. fit s: wall-clock of the fit (SID rows: "
        "the recommender only; the tokenizer and SASRec are cached). ms/user: predict on all "
        "test users.",
    ]
    if eff:
        lines += ["", "## Efficiency (first seed)", "", markdown_table(eff)]
    path = RESULTS / f"recommenders_{ctx['dataset']}.md"
    path.write_text("\n".join(lines) + "\n")
    try:
        plot(table, RESULTS / f"recommenders_{ctx['dataset']}.png", ctx["dataset"])
    except Exception as exc:  # noqa: BLE001 - the table is the result; the plot is a view of it
        print(f"[plot] skipped: {exc!r}")
    return path


def plot(table, path, dataset):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def mean_sd(cell):
        if not cell:
            return np.nan, 0.0
        parts = cell.split(" ± ")
        return float(parts[0]), float(parts[1]) if len(parts) > 1 else 0.0

    labels = [f"{r['model']}\n[{r['codes']}]" if r["codes"] != "-" else r["model"] for r in table]
    vals = [mean_sd(r["N@10"]) for r in table]
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(table) + 2), 4.5))
    colors = ["#888" if r["codes"] == "-" else ("#c44" if r["codes"] == "ADC-SID" else "#48c") for r in table]
    ax.bar(range(len(table)), [v[0] for v in vals], yerr=[v[1] for v in vals], color=colors, capsize=3)
    ax.set_xticks(range(len(table)))
    ax.set_xticklabels(labels, rotation=70, ha="right", fontsize=7)
    ax.set_ylabel("test NDCG@10 (mean ± sd over seeds)")
    ax.set_title(f"{dataset}: generative recommenders on four tokenizers' codes")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="movielens", choices=["movielens", "amazon"])
    ap.add_argument("--rows", default=",".join(all_rows()))
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--epochs", type=int, default=None,
                    help="epoch cap of every model (default: each estimator's own, 100)")
    ap.add_argument("--patience", type=int, default=None,
                    help="early-stopping patience of every model (default: each estimator's own)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads on CPU")
    ap.add_argument("--efficiency", action="store_true", help="also measure speed and memory of SID rows")
    ap.add_argument("--rerun", action="store_true", help="run rows already in the results file again")
    ap.add_argument("--report", action="store_true", help="only rebuild the table from the results file")
    ap.add_argument("--verbose", type=int, default=0)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    if args.threads:
        torch.set_num_threads(args.threads)

    ds = load_dataset(args.dataset)
    split = leave_last_out(ds.sequences, max_len=20)
    ctx = dict(dataset=args.dataset, split=split, n_items=ds.n_items,
               counts=train_item_counts(split, ds.n_items), max_epochs=args.epochs,
               patience=args.patience, device=args.device, verbose=args.verbose,
               efficiency=args.efficiency, machine=machine_line(),
               K=100 if ds.n_items >= 5000 else 32,
               config="package defaults" + (f", max_epochs {args.epochs}" if args.epochs else "")
               + (f", patience {args.patience}" if args.patience else ""))
    store = Store(RESULTS / f"recommenders_{args.dataset}.jsonl")
    if not args.report:
        from sksid.features import item_features

        ctx["feats"] = item_features(ds, text=True, categories=True, show_progress=False)
        seeds = [int(s) for s in args.seeds.split(",")]
        for row in args.rows.split(","):
            parse_row(row)
        for seed in seeds:
            for row in args.rows.split(","):
                if not args.rerun and store.find(row, seed, ctx["config"]) is not None:
                    print(f"[skip] {row} seed {seed}: already in {store.path.name}", flush=True)
                    continue
                t0 = time.perf_counter()
                res = run_row(ctx, row, seed, store)
                if res is None:
                    continue
                print(f"[row] {row} seed {seed}: NDCG@10 {res['ndcg@10']:.4f} R@10 {res['recall@10']:.4f} "
                      f"({time.perf_counter() - t0:.0f}s)", flush=True)
                report(store, ctx)
    path = report(store, ctx)
    print(path.read_text())


if __name__ == "__main__":
    main()
