"""Learning curves of the recommender benchmark's fits: validation NDCG@10 per epoch and per training second.

The equal-epoch and the equal-wall-clock views of the same fits, side by side.

    python benchmarks/bench_curves.py --dataset amazon --rows intrr:adcsid,tiger:adcsid --seeds 0
    python benchmarks/bench_curves.py --dataset movielens --patience 10 --seeds 0,1,2

``--epochs`` / ``--patience``: the budget flags the benchmark's fits ran with (each budget has
its own cache folder).

No training: it reads the training histories that ``bench_recommenders.py`` leaves in its
per-seed cache folder, the saved model of a finished row (``model_<row>.joblib``) or, for a
row still training over several sittings, its latest checkpoint (``checkpoint_<row>/``).
A fit that is still under way therefore shows how far it has come.

Each cell is the **best validation NDCG@10 reached so far**: the model early stopping would
keep had training ended at that epoch or after that many training seconds. Training seconds
are skorch's per-epoch ``dur`` summed (the optimisation steps; the per-epoch validation pass,
whose cost depends on the decoder, is left out: the recommender table's ms/user reports
decoding). Seconds come from the machine and sitting that ran each fit; on a shared CPU they
carry its noise, so read the wall-clock view as ratios, not absolute times.

Writes ``docs/results/curves_<dataset>.md`` and ``curves_<dataset>.png``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, markdown_table, mean_sd  # noqa: E402
from bench_recommenders import budget_flags, checkpoint_path, model_path, parse_row, row_label  # noqa: E402

EPOCHS = (1, 2, 3, 5, 10, 15, 20, 30, 40, 50, 70, 100)
SECONDS = (60, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800)


def load_history(ctx, row, seed):
    """``(history, status)`` of one fit: the list of skorch epoch records (``epoch``, ``dur``,
    ``valid_ndcg``) and ``"finished"`` or ``"in progress"``; ``(None, None)`` when the
    row has not been run for this seed. ``ctx``: ``dataset`` and the budget
    (``max_epochs``, ``patience``; None at the package defaults)."""
    model = model_path(ctx, row, seed)
    if model.exists():
        import joblib

        return list(joblib.load(model).net_.history), "finished"
    folder = checkpoint_path(ctx, row, seed)
    latest = folder / "latest"
    if latest.exists():
        return json.loads((folder / latest.read_text().strip() / "history.json").read_text()), "in progress"
    return None, None


def curve(history):
    """Arrays ``(epochs, training seconds, best-so-far validation NDCG@10)`` of one fit."""
    recs = [h for h in history if h.get("valid_ndcg") is not None]
    if not recs:
        raise ValueError("the history has no validation NDCG (a fit without validation)")
    epochs = np.array([h["epoch"] for h in recs])
    seconds = np.cumsum([h["dur"] for h in history])[[h["epoch"] - 1 for h in recs]]
    return epochs, seconds, np.maximum.accumulate([h["valid_ndcg"] for h in recs])


def value_at(xs, best, x, finished):
    """Best-so-far value once ``x`` (epochs or seconds) is spent; a finished fit (early
    stopped or at its cap) keeps its final best beyond its end; None where a fit in
    progress has not got there yet, or before its first epoch ends."""
    if x > xs[-1] and not finished:
        return None
    i = np.searchsorted(xs, x, side="right") - 1
    return None if i < 0 else float(best[i])


def build(ctx, rows, seeds):
    fits = {}
    for row in rows:
        for seed in seeds:
            hist, status = load_history(ctx, row, seed)
            if hist is not None:
                fits[row, seed] = (*curve(hist), status)
    if not fits:
        raise SystemExit(f"no training history for rows {rows} and seeds {seeds} in the benchmark cache "
                         f"at this budget ({budget_flags(ctx).strip() or 'package defaults'}; "
                         "run bench_recommenders.py for them first, or pass its --epochs/--patience)")
    return fits


def tables(fits, rows, seeds):
    """The equal-epoch and equal-seconds tables (rows of dicts) and the fits' summary."""
    def cells(axis, grid):
        out = []
        for row in rows:
            runs = [fits[row, s] for s in seeds if (row, s) in fits]
            if not runs:
                continue
            name, codes = row_label(row)
            line = {"model": name, "codes": codes, "seeds": len(runs)}
            for x in grid:
                vals = [value_at(r[axis], r[2], x, r[3] == "finished") for r in runs]
                line[f"{x:g}" if axis == 0 else _seconds(x)] = "" if None in vals else mean_sd(vals)
            out.append(line)
        return out

    reach_e = max(r[0][-1] for r in fits.values())
    reach_s = max(r[1][-1] for r in fits.values())
    by_epoch = cells(0, [e for e in EPOCHS if e <= reach_e])
    by_time = cells(1, [t for t in SECONDS if t <= reach_s])
    summary = []
    for (row, seed), (ep, sec, best, status) in sorted(fits.items(), key=lambda kv: (rows.index(kv[0][0]), kv[0][1])):
        name, codes = row_label(row)
        summary.append({"model": name, "codes": codes, "seed": seed, "status": status,
                        "epochs": int(ep[-1]), "training s": f"{sec[-1]:.0f}",
                        "s/epoch": f"{sec[-1] / ep[-1]:.1f}", "best valid N@10": f"{best[-1]:.4f}",
                        "at epoch": int(ep[int(np.argmax(best >= best[-1]))])})
    return by_epoch, by_time, summary


