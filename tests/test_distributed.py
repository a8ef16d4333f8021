"""Data-parallel training (sksid.distributed): 2 CPU processes on gloo, launched by torchrun,
train the same model as one process."""
import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

WORKER = textwrap.dedent('''
    import os
    import sys
    import numpy as np
    import torch

    import sksid.distributed as D
    from sksid import IntRRRecommender, SASRecRecommender, SIDRanker, TIGERRecommender

    N_ITEMS = 60
    TINY = dict(d_model=16, n_layers=1, n_heads=2, head_dim=8, d_ff=32, max_len=8, dropout=0.0,
                max_epochs=2, batch_size=40, device="cpu", random_state=0)


    def data():
        rng = np.random.RandomState(0)
        X = [rng.randint(0, N_ITEMS, size=rng.randint(2, 15)) for _ in range(90)]
        y = rng.randint(0, N_ITEMS, size=90)
        codes = rng.randint(0, 4, size=(N_ITEMS, 2))
        return X, y, codes


    def ctr_data():
        import pandas as pd
        rng = np.random.RandomState(1)
        df = pd.DataFrame({"user_id": rng.randint(0, 30, 301), "item_id": rng.randint(0, N_ITEMS, 301),
                           "timestamp": np.arange(301)})
        return df, (rng.rand(301) > 0.5).astype(int)


    def fit_all():
        """Fitted models' weights and predictions (the same call in one or two processes)."""
        X, y, codes = data()
        out = {}
        for name, est, kw in (
                ("intrr", IntRRRecommender(**TINY, top_k=5, beam_width=5), dict(codes=codes)),
                ("tiger", TIGERRecommender(**TINY, top_k=5, beam_width=5), dict(codes=codes)),
                ("sasrec", SASRecRecommender(**{k: v for k, v in TINY.items() if k != "head_dim"},
                                             n_items=N_ITEMS, top_k=5), {})):
            est.fit(X, y, **kw)
            out[name + "_pred"] = est.predict(X[:20])
            out[name + "_rows"] = np.array([sum(b["train_batch_size"] for b in est.net_.history[0, "batches"])])
            for k, v in est.net_.module_.state_dict().items():
                out[f"{name}.{k}"] = v.detach().cpu().numpy()
        df, lab = ctr_data()
        rk = SIDRanker(hidden_dims=(16,), embedding_dim=8, max_epochs=2, batch_size=50, device="cpu",
                       random_state=0).fit(df, lab)
        out["ranker_proba"] = rk.predict_proba(df)[:, 1]
        return out


    if __name__ == "__main__":
        D.init()
        assert D.is_active() and D.world_size() == 2
        res = fit_all()
        # a time budget that runs out in one process only stops both (no hang in all_reduce)
        X, y, codes = data()
        budget = IntRRRecommender(**dict(TINY, max_epochs=20), max_time=1e-6 if D.rank() == 1 else 1e6)
        res["budget_epochs"] = np.array([budget.fit(X, y, codes=codes).n_epochs_])
        # random_state=None: every process trains from process 0's seed
        free = IntRRRecommender(**dict(TINY, random_state=None)).fit(X, y, codes=codes)
        for k, v in free.net_.module_.state_dict().items():
            res[f"free.{k}"] = v.detach().cpu().numpy()
        # one process writes checkpoint_dir; every process resumes from it
        ckpt = f"{sys.argv[1]}/ckpt"
        IntRRRecommender(**dict(TINY, max_epochs=1), checkpoint_dir=ckpt).fit(X, y, codes=codes)
        torch.distributed.barrier()
        res["ckpt_entries"] = np.array(sorted(os.listdir(ckpt)))
        torch.distributed.barrier()
        resumed = IntRRRecommender(**TINY, checkpoint_dir=ckpt).fit(X, y, codes=codes, resume=True)
        res["resumed_epochs"] = np.array([resumed.n_epochs_])
        for k, v in resumed.net_.module_.state_dict().items():
            res[f"resumed.{k}"] = v.detach().cpu().numpy()
        # early stopping decides once for all: each process validates on its own data here,
        # process 0's score is recorded everywhere
        vr = np.random.RandomState(10 + D.rank())
        ev = ([vr.randint(0, N_ITEMS, size=5) for _ in range(30)], vr.randint(0, N_ITEMS, size=30))
        stop = IntRRRecommender(**dict(TINY, max_epochs=12, patience=1, lr=0.05)).fit(X, y, codes=codes,
                                                                                     eval_set=ev)
        res["stop_valid"] = np.array([row["valid_ndcg"] for row in stop.history_])
        np.savez(f"{sys.argv[1]}/rank{D.rank()}.npz", **res)
        D.shutdown()
''')


