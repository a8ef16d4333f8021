"""Can a re-weighted decoding score lift a trained IntRR? Tuned on validation, read on test.

    python benchmarks/diagnose_decoding.py --dataset amazon --seed 2

Reads the fitted model that ``bench_recommenders.py`` cached for ``--row`` (default
``intrr:adcsid``; run that row first) and scores every catalogue item of every user by
its per-level log-probabilities (``IntRRModule.level_scores``, exact over the trie).
Three re-weightings of the default score ``Σ_l log p_l`` are tuned on a random sample
of validation users (their second-to-last item) and then applied, unchanged, to every
test user:

* **level weights** ``Σ_l α_l log p_l``: two sweeps of coordinate ascent over
  ``α_l ∈ {0, .25, .5, .75, 1, 1.25, 1.5, 2}``, one level at a time;
* **popularity prior** ``Σ_l log p_l + β log(1 + n_i)`` (``n_i``: training count);
* **item loss weights** ``Σ_l w_il^γ log p_l``: the per-item weights the model was
  trained with (ADC-SID's bounded importance weights, mean 1 per item), exponent γ;
* for a fit with the UID head (``--row intrr:adcsid:uid``), the **UID term's scale**
  ``Σ_l log p_l + δ μ log p_uid`` (δ = 1 is the model's own decoding score, δ = 0 the
  codes alone), and the UID head alone (``log p_uid``, SASRec-style).

Output: a markdown block on stdout and one JSON line appended to
``docs/results/decoding_<dataset>.jsonl``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, load_dataset, machine_line, Store  # noqa: E402
from bench_recommenders import model_path  # noqa: E402
from diagnose_tail import ndcg10_of_ranks, target_ranks  # noqa: E402

from sksid.model_selection import leave_last_out, train_item_counts  # noqa: E402
from sksid.sequences import pad_histories  # noqa: E402

GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
BETAS = (-0.3, -0.2, -0.1, -0.05, 0.0, 0.05, 0.1, 0.2)
GAMMAS = (0.0, 0.5, 1.0, 1.5, 2.0)
DELTAS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)
UID_ONLY = "UID only"  # the δ key for the UID head's score alone


def levels_of(m, X, y, users, max_len, batch=256):
    """Per-level scores (L, U, n_items) in float16, UID-head term (U, n) or None, targets (U,)."""
    items, lengths = pad_histories([X[u] for u in users], max_len)
    lv, bonus = [], []
    with torch.no_grad():
        for s in range(0, len(users), batch):
            h = m.user_state(torch.as_tensor(items[s:s + batch]), torch.as_tensor(lengths[s:s + batch])).float()
            lv.append(torch.stack(list(m.level_scores(h))).half())
            b = m.item_bonus(h)
            bonus.append(None if b is None else b.half())
    return (torch.cat(lv, 1), None if bonus[0] is None else torch.cat(bonus),
            torch.as_tensor(np.asarray(y)[users]))


def score(lv, bonus, alpha, beta, gamma, logpop, w, delta=1.0):
    if delta == UID_ONLY:
        return bonus.float()
    a = torch.as_tensor(alpha, dtype=torch.float32).view(-1, 1, 1)
    if gamma:
        a = a * w.pow(gamma).unsqueeze(1)
    s = (a * lv.float()).sum(0) + beta * logpop
    return s if bonus is None or delta == 0 else s + delta * bonus.float()


def ndcg10(s, t):
    return float(ndcg10_of_ranks(target_ranks(s, t)).mean())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="amazon", choices=["movielens", "amazon"])
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--row", default="intrr:adcsid")
    ap.add_argument("--valid-users", type=int, default=4000, help="validation users the weights are tuned on")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    ds = load_dataset(args.dataset)
    split = leave_last_out(ds.sequences, max_len=20)
    path = model_path({"dataset": args.dataset}, args.row, args.seed)
    if not path.exists():
        raise SystemExit(f"run `bench_recommenders.py --dataset {args.dataset} --rows {args.row} --seeds "
                         f"{args.seed}` first (its fitted model is read from {path})")
    rec = joblib.load(path)
    m = rec.net_.module_.eval()
    logpop = torch.log1p(torch.as_tensor(train_item_counts(split, ds.n_items), dtype=torch.float32)).view(1, -1)
    w = m.level_loss_weights.float().t()  # (L, n): the loss weights the model trained with
    rng = np.random.default_rng(args.seed)
    users = np.sort(rng.choice(len(split.X_valid), min(args.valid_users, len(split.X_valid)), replace=False))
    lv, bonus, t = levels_of(m, split.X_valid, split.y_valid, users, rec.max_len)
    L = lv.shape[0]

    def valid(alpha=(1.0,) * L, beta=0.0, gamma=0.0, delta=1.0):
        return ndcg10(score(lv, bonus, alpha, beta, gamma, logpop, w, delta), t)

    base = valid()
    alpha, best = [1.0] * L, base
    for _ in range(2):
        for level in range(L):
            for g in GRID:
                cand = alpha[:level] + [g] + alpha[level + 1:]
                v = valid(cand)
                if v > best + 1e-5:
                    alpha, best = cand, v
    betas = {b: valid(beta=b) for b in BETAS}
    gammas = {g: valid(gamma=g) for g in GAMMAS}
    beta, gamma = max(betas, key=betas.get), max(gammas, key=gammas.get)
    # name -> (α, β, γ, δ, validation NDCG@10)
    configs = {"sum of levels (exact decoding)": ((1.0,) * L, 0.0, 0.0, 1.0, base),
               "level weights α (tuned)": (alpha, 0.0, 0.0, 1.0, best),
               f"popularity prior β = {beta}": ((1.0,) * L, beta, 0.0, 1.0, betas[beta]),
               f"item loss weights, γ = {gamma}": ((1.0,) * L, 0.0, gamma, 1.0, gammas[gamma]),
               "item loss weights, γ = 1": ((1.0,) * L, 0.0, 1.0, 1.0, gammas[1.0])}
    deltas = {}
    if bonus is not None:
        deltas = {d: valid(delta=d) for d in (*DELTAS, UID_ONLY)}
        delta = max((d for d in deltas if d != UID_ONLY), key=deltas.get)
        configs.update({"codes only (UID term off, δ = 0)": ((1.0,) * L, 0.0, 0.0, 0.0, deltas[0.0]),
                        f"UID term scaled, δ = {delta}": ((1.0,) * L, 0.0, 0.0, delta, deltas[delta]),
                        "UID head alone": ((1.0,) * L, 0.0, 0.0, UID_ONLY, deltas[UID_ONLY])})
    lv = bonus = None  # free the validation scores before the test pass
    test = dict.fromkeys(configs, 0.0)
    all_users = np.arange(len(split.X_test))
    for s in range(0, len(all_users), 2048):
        u = all_users[s:s + 2048]
        lt, bt, tt = levels_of(m, split.X_test, split.y_test, u, rec.max_len)
        for name, (a, b, g, d, _) in configs.items():
            test[name] += ndcg10(score(lt, bt, a, b, g, logpop, w, d), tt) * len(u) / len(all_users)
    out = dict(dataset=args.dataset, seed=args.seed, row=args.row, valid_users=len(users), alpha=alpha,
               betas=betas, gammas=gammas, deltas={str(k): v for k, v in deltas.items()}, test=test,
               valid={k: v[-1] for k, v in configs.items()}, seconds=time.perf_counter() - t0,
               machine=machine_line())
    Store(RESULTS / f"decoding_{args.dataset}.jsonl").append(out)
    print(f"Dataset {args.dataset}, seed {args.seed}, `{args.row}`'s saved fit; weights tuned on "
          f"{len(users)} validation users, applied to all {len(all_users)} test users "
          f"(`python benchmarks/diagnose_decoding.py --dataset {args.dataset} --seed {args.seed} "
          f"--row {args.row}`).\n")
    print("| decoding score | tuned | valid NDCG@10 | test NDCG@10 |\n|---|---|---|---|")
    for name, (a, b, g, d, v) in configs.items():
        tuned = f"α = {list(a)}" if name.startswith("level") else ""
        print(f"| {name} | {tuned} | {v:.4f} | {test[name]:.4f} |")


if __name__ == "__main__":
    main()
