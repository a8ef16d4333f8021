"""Cold items: every model on a catalogue where 10 % of the items were never interacted with.

    python benchmarks/bench_cold.py --dataset movielens --seeds 0,1,2 --threads 1

For each seed: ``cold_item_split(sequences, cold_fraction=0.1, random_state=seed)`` (see
``docs/protocol.md``, "Cold items"), then MostPopular, SASRec (``n_items`` = the whole
catalogue), ContentKNN on MiniLM text + category features, and ADC-SID + IntRR: the
tokenizer is fitted on every item's content plus the seed's SASRec item table as the
behavioural modality, with ``item_counts`` from the training part (cold items: count 0),
and IntRR is scored three ways from the same fit (``cold_uid`` = prefix_mean, drop, uid).
``--models`` picks a subset (``rqkmeans`` adds RQ-KMeans + IntRR). Overall / warm / cold
NDCG@10 and Recall@10 with user counts; every (row, seed) is appended to
``docs/results/cold_<dataset>.jsonl`` when it finishes and ``cold_<dataset>.md`` is
rewritten (mean ± sd over seeds). SASRec and the codes are cached per seed under
``$SKSID_CACHE_DIR/bench/cold_<dataset>/seed<N>`` (the fitted IntRR too, not reused).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, Store, cache_root, load_dataset, machine_line, markdown_table, mean_sd, stage  # noqa: E402

from sksid import ADCSIDTokenizer, IntRRRecommender, MostPopular, SASRecRecommender  # noqa: E402
from sksid.model_selection import cold_item_split, train_item_counts  # noqa: E402
from sksid.recommenders import ContentKNN  # noqa: E402
from sksid.tokenizers import RQKMeansTokenizer  # noqa: E402

MODELS = ("mostpop", "sasrec", "contentknn", "adcsid", "rqkmeans")
DEFAULT_MODELS = "mostpop,sasrec,contentknn,adcsid"
COLD_UID = ("prefix_mean", "drop", "uid")
LABELS = {"mostpop": "MostPopular", "sasrec": "SASRec", "contentknn": "ContentKNN (text + categories)"}
for _tok, _name in (("adcsid", "ADC-SID"), ("rqkmeans", "RQ-KMeans")):
    for _m in COLD_UID:
        LABELS[f"{_tok}+intrr:{_m}"] = f"{_name} + IntRR, cold_uid={_m}" + (" (default)" if _m == "prefix_mean" else "")
METRICS = ("ndcg@10", "recall@10")


def seed_cache(dataset, seed, tag=""):
    d = cache_root() / "bench" / f"cold_{dataset}{tag}" / f"seed{seed}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def fit_sasrec(split, n_items, seed, cache, args):
    path = cache / "sasrec.joblib"
    if path.exists():
        return joblib.load(path), json.loads(path.with_suffix(".json").read_text())["fit_s"]
    stage(f"SASRec seed {seed}")
    t0 = time.perf_counter()
    sas = SASRecRecommender(n_items=n_items, device=args.device, random_state=seed, verbose=args.verbose)
    sas.fit(split.X_train, split.y_train, eval_set=(split.X_valid, split.y_valid))
    fit_s = time.perf_counter() - t0
    joblib.dump(sas, path)
    path.with_suffix(".json").write_text(json.dumps({"fit_s": fit_s}))
    return sas, fit_s


def fit_codes(tok, X, counts, seed, cache, args):
    path = cache / f"codes_{tok}.npz"
    if path.exists():
        z = np.load(path)
        return z["codes"], z["weights"], float(z["fit_s"])
    stage(f"tokenizer {tok} seed {seed}")
    t0 = time.perf_counter()
    if tok == "adcsid":
        est = ADCSIDTokenizer(device=args.device, random_state=seed).fit(X, item_counts=counts)
    else:
        est = RQKMeansTokenizer(random_state=seed).fit(X)
    codes, weights = est.transform(X)
    fit_s = time.perf_counter() - t0
    np.savez(path, codes=codes, weights=weights, fit_s=fit_s)
    return codes, weights, fit_s


def write_report(store, dataset, info, args):
    rows = []
    seeds = sorted({r["seed"] for r in store})
    for key, label in LABELS.items():
        runs = {r["seed"]: r for r in store if r["row"] == key}
        if not runs:
            continue
        runs = [runs[s] for s in sorted(runs)]
        line = {"model": label, "seeds": len(runs)}
        for part in ("", "/warm", "/cold"):
            for m in METRICS:
                line[m.replace("recall", "R").replace("ndcg", "N") + (part or " all")] = mean_sd(
                    [r[m + part] for r in runs])
        line["fit s"] = mean_sd([r["fit_s"] for r in runs], 0)
        rows.append(line)
    users = {(int(r["n_users"]), int(r["n_users/warm"]), int(r["n_users/cold"])) for r in store}
    text = "\n".join([
        f"# Cold items on {dataset}",
        "",
        f"Command: `python benchmarks/bench_cold.py --dataset {dataset} --seeds "
        f"{','.join(map(str, seeds))} --threads 1{args.note}`. Machine(s): "
        + "; ".join(sorted({r["machine"] for r in store})) + f". Date: {time.strftime('%Y-%m-%d')}.",
        "",
        f"`cold_item_split(cold_fraction=0.1, random_state=seed)` ({info}); test users per seed "
        "(all, warm target, cold target): " + ", ".join(str(u) for u in sorted(users)) + ". Full "
        "ranking over the whole catalogue, mean ± sd over seeds. Package defaults, except "
        f"IntRR's `max_epochs={args.intrr_epochs}` (the default is 100 with early stopping, "
        "patience 15; the cap bounds the run's time on a shared 2-core CPU and may end a fit "
        "before early stopping would). SID rows: the "
        "tokenizer's input is MiniLM text + categories + the seed's SASRec item table (a cold "
        "item's row is untrained); ADC-SID gets the training counts (cold: 0, so it ignores "
        "those rows), RQ-KMeans quantises every column as given. fit s are wall times on a "
        "CPU shared with other runs.",
        "",
        markdown_table(rows),
        "",
        "fit s: the model's own fit; for the SID rows the tokenizer's plus IntRR's (the three "
        "cold_uid rows are one fit scored three ways; SASRec's fit, whose item table the "
        "tokenizer quantises, is not included).",
    ]) + "\n"
    text += "\n" + reading(store) + "\n"
    (RESULTS / f"cold_{dataset}.md").write_text(text)
    return text


def reading(store):
    """The "Reading" paragraph: the default SID pipeline's cold NDCG@10 against ContentKNN's
    and its overall NDCG@10 against SASRec's, on the seeds all three have."""
    def mean(key, metric, seeds):
        vals = [r[metric] for r in store if r["row"] == key and r["seed"] in seeds]
        return float(np.mean(vals)) if vals else float("nan")

    def seeds_of(key):
        return {r["seed"] for r in store if r["row"] == key}

    sid = "adcsid+intrr:prefix_mean"
    seeds = seeds_of(sid) & seeds_of("contentknn") & seeds_of("sasrec")
    if not seeds:
        return "## Reading\n\nNot yet: the ADC-SID, ContentKNN and SASRec rows share no seed."
    c_sid, c_knn = mean(sid, "ndcg@10/cold", seeds), mean("contentknn", "ndcg@10/cold", seeds)
    o_sid, o_sas = mean(sid, "ndcg@10", seeds), mean("sasrec", "ndcg@10", seeds)
    modes = {m: mean(f"adcsid+intrr:{m}", "ndcg@10/cold", seeds) for m in COLD_UID}
    word = {True: "above", False: "not above"}
    return "\n".join([
        "## Reading", "",
        f"On the {len(seeds)} seed(s) all three rows have, the ADC-SID + IntRR pipeline's cold-target "
        f"NDCG@10 is {c_sid:.4f}, {word[c_sid > c_knn]} ContentKNN's {c_knn:.4f}, and its overall "
        f"NDCG@10 is {o_sid:.4f}, {word[o_sid > o_sas]} SASRec's {o_sas:.4f}. SASRec and "
        "MostPopular cannot rank a cold item (an untrained row, a zero count). IntRR's cold "
        "NDCG@10 by `cold_uid`: " + ", ".join(f"{m} {v:.4f}" for m, v in modes.items())
        + " (one fit: warm items' scores are the same in the three, only where the cold items "
        "land in the lists differs)."])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="movielens", choices=["movielens", "amazon"])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--models", default=DEFAULT_MODELS, help=f"comma-separated subset of {MODELS}")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--intrr-epochs", type=int, default=30, help="IntRR's max_epochs cap")
    ap.add_argument("--max-users", type=int, default=None, help="smoke runs: keep the first N sequences")
    ap.add_argument("--results", default=None, help="results folder (default docs/results)")
    ap.add_argument("--verbose", type=int, default=0)
    ap.add_argument("--report", action="store_true", help="only rewrite the page from the .jsonl")
    args = ap.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    bad = [m for m in models if m not in MODELS]
    if bad:
        raise SystemExit(f"unknown model(s) {bad}; choose from {MODELS}")
    global RESULTS
    if args.results:
        RESULTS = Path(args.results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    args.note = "" if args.max_users is None else f" --max-users {args.max_users}"
    warnings.filterwarnings("ignore", category=UserWarning)
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset)
    n_items = data.n_items
    seqs = data.sequences if args.max_users is None else data.sequences[: args.max_users]
    from sksid.features import item_features

    store = Store(RESULTS / f"cold_{args.dataset}.jsonl")
    if args.report:
        split = cold_item_split(seqs, cold_fraction=0.1, random_state=0, n_items=n_items)
        print(write_report(store.rows, args.dataset, f"{n_items} items, {len(split.cold_items)} cold", args))
        return
    feats = dict(item_features(data, text=True, categories=True, show_progress=False))
    tag = "" if args.max_users is None else f"_smoke{args.max_users}"

    for seed in [int(s) for s in args.seeds.split(",")]:
        split = cold_item_split(seqs, cold_fraction=0.1, random_state=seed, n_items=n_items)
        counts = train_item_counts(split, n_items)
        assert np.all(counts[split.cold_items] == 0)
        cache = seed_cache(args.dataset, seed, tag)
        info = f"{n_items} items, {len(split.cold_items)} cold"

        def record(key, pred, fit_s, seed=seed, split=split):
            rep = split.report(pred, ks=(10,), metrics=("recall", "ndcg"))
            res = {"row": key, "seed": seed, "fit_s": float(fit_s), "machine": machine_line(),
                   "intrr_max_epochs": args.intrr_epochs, "max_users": args.max_users,
                   **{k: float(v) for k, v in rep.items()}}
            store.append(res)
            print(f"[{key}] seed {seed}: NDCG@10 {rep['ndcg@10']:.4f} warm {rep['ndcg@10/warm']:.4f} "
                  f"cold {rep['ndcg@10/cold']:.4f} ({fit_s:.0f}s)", flush=True)
            write_report(store.rows, args.dataset, info, args)

        if "mostpop" in models:
            record("mostpop", MostPopular().fit(split.X_train, split.y_train).predict(split.X_test), 0.0)
        if "contentknn" in models:
            t0 = time.perf_counter()
            knn = ContentKNN().fit(split.X_train, split.y_train, item_features=feats)
            record("contentknn", knn.predict(split.X_test), time.perf_counter() - t0)
        sid = [m for m in models if m in ("adcsid", "rqkmeans")]
        if "sasrec" in models or sid:
            sas, sas_s = fit_sasrec(split, n_items, seed, cache, args)
            if "sasrec" in models:
                record("sasrec", sas.predict(split.X_test), sas_s)
        for tok in sid:
            X = {**feats, "collab": np.asarray(sas.item_embeddings_, np.float32)}
            codes, weights, tok_s = fit_codes(tok, X, counts, seed, cache, args)
            stage(f"IntRR on {tok} seed {seed}")
            t0 = time.perf_counter()
            rec = IntRRRecommender(max_epochs=args.intrr_epochs, device=args.device, random_state=seed,
                                   verbose=args.verbose)
            rec.fit(split.X_train, split.y_train, codes=codes, weights=weights)
            fit_s = tok_s + time.perf_counter() - t0
            joblib.dump(rec, cache / f"intrr_{tok}.joblib")  # for diagnoses of the ranked lists
            for mode in COLD_UID:
                rec.set_params(cold_uid=mode)
                record(f"{tok}+intrr:{mode}", rec.predict(split.X_test), fit_s)
            rec.set_params(cold_uid="prefix_mean")
    print(write_report(store.rows, args.dataset, info, args))


if __name__ == "__main__":
    main()
