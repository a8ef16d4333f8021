"""What each of IntRR's two scores contributes: the SID levels, the UID head, and their mix.

    python benchmarks/diagnose_uid_mix.py --dataset movielens --seeds 0,1,2
    python benchmarks/diagnose_uid_mix.py --dataset amazon --models PATH [PATH ...]

IntRR with its UID head (``uid_weight=1``, the default) ranks by
``Σ_l log p(s_l | s_<l, h_u) + μ · log p_uid(i)`` with ``μ = uid_weight``. This script
scores every catalogue item of every user of the leave-last-out split's validation part
(the second-to-last item, never a training target) and test part with: the SID levels
alone, the UID head alone, and the sum at ``μ`` in {0.5, 1, 2, 4} (decoding weight only:
the model is trained once, at ``uid_weight=1``), and prints NDCG@10 for each.

MovieLens-100k: the models are ``IntRRRecommender(random_state=seed)`` at the package
defaults on the default pipeline's ADC-SID codes (the tokenizer of
``bench_intrr_options.py``, same cache), fitted once per seed and cached as
``$SKSID_CACHE_DIR/options/intrr_default_seed<seed>.joblib`` (refitted when its parameters are
no longer the package defaults). Amazon Beauty: fitted IntRR
models that ``bench_recommenders.py`` cached (``--models``; a Beauty fit takes hours).
Rows append to ``docs/results/uid_mix.jsonl``; ``--report`` rewrites ``uid_mix.md``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import joblib
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, Store, cache_root, load_dataset, machine_line, markdown_table, mean_sd  # noqa: E402

from sksid.metrics import ndcg_at_k  # noqa: E402
from sksid.model_selection import leave_last_out  # noqa: E402
from sksid.sequences import pad_histories  # noqa: E402

STORE = RESULTS / "uid_mix.jsonl"
MUS = (0.5, 1.0, 2.0, 4.0)


def movielens_model(data, split, seed):
    from bench_intrr_options import tokenizer

    from sksid import IntRRRecommender

    tok = tokenizer(data, split, seed)
    base = cache_root()
    path = base / "options" / f"intrr_default_seed{seed}.joblib"
    fresh = IntRRRecommender(random_state=seed)
    if path.exists():
        rec = joblib.load(path)
        if rec.get_params() == fresh.get_params():  # a fit at today's defaults, else refit
            return rec, str(path)
    rec = fresh.fit(tok.transform(split.X_train), split.y_train)
    joblib.dump(rec, path)
    return rec, str(path)


def score_variants(rec, X, y, batch=1024):
    """NDCG@10 of every score variant on histories ``X`` with targets ``y``."""
    module = rec.net_.module_.eval()
    if module.uid_weight <= 0:
        raise ValueError("the model has no UID head (uid_weight=0): nothing to mix")
    sums = {}
    for start in range(0, len(X), batch):
        items, lengths = pad_histories(X[start:start + batch], rec.max_len)
        dev = module.sid.device
        with torch.no_grad():
            h = module.user_state(torch.as_tensor(items, device=dev), torch.as_tensor(lengths, device=dev)).float()
            sid = sum(module.level_scores(h))
            uid = torch.log_softmax(module.uid_logits(h).float(), -1)
        yy = y[start:start + batch]
        variants = {"SID levels only": sid, "UID head only": uid}
        variants.update({f"SID + {mu:g}·UID": sid + mu * uid for mu in MUS})
        for name, s in variants.items():
            ids = s.topk(10, dim=1).indices.cpu().numpy()
            sums[name] = sums.get(name, 0.0) + float(ndcg_at_k(yy, ids, 10)) * len(yy)
    return {name: v / len(X) for name, v in sums.items()}


def report():
    rows = Store(STORE).rows
    lines = ["# IntRR's two scores: SID levels, UID head and their mix", "",
             "Command: `python benchmarks/diagnose_uid_mix.py --dataset movielens --seeds 0,1,2` and "
             "`--dataset amazon --models PATH`. Machine(s): "
             + "; ".join(sorted({r["machine"] for r in rows})) + ".",
             "Every cell: NDCG@10 over the whole catalogue for one fitted model (trained at "
             "`uid_weight=1`, the default) scored with the SID levels' summed log-probabilities alone, the UID head's "
             "log-softmax alone, or the sum with the UID head weighted by μ at decoding only "
             "(`SID + 1·UID` is what `predict` ranks by). *valid*: the split's validation items (the "
             "second-to-last, never a training target); *test*: the last.", ""]
    for dataset in sorted({r["dataset"] for r in rows}):
        rs = [r for r in rows if r["dataset"] == dataset]
        table = []
        for part in ("valid", "test"):
            names = list(rs[0][part])
            for r in rs:
                table.append({"part": part, "model": f"{r['label']} ({r['epochs']} epochs)",
                              **{n: f"{r[part][n]:.4f}" for n in names}})
            for setting in (False, True):  # MovieLens: one model per seed, mean per setting
                same = [r for r in rs if r.get("uid_in_token", False) == setting]
                if dataset == "movielens" and len(same) > 1:
                    table.append({"part": part, "model": f"mean ± sd of {len(same)}, uid_in_token={setting}",
                                  **{n: mean_sd([r[part][n] for r in same]) for n in names}})
        lines += [f"## {dataset}", "", markdown_table(table), ""]
    path = STORE.with_suffix(".md")
    path.write_text("\n".join(lines))
    return path.read_text()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="movielens", choices=["movielens", "amazon"])
    ap.add_argument("--seeds", default="0", help="MovieLens-100k: comma-separated seeds")
    ap.add_argument("--models", nargs="*", default=[], help="Amazon Beauty: cached IntRR joblib files")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args(argv)
    if args.report:
        print(report())
        return
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset)
    split = leave_last_out(data.sequences, max_len=20)
    if args.dataset == "movielens":
        if args.models:
            ap.error("--models is for --dataset amazon; MovieLens-100k models are fitted per --seeds")
        jobs = [(f"seed {s}", lambda s=int(s): movielens_model(data, split, s)) for s in args.seeds.split(",")]
    else:
        if not args.models:
            ap.error("--dataset amazon needs --models (IntRR fits cached by bench_recommenders.py)")
        jobs = [(Path(p).parent.name + "/" + Path(p).stem, lambda p=p: (joblib.load(p), p)) for p in args.models]
    store = Store(STORE)
    for label, load in jobs:
        rec, path = load()
        label += f", uid_in_token={bool(rec.uid_in_token)}"
        res = {"dataset": args.dataset, "label": label, "uid_in_token": bool(rec.uid_in_token), "model": str(path), "epochs": int(rec.n_epochs_),
               "machine": machine_line()}
        for part in ("valid", "test"):
            X, y = getattr(split, f"X_{part}"), np.asarray(getattr(split, f"y_{part}"))
            res[part] = {k: round(v, 4) for k, v in score_variants(rec, X, y).items()}
        store.append(res)
        print(json.dumps(res), flush=True)
    print(report())


if __name__ == "__main__":
    main()