def _load_worker(path):
    spec = importlib.util.spec_from_file_location("sksid_ddp_worker", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_two_gloo_processes_train_the_single_process_model(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
           "--nproc_per_node=2", str(script), str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(2)]
    assert [int(r.pop("budget_epochs")[0]) for r in ranks] == [1, 1]
    extra = [{k: r.pop(k) for k in list(r) if k.startswith(("free.", "resumed.", "ckpt_", "resumed_", "stop_"))}
             for r in ranks]
    # random_state=None: one seed for all (before, each process drew its own: weights differed by 0.5)
    # checkpoint_dir: process 0 wrote one checkpoint, both resumed from it to the same model;
    # early stopping: process 0's validation score in both histories, so both stopped together
    assert extra[0]["ckpt_entries"].tolist() == ["epoch-00001", "latest"]
    assert int(extra[0]["resumed_epochs"][0]) == int(extra[1]["resumed_epochs"][0]) == 2
    assert set(extra[0]) == set(extra[1])
    for key in extra[0]:
        np.testing.assert_array_equal(extra[0][key], extra[1][key], err_msg=key)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = _load_worker(script).fit_all()
    finally:
        torch.set_num_threads(threads)
    assert set(single) == set(ranks[0]) == set(ranks[1])
    for name in ("intrr", "tiger", "sasrec"):  # each process trained on its share of every batch
        key = name + "_rows"
        assert ranks[0][key] + ranks[1][key] == single[key]
        assert abs(int(ranks[0][key][0]) - int(ranks[1][key][0])) <= single[key][0] // 40 + 1
    for key, ref in single.items():
        if key.endswith("_rows"):
            continue
        for r in ranks:
            if key.endswith("_pred"):
                np.testing.assert_array_equal(r[key], ref, err_msg=key)
            elif key.endswith("qkv.bias"):
                # the key bias adds the same number to every attention score of a query, so
                # its true gradient is 0 and Adam turns rounding noise into +-lr steps; the
                # query and value biases match tightly
                d = ref.shape[0] // 3
                np.testing.assert_allclose(r[key][:d], ref[:d], rtol=1e-4, atol=1e-5, err_msg=key)
                np.testing.assert_allclose(r[key][2 * d:], ref[2 * d:], rtol=1e-4, atol=1e-5, err_msg=key)
                np.testing.assert_allclose(r[key][d:2 * d], ref[d:2 * d], atol=1e-3, err_msg=key)
            else:  # the same weights up to floating-point rounding
                np.testing.assert_allclose(r[key], ref, rtol=1e-4, atol=1e-5, err_msg=key)
    # both processes hold the same model
    for key in single:
        if not key.endswith("_rows"):
            np.testing.assert_array_equal(ranks[0][key], ranks[1][key], err_msg=key)


def test_shard_and_init_errors(monkeypatch):
    import sksid.distributed as D

    idx = torch.arange(7)
    parts = [D.shard(idx, r, 3) for r in range(3)]
    assert torch.equal(torch.cat([p for p, _ in parts]), idx) and not any(s for _, s in parts)
    part, standin = D.shard(torch.arange(4, 6), 2, 3)  # 2 rows for 3 processes
    assert standin and part.tolist() == [4]
    assert not D.is_active() and D.rank() == 0 and D.world_size() == 1
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(RuntimeError, match="torchrun"):
        D.init()
