"""One IntRR option at a time on the default pipeline's codes (MovieLens-100k).

    python benchmarks/bench_intrr_options.py --seed 0 --name lr2e-3 --params '{"lr": 0.002}'
    python benchmarks/bench_intrr_options.py --report

The tokenizer is the default pipeline's (``ADCSIDTokenizer(random_state=seed)`` fitted on
``split.X_train, split.y_train`` with ``item_features(data)``: its own SASRec, then
ADC-SID), fitted once per seed and cached under ``$SKSID_CACHE_DIR/options`` (default
``~/.cache/sksid/options``). Each run fits ``IntRRRecommender(random_state=seed, **params)``
on ``tok.transform(split.X_train)`` exactly as the Pipeline does, records test NDCG@10 /
Recall@10, head/tail NDCG@10, epochs, fit seconds and the validation curve, and appends one
line to ``docs/results/intrr_options_movielens.jsonl``; ``--report`` rewrites the markdown
table next to it. ``--sasrec-lr`` fits SASRec alone at that learning rate instead (the
fairness check for a learning-rate default).

``--behaviour SETTINGS`` gives the tokenizer's behaviour model SASRec parameters
(``ADCSIDTokenizer(behavior_estimator=SASRecRecommender(random_state=seed, **SETTINGS))``, its
own cache file); ``--model behaviour`` scores that fitted behaviour SASRec itself instead of
fitting IntRR (the pipeline's own SASRec, no extra fit; its fit seconds are the sum of its
epochs' durations). ``--params`` and ``--behaviour`` take a JSON object or
``name=value:name=value``, the spelling of ``bench_recommenders.py``'s rows and ``--behaviour``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import joblib
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, cache_root, machine_line, markdown_table, parse_settings, Store  # noqa: E402

from sksid import ADCSIDTokenizer, IntRRRecommender, SASRecRecommender  # noqa: E402
from sksid.datasets import load_movielens_100k  # noqa: E402
from sksid.features import item_features  # noqa: E402
from sksid.metrics import ranking_report  # noqa: E402
from sksid.model_selection import leave_last_out, train_item_counts  # noqa: E402

STORE = RESULTS / "intrr_options_movielens.jsonl"


def behaviour_tag(behaviour):
    """``{"norm_first": False, "dropout": 0.5}`` -> ``"dropout=0.5_norm_first=False"`` (``""`` for None)."""
    return "_".join(f"{k}={behaviour[k]}" for k in sorted(behaviour or {}))


def tokenizer(data, split, seed, behaviour=None):
    base = cache_root()
    tag = behaviour_tag(behaviour)
    path = base / "options" / f"movielens_tok_seed{seed}{'_' + tag if tag else ''}.joblib"
    if path.exists():
        return joblib.load(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    est = SASRecRecommender(random_state=seed, **behaviour) if behaviour else None
    tok = ADCSIDTokenizer(random_state=seed, behavior_estimator=est).fit(
        split.X_train, split.y_train, item_features=item_features(data))
    joblib.dump(tok, path)
    return tok


def epoch_seconds(rec):
    """Training seconds of a fitted recommender from its history (the sum of its epochs'
    durations: no setup or prediction), for a model fitted before this run."""
    return float(sum(h.get("dur") or 0.0 for h in rec.history_))


def report():
    rows = Store(STORE).rows
    def cell(v):  # a metric the run did not record is left blank
        return "" if v is None else f"{v:.4f}"

    table = [{"run": r["name"], "model": r.get("model", "IntRR"), "params": json.dumps(r["params"]),
              "behaviour SASRec": json.dumps(r["behaviour"]) if r.get("behaviour") else "",
              "seed": r["seed"], "N@10": cell(r["ndcg@10"]), "R@10": cell(r["recall@10"]),
              "N@10 head": cell(r["ndcg@10/head"]), "N@10 tail": cell(r["ndcg@10/tail"]),
              "epochs": r["epochs"], "fit s": "" if r["fit_s"] is None else f"{r['fit_s']:.0f}"} for r in rows]
    text = "\n".join([
        "# IntRR options on the default pipeline's ADC-SID codes (MovieLens-100k)",
        "",
        "Command: `python benchmarks/bench_intrr_options.py --seed S --name NAME --params JSON`.",
        "Machine(s): " + "; ".join(sorted({r["machine"] for r in rows})) + " (one torch thread "
        "per run, several runs sharing the CPU: fit seconds are not comparable between rows).",
        "Leave-last-out, history ≤ 20, full ranking; the tokenizer is the default pipeline's "
        "(same seed; its behaviour SASRec at its defaults, or with the settings shown), IntRR at "
        "its defaults except the params shown (the defaults of the run's time: IntRR's lr was "
        "1e-3 before the lr rows); model `SASRec (behaviour)` scores the tokenizer's own fitted "
        "SASRec (its fit seconds: the sum of its epochs' durations; blank where an earlier run did not "
        "record them). One seed per row: differences below about .005 are within test noise.",
        "",
        markdown_table(table),
        "",
    ])
    STORE.with_suffix(".md").write_text(text)
    return text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default="default")
    ap.add_argument("--params", default="{}", help="IntRRRecommender parameters: a JSON object or "
                    "'name=value:name=value' (the spelling of bench_recommenders.py's rows)")
    ap.add_argument("--sasrec-lr", type=float, default=None)
    ap.add_argument("--behaviour", default=None, help="the tokenizer's behaviour SASRec parameters: a JSON "
                    "object or 'name=value:name=value' (as bench_recommenders.py --behaviour)")
    ap.add_argument("--model", default="intrr", choices=["intrr", "behaviour"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args(argv)
    if args.report:
        print(report())
        return
    torch.set_num_threads(args.threads)
    data = load_movielens_100k()
    split = leave_last_out(data.sequences, max_len=20)
    counts = train_item_counts(split, data.n_items)
    params = parse_settings(args.params)
    behaviour = parse_settings(args.behaviour) or None
    t0 = time.perf_counter()
    if args.sasrec_lr is not None:
        model, params = "SASRec", {"lr": args.sasrec_lr}
        rec = SASRecRecommender(random_state=args.seed, **params).fit(split.X_train, split.y_train)
        fit_s = time.perf_counter() - t0
        pred = rec.predict(split.X_test)
    elif args.model == "behaviour":
        model, params = "SASRec (behaviour)", {}
        rec = tokenizer(data, split, args.seed, behaviour).behavior_estimator_
        fit_s = epoch_seconds(rec)  # fitted inside the cached tokenizer: its epochs' own durations
        pred = rec.predict(split.X_test)
    else:
        model = "IntRR"
        tok = tokenizer(data, split, args.seed, behaviour)
        t0 = time.perf_counter()
        rec = IntRRRecommender(random_state=args.seed, **params).fit(tok.transform(split.X_train), split.y_train)
        fit_s = time.perf_counter() - t0
        pred = rec.predict(tok.transform(split.X_test))
    rep = ranking_report(split.y_test, pred, ks=(10,), item_counts=counts)
    res = {"name": args.name, "model": model, "params": params, "seed": args.seed,
           **({"behaviour": behaviour} if behaviour else {}),
           **{k: float(rep[k]) for k in ("ndcg@10", "recall@10", "ndcg@10/head", "ndcg@10/tail")},
           "epochs": rec.n_epochs_, "fit_s": fit_s,
           "valid_ndcg": [round(h.get("valid_ndcg") or 0.0, 4) for h in rec.history_],
           "machine": machine_line()}
    Store(STORE).append(res)
    print(json.dumps(res))
    print(report())


if __name__ == "__main__":
    main()
