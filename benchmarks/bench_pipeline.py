"""The headline pipeline with package defaults, against its own SASRec, with and without weights.

    python benchmarks/bench_pipeline.py --dataset movielens --seeds 0,1,2

For each seed: ``Pipeline([("tok", ADCSIDTokenizer(random_state=s)), ("rec",
IntRRRecommender(random_state=s))]).fit(split.X_train, split.y_train,
tok__item_features=item_features(data))`` exactly as a user writes it (default validation:
10 % of the training users' last items), the same pipeline with ``rec__code_weights=False``
(on the same fitted tokenizer: identical codes), ``SASRecRecommender(random_state=s)``
(the tokenizer's own behaviour model, fitted on the same data with the same defaults) and
MostPopular. Test Recall/NDCG@5/10, head/tail NDCG@10, fit seconds. Appends every
(row, seed) to ``docs/results/pipeline_<dataset>.jsonl`` and rewrites
``docs/results/pipeline_<dataset>.md`` (mean ± sd over seeds).
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import mean_sd, RESULTS, load_dataset, machine_line, markdown_table, Store  # noqa: E402

from sklearn.base import clone  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from sksid import ADCSIDTokenizer, IntRRRecommender, MostPopular  # noqa: E402
from sksid.features import item_features  # noqa: E402
from sksid.metrics import ranking_report  # noqa: E402
from sksid.model_selection import leave_last_out, train_item_counts  # noqa: E402

ROWS = ("MostPopular", "SASRec (the tokenizer's behaviour model)", "ADC-SID + IntRR (defaults)",
        "ADC-SID + IntRR, rec__code_weights=False")
# rows run at earlier IntRR defaults (kept, labelled): before the UID anchor joined the
# history token (uid_in_token False -> True), before the UID head was switched on
# (uid_weight 0 -> 1) and before the learning rate moved from 1e-3 to 2e-3
EARLIER = tuple(f"{r} [{what}, the earlier default]"
                for what in ("uid_in_token=False", "uid_weight=0", "IntRR lr 1e-3") for r in ROWS[2:])


def write_report(store, dataset, n_users, n_items):
    rows = []
    for name in ROWS:  # the EARLIER rows stay in the .jsonl, off the page
        runs = {r["seed"]: r for r in store if r["row"] == name}
        if not runs:
            continue
        runs = [runs[s] for s in sorted(runs)]
        line = {"model": name, "seeds": len(runs)}
        for k in ("recall@5", "recall@10", "ndcg@5", "ndcg@10", "ndcg@10/head", "ndcg@10/tail"):
            line[k.replace("recall", "R").replace("ndcg", "N")] = mean_sd([r[k] for r in runs])
        line["fit s"] = mean_sd([r["fit_s"] for r in runs], 0)
        rows.append(line)
    machines = sorted({r["machine"] for r in store})
    text = "\n".join([
        f"# The default pipeline on {dataset}",
        "",
        f"Command: `python benchmarks/bench_pipeline.py --dataset {dataset} --seeds 0,1,2`. "
        "Machine(s): " + "; ".join(machines) + ".",
        f"Leave-last-out, history ≤ 20, {n_users} users, {n_items} items, full ranking. Every "
        "estimator at its package defaults (on CPU: the small backbone); mean ± sd over seeds.",
        "",
        markdown_table(rows),
        "",
        "fit s: the pipeline's fit (SASRec + tokenizer + IntRR); the `code_weights=False` row "
        "reuses the fitted tokenizer, so its fit s is IntRR's alone; SASRec's is inside the "
        f"pipeline's. Rows of earlier defaults stay in `pipeline_{dataset}.jsonl` only.",
    ]) + "\n"
    (RESULTS / f"pipeline_{dataset}.md").write_text(text)
    return text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="movielens", choices=["movielens", "amazon"])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset)
    split = leave_last_out(data.sequences, max_len=20)
    counts = train_item_counts(split, data.n_items)
    feats = item_features(data, text=True, categories=True, show_progress=False)
    path = RESULTS / f"pipeline_{args.dataset}.jsonl"
    store = Store(path)

    def record(name, seed, pred, fit_s):
        rep = ranking_report(split.y_test, pred, ks=(5, 10), item_counts=counts, metrics=("recall", "ndcg"))
        res = {"row": name, "seed": seed, "fit_s": fit_s, "machine": machine_line(),
               **{k: float(v) for k, v in rep.items() if "@" in k}}
        store.append(res)
        print(f"[{name}] seed {seed}: NDCG@10 {rep['ndcg@10']:.4f} R@10 {rep['recall@10']:.4f} "
              f"({fit_s:.0f}s)", flush=True)

    for seed in [int(s) for s in args.seeds.split(",")]:
        record(ROWS[0], seed, MostPopular().fit(split.X_train, split.y_train).predict(split.X_test), 0.0)
        pipe = Pipeline([("tok", ADCSIDTokenizer(random_state=seed, device=args.device)),
                         ("rec", IntRRRecommender(random_state=seed, device=args.device))])
        t0 = time.perf_counter()
        pipe.fit(split.X_train, split.y_train, tok__item_features=feats)
        fit_s = time.perf_counter() - t0
        tok = pipe.named_steps["tok"]
        record(ROWS[1], seed, tok.behavior_estimator_.predict(split.X_test), fit_s)
        record(ROWS[2], seed, pipe.predict(split.X_test), fit_s)
        rec = clone(pipe.named_steps["rec"]).set_params(code_weights=False)
        t0 = time.perf_counter()
        rec.fit(tok.transform(split.X_train), split.y_train)
        record(ROWS[3], seed, rec.predict(tok.transform(split.X_test)), time.perf_counter() - t0)
        print(write_report(store.rows, args.dataset, split.n_users, data.n_items))


if __name__ == "__main__":
    main()
