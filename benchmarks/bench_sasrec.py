"""SASRec vs MostPopular, leave-last-out, full ranking.

    python benchmarks/bench_sasrec.py --dataset movielens   # ~3 min on 2 CPU cores

Trains on every training prefix (windows of 20 items), early-stops on validation NDCG@10
(the second-to-last item), reports test metrics (last item) side by side, with RecBole
1.2.1's SASRec figures (docs/protocol.md) as the reference.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Timer, load_dataset, machine_line, markdown_table, write_result  # noqa: E402

from sksid import MostPopular, SASRecRecommender  # noqa: E402
from sksid.metrics import ranking_report  # noqa: E402
from sksid.model_selection import leave_last_out, train_item_counts  # noqa: E402

RECBOLE = {"movielens": (0.1145, 0.0543), "amazon": (0.0844, 0.0422)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dataset", default="movielens", choices=["movielens", "amazon"])
    ap.add_argument("--max-epochs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)

    data = load_dataset(args.dataset)
    split = leave_last_out(data.sequences, max_len=20)
    counts = train_item_counts(split, data.n_items)
    rows = []
    models = {
        "MostPopular": MostPopular(),
        "SASRec (CE)": SASRecRecommender(max_epochs=args.max_epochs, patience=10, random_state=args.seed,
                                         device=args.device, verbose=1),
    }
    for name, model in models.items():
        with Timer() as t:
            if isinstance(model, SASRecRecommender):
                model.fit(split.X_train, split.y_train, eval_set=(split.X_valid, split.y_valid))
            else:
                model.fit(split.X_train, split.y_train)
        pred = model.predict(split.X_test)
        rep = ranking_report(split.y_test, pred, ks=(5, 10), item_counts=counts, metrics=("recall", "ndcg"))
        row = {"model": name}
        row.update({k: v for k, v in rep.items()})
        row["fit s"] = round(t.seconds, 1)
        row["epochs"] = getattr(model, "n_epochs_", "-")
        rows.append(row)
    r10, n10 = RECBOLE[args.dataset]
    text = (f"# SASRec vs MostPopular on {data.name}\n\n"
            f"Command: `python benchmarks/bench_sasrec.py --dataset {args.dataset}` (seed {args.seed}); "
            f"machine: {machine_line()}.\n\n"
            f"{len(split.y_test)} users, {data.n_items} items, leave-last-out, full ranking, history 20.\n\n"
            + markdown_table(rows) +
            f"\n\nReference (docs/protocol.md, RecBole 1.2.1 SASRec CE): test Recall@10 {r10:.4f}, NDCG@10 {n10:.4f}.\n")
    print(text)
    path = write_result(f"sasrec_{args.dataset}.md", text)
    print(f"written to {path}")


if __name__ == "__main__":
    main()
