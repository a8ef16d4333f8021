"""The main job: ADC-SID + IntRR pipeline on MovieLens-100k (or your CSV), with the floor and SASRec.

Run ``sksid quickstart`` or ``python -m sksid.quickstart`` (``--quick`` for a short smoke run). It loads the
bundled real dataset, splits it leave-last-out, embeds the item titles offline,
fits ``RecommenderPipeline([("tok", ADCSIDTokenizer()), ("rec", IntRRRecommender())])`` on the
training part (the tokenizer learns the behavioural embeddings with SASRec on that part
only), and prints test Recall/NDCG at 5 and 10 next to MostPopular and the tokenizer's
own SASRec.

Your own data: ``sksid quickstart --data interactions.csv --user-col user --item-col item
--time-col ts [--text-col title] [--category-col genres]`` runs the same job on a CSV of
interactions (one row each; raw ids may be strings), read by
:func:`sksid.datasets.from_interactions`, and prints one user's recommendations in raw ids.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from . import ADCSIDTokenizer, IntRRRecommender, MostPopular, SASRecRecommender
from .datasets import from_interactions, load_amazon, load_movielens_100k
from .features import item_features
from .metrics import ranking_report
from .model_selection import leave_last_out, train_item_counts
from .pipeline import RecommenderPipeline


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
    return RecommenderPipeline([("tok", tok), ("rec", rec)])


def load_csv(path, user_col="user_id", item_col="item_id", time_col="timestamp", text_col=None,
             category_col=None, min_interactions=None):
    """A CSV of interactions as a :class:`~sksid.datasets.SequenceDataset` (ids read as
    strings, so ``007`` stays ``007``; ``time_col="none"``: the row order is the time order)."""
    import pandas as pd

    time_col = None if time_col is None or time_col.lower() == "none" else time_col
    str_cols = {c: str for c in (user_col, item_col)}
    df = pd.read_csv(path, dtype=str_cols, keep_default_na=True)
    if time_col is not None and time_col in df.columns and df[time_col].dtype == object:
        df[time_col] = pd.to_datetime(df[time_col])
    return from_interactions(df, user_col=user_col, item_col=item_col, time_col=time_col,
                             item_text=text_col, item_categories=category_col,
                             min_interactions=min_interactions, name=Path(path).stem)


def _content(data, args):
    """The content modalities of the run (None: behaviour only)."""
    own = args.data is not None
    text = not args.no_text and (not own or args.text_col is not None)
    categories = not own or args.category_col is not None
    if not (text or categories):
        return None
    return item_features(data, text=text, categories=categories, show_progress=not args.quiet)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="sksid quickstart", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="movielens", choices=["movielens", "amazon"],
                    help="movielens: MovieLens-100k, bundled in the recbole wheel (default); "
                         "amazon: Amazon Beauty from a local RecBole atomic-file folder")
    ap.add_argument("--amazon-path", default=None, help="folder of Beauty.inter.json (else $SKSID_AMAZON_BEAUTY)")
    own = ap.add_argument_group("your data (replaces --dataset)")
    own.add_argument("--data", default=None, metavar="CSV",
                     help="a CSV of interactions, one row each (user, item, time); ids may be strings")
    own.add_argument("--user-col", default="user_id", help="user id column (default user_id)")
    own.add_argument("--item-col", default="item_id", help="item id column (default item_id)")
    own.add_argument("--time-col", default="timestamp",
                     help="time column, numbers or dates (default timestamp; none: row order)")
    own.add_argument("--text-col", default=None, help="item text column (titles), embedded offline")
    own.add_argument("--category-col", default=None,
                     help="item category column, several separated by '|' (e.g. Action|Comedy)")
    own.add_argument("--min-interactions", type=int, default=None,
                     help="k-core filtering of users and items (default: keep every row)")
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
    if args.data is not None:
        try:
            data = load_csv(args.data, args.user_col, args.item_col, args.time_col, args.text_col,
                            args.category_col, args.min_interactions)
        except (OSError, ValueError, TypeError) as exc:  # a message for the command line, no traceback
            ap.error(f"--data {args.data}: {exc} (columns are named with --user-col, --item-col, "
                     "--time-col, --text-col, --category-col)")
    elif args.dataset == "movielens":
        data = load_movielens_100k()
    else:
        data = load_amazon(args.amazon_path)
    split = leave_last_out(data, max_len=20)  # its parts carry the catalogue size
    print(f"{data.name}: {data.n_users} users, {data.n_items} items; "
          f"{len(split.y_test)} test users (leave-last-out, history 20)")
    feats = _content(data, args)
    print("content modalities:", {k: v.shape for k, v in feats.items()} if feats else "none (behaviour only)")

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
    user = int(split.users[0])
    recent = data.decode(split.X_test[0][-5:]).tolist()
    top = data.decode(pipe.recommend(split.X_test[:1], k=5)[0][0]).tolist()
    print(f"\nuser {data.raw_user_ids[user]!r}: last items {recent} -> recommended {top}")
    print(f"SID length {tok.codes_.shape[1]}, collision rate {tok.collision_rate_:.4f}; "
          f"total time {time.perf_counter() - t0:.0f}s")
    return preds


if __name__ == "__main__":
    main()