def _seconds(t):
    return f"{t / 3600:g} h" if t >= 3600 else f"{t / 60:g} min"


def plot(fits, rows, seeds, path, dataset):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, row in enumerate(rows):
        name, codes = row_label(row)
        for j, seed in enumerate(s for s in seeds if (row, s) in fits):
            ep, sec, best, status = fits[row, seed]
            style = dict(color=colors[i % len(colors)], alpha=0.9 if j == 0 else 0.45,
                         ls="-" if status == "finished" else "--",
                         label=f"{name} [{codes}]" + (" (in progress)" if status != "finished" else "")
                         if j == 0 else None)
            axes[0].plot(ep, best, **style)
            axes[1].plot(sec / 60, best, **style)
    axes[0].set_xlabel("epoch")
    axes[1].set_xlabel("training minutes (validation passes excluded)")
    axes[1].set_xscale("log")
    axes[0].set_ylabel("best validation NDCG@10 so far")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{dataset}: equal epochs (left) and equal training time (right); one line per seed")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="movielens", choices=["movielens", "amazon"])
    ap.add_argument("--rows", default="intrr:adcsid,tiger:adcsid,intrr:rqvae,tiger:rqvae")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=None, help="the --epochs the benchmark's fits ran with")
    ap.add_argument("--patience", type=int, default=None, help="the --patience the benchmark's fits ran with")
    args = ap.parse_args(argv)
    ctx = dict(dataset=args.dataset, max_epochs=args.epochs, patience=args.patience)
    rows = args.rows.split(",")
    for row in rows:
        if parse_row(row)[1] is None:
            raise SystemExit(f"{row!r}: curves are drawn for the SID rows (intrr:..., tiger:...)")
    seeds = [int(s) for s in args.seeds.split(",")]
    fits = build(ctx, rows, seeds)
    by_epoch, by_time, summary = tables(fits, rows, seeds)
    lines = [
        f"# Learning curves on {args.dataset}: equal epochs and equal training time",
        "",
        f"Command: `python benchmarks/bench_curves.py --dataset {args.dataset}{budget_flags(ctx)} "
        f"--rows {args.rows} --seeds {args.seeds}` (reads the fits of `bench_recommenders.py`; no training).",
        "Each cell: the best validation NDCG@10 reached so far (what early stopping keeps), mean ± sd "
        "over the seeds. A finished fit keeps its final best after it stopped (the model an epoch "
        "cap or budget that large would have kept); an empty cell: some seed's fit is still "
        "training and has not got that far, or had not finished its first epoch by then. Validation, not test: the test figures are in the "
        "recommender table.",
        "",
        "## At equal epochs",
        "",
        markdown_table(by_epoch),
        "",
        "## At equal training time",
        "",
        "Training seconds: skorch's per-epoch `dur` summed (optimisation only; the per-epoch "
        "validation pass is left out). Measured on the machine and sitting of each fit (one "
        "torch thread on a 2-core CPU shared by two fits): compare ratios, not absolute times.",
        "",
        markdown_table(by_time),
        "",
        "## The fits",
        "",
        markdown_table(summary),
        "",
        f"![curves](curves_{args.dataset}.png)",
    ]
    out = RESULTS / f"curves_{args.dataset}.md"
    out.write_text("\n".join(lines) + "\n")
    plot(fits, rows, seeds, RESULTS / f"curves_{args.dataset}.png", args.dataset)
    print(out.read_text())


if __name__ == "__main__":
    main()
