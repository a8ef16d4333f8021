"""Why IntRR trails SASRec on tail items: likelihood, rank and popularity of the top-10.

    python benchmarks/diagnose_tail.py --dataset amazon --seed 2

Reads the fitted models that ``bench_recommenders.py`` cached for that seed (the
``intrr:adcsid`` row's IntRR and the behaviour SASRec; run those rows first) and, for a
random sample of test users whose target is a head item (top 25 % by training
interactions) and as many whose target is a tail item (bottom 25 %), prints per model:
the target's negative log-likelihood (IntRR: per SID level, exact constrained
probabilities), NDCG@10, the median rank of the target over the whole catalogue, hit@50,
and the mean training count of the items each model puts in its top 10. It also scores
the sum ``log p_IntRR + μ · log p_SASRec`` for a few ``μ`` (a score-level ensemble of
the pipeline's two models). Output: a markdown block on stdout.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import joblib
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import load_dataset  # noqa: E402
from bench_recommenders import cache_dir, model_path  # noqa: E402

from sksid.model_selection import leave_last_out, train_item_counts  # noqa: E402
from sksid.nn.beam import constrain  # noqa: E402
from sksid.sequences import pad_histories  # noqa: E402


def target_nll_per_level(m, h, t):
    """``-log p(s_l | s_<l, h)`` of the targets' codes (n, L), constrained as in training."""
    logits, queries = m.ran.output_logits(h, m.sid[t], "teacher_forcing", return_queries=True)
    if m.leaf:
        logits[-1] = m._leaf_logits(queries[-1], m.slots[t])
    out = []
    for level, lg in enumerate(logits):
        if m.constrained:
            lg = constrain(lg, m.trie.item_children(level, t))
        out.append(-F.log_softmax(lg.float(), -1).gather(1, m.sid[t][:, level:level + 1]).squeeze(1))
    return torch.stack(out, 1).numpy()


def target_ranks(scores, t):
    """0-based rank of each user's target among all items (B,): items scored strictly higher."""
    return (scores > scores.gather(1, t.view(-1, 1))).sum(1).numpy()


def ndcg10_of_ranks(rank):
    """NDCG@10 of one target per user from its rank (B,)."""
    return np.where(rank < 10, 1 / np.log2(rank + 2), 0.0)


def rank_stats(scores, t, counts):
    rank = target_ranks(scores, t)
    top_pop = counts[scores.topk(10, dim=1).indices.numpy()].mean(1)
    return rank, ndcg10_of_ranks(rank), top_pop


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="amazon", choices=["movielens", "amazon"])
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--users", type=int, default=1500, help="test users per stratum")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    ds = load_dataset(args.dataset)
    split = leave_last_out(ds.sequences, max_len=20)
    counts = train_item_counts(split, ds.n_items)
    order, n = np.argsort(-counts, kind="stable"), ds.n_items
    head, tail = np.zeros(n, bool), np.zeros(n, bool)
    head[order[: n // 4]] = True
    tail[order[-(n // 4):]] = True
    rec_path = model_path({"dataset": args.dataset}, "intrr:adcsid", args.seed)
    sas_path = cache_dir(args.dataset, args.seed) / "sasrec.joblib"
    if not rec_path.exists() or not sas_path.exists():
        raise SystemExit(f"run `bench_recommenders.py --dataset {args.dataset} --rows sasrec,intrr:adcsid "
                         f"--seeds {args.seed}` first (its fitted models are read from {rec_path.parent})")
    rec, sas = joblib.load(rec_path), joblib.load(sas_path)
    m, sm = rec.net_.module_.eval(), sas.net_.module_.eval()
    y = np.asarray(split.y_test)
    rng = np.random.default_rng(args.seed)
    groups = {g: rng.choice(np.flatnonzero(mask[y]), min(args.users, int(mask[y].sum())), replace=False)
              for g, mask in (("head", head), ("tail", tail))}
    rows, nll_lines = [], []
    for g, sel in groups.items():
        X, t = [split.X_test[i] for i in sel], torch.as_tensor(y[sel])
        items, lengths = (torch.as_tensor(a) for a in pad_histories(X, rec.max_len))
        si, sl = (torch.as_tensor(a) for a in pad_histories(X, sas.max_len))
        with torch.no_grad():
            h = m.user_state(items, lengths).float()
            nll = target_nll_per_level(m, h, t)
            intrr = torch.cat([m.exact_scores(h[i:i + 250]) for i in range(0, len(h), 250)])
            sasrec = F.log_softmax(sm.scores(si, sl).float(), -1)
        s_nll = -sasrec.gather(1, t[:, None]).squeeze(1).numpy()
        nll_lines.append(f"| {g} | {counts[y[sel]].mean():.1f} | " + " / ".join(f"{v:.2f}" for v in nll.mean(0))
                         + f" | {nll.sum(1).mean():.2f} | {s_nll.mean():.2f} |")
        for name, sc in [("IntRR", intrr), ("SASRec", sasrec)] + [
                (f"IntRR + {mu} · SASRec (score ensemble)", intrr + mu * sasrec) for mu in (0.25, 0.5, 1.0)]:
            rank, ndcg, top_pop = rank_stats(sc, t, counts)
            rows.append(f"| {name} | {g} | {ndcg.mean():.4f} | {np.median(rank):.0f} | {(rank < 50).mean():.3f} | "
                        f"{top_pop.mean():.0f} |")
    print(f"Dataset {args.dataset}, seed {args.seed}, {args.users} test users per stratum "
          f"(`python benchmarks/diagnose_tail.py --dataset {args.dataset} --seed {args.seed}`).\n")
    print("| targets | mean training count | IntRR −log p per level (" + ", ".join(
        f"K={k}" for k in rec.codebook_sizes_) + ") | IntRR −log p | SASRec −log p |")
    print("|---|---|---|---|---|")
    print("\n".join(nll_lines) + "\n")
    print("| model | targets | NDCG@10 | median rank | hit@50 | mean training count of the top 10 |")
    print("|---|---|---|---|---|---|")
    print("\n".join(sorted(rows, key=lambda r: (r.split("|")[1], r.split("|")[2]))))


if __name__ == "__main__":
    main()
