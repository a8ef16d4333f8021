"""The main job: ADC-SID + IntRR pipeline on MovieLens-100k, with the floor and SASRec.

Run ``sksid quickstart`` or ``python -m sksid.quickstart`` (``--quick`` for a short smoke run). It loads the
bundled real dataset, splits it leave-last-out, embeds the item titles offline,
fits ``Pipeline([("tok", ADCSIDTokenizer()), ("rec", IntRRRecommender())])`` on the
training part (the tokenizer learns the behavioural embeddings with SASRec on that part
only), and prints test Recall/NDCG at 5 and 10 next to MostPopular and the tokenizer's
own SASRec.
"""
from __future__ import annotations

import argparse
import time

from sklearn.pipeline import Pipeline

from . import ADCSIDTokenizer, IntRRRecommender, MostPopular, SASRecRecommender
from .datasets import load_amazon, load_movielens_100k
from .features import item_features
from .metrics import ranking_report
from .model_selection import leave_last_out, train_item_counts


def build_pipeline(seed=0, device="auto", quick=False, verbose=1):
    """The default pipeline: package defaults (sized for the device), or a short smoke run."""
    if quick:
        behaviour = SASRecRecommender(max_epochs=5, random_state=seed, device=device, verbose=verbose)
        tok = ADCSIDTokenizer(max_epochs=10, random_state=seed, device=device,
                              behavior_estimator=behaviour, verbose=verbose)
        rec = IntRRRecommender(max_epochs=5, random_state=seed, device=device, verbose=verbose)
    else:
        tok = ADCSIDTokenizer(random_state=seed, device=device, verbose=verbose)
        rec = IntRRRecommender(random_state=seed, device=device, verbose=verbose)
    return Pipeline([("tok", tok), ("rec", rec)])


def main(argv=None):
    ap = argparse.ArgumentParser(prog="sksid quickstart", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="movielens", choices=["movielens", "amazon"],
                    help="movielens: MovieLens-100k, bundled in the recbole wheel (default); "
                         "amazon: Amazon Beauty from a local RecBole atomic-file folder")
    ap.add_argument("--amazon-path", default=None, help="folder of Beauty.inter.json (else $SKSID_AMAZON_BEAUTY)")
    ap.add_argument("--quick", action="store_true",
                    help="a short smoke run (5-10 epochs per model, about a minute): checks the "
                         "install, its metrics are not the package's quality")
    ap.add_argument("--no-text", action="store_true",
                    help="skip the text modality (MiniLM title embeddings; needs the text extra)")
    ap.add_argument("--seed", type=int, default=0, help="random_state of every model (default 0)")
    ap.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    ap.add_argument("--quiet", action="store_true", help="no per-epoch tables or progress bars")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    data = load_movielens_100k() if args.dataset == "movielens" else load_amazon(args.amazon_path)
    split = leave_last_out(data.sequences, max_len=20)
    print(f"{data.name}: {data.n_users} users, {data.n_items} items; "
          f"{len(split.y_test)} test users (leave-last-out, history 20)")
    feats = item_features(data, text=not args.no_text, categories=True)
    print("content modalities:", {k: v.shape for k, v in feats.items()})

    pipe = build_pipeline(seed=args.seed, device=args.device, quick=args.quick, verbose=int(not args.quiet))
    pipe.fit(split.X_train, split.y_train, tok__item_features=feats)
    tok = pipe.named_steps["tok"]
    counts = train_item_counts(split, data.n_items)

    preds = {
        "MostPopular": MostPopular().fit(split.X_train, split.y_train).predict(split.X_test),
        "SASRec (tokenizer's behaviour model)": tok.behavior_estimator_.predict(split.X_test),
        "ADC-SID + IntRR (pipeline)": pipe.predict(split.X_test),
    }
    keys = ["recall@5", "recall@10", "ndcg@5", "ndcg@10", "ndcg@10/head", "ndcg@10/tail"]
    print(f"\nTest metrics ({len(split.y_test)} users, full ranking over {data.n_items} items):")
    print(f"{'model':40s}" + "".join(f"{k:>14s}" for k in keys))
    for name, pred in preds.items():
        rep = ranking_report(split.y_test, pred, ks=(5, 10), item_counts=counts)
        print(f"{name:40s}" + "".join(f"{rep[k]:14.4f}" for k in keys))
    print(f"\nSID length {tok.codes_.shape[1]}, collision rate {tok.collision_rate_:.4f}; "
          f"total time {time.perf_counter() - t0:.0f}s")
    return preds


if __name__ == "__main__":
    main()
