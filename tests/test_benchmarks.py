"""Smoke tests of benchmark scripts whose logic is not covered elsewhere (tiny sizes)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import parse_setting  # noqa: E402


def test_catalogue_benchmark_runs_at_a_tiny_size(tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_catalogue.py"), "--items", "3000",
           "--sample", "1000", "--epochs", "1", "--dir", str(tmp_path / "cat"), "--results", str(tmp_path),
           "--steps", "make,tok:adcsid,decode"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = (tmp_path / "catalogue_3000.md").read_text()
    assert "| ADC-SID | 1,000 |" in table and "exact, every item scored" in table
    res = {r["step"]: r for r in json.loads((tmp_path / "catalogue_3000.json").read_text())}
    assert res["tok:adcsid"]["transform_items_per_s"] > 0 and res["decode"]["items"] == 3000


def test_recommender_benchmark_rows_parse():
    import bench_recommenders as br

    assert br.split_decoding("intrr:adcsid+exact") == ("intrr:adcsid", "exact")
    assert br.split_decoding("intrr:adcsid:noweights") == ("intrr:adcsid:noweights", None)
    assert br.parse_row("intrr:adcsid:noweights+exact") == ("intrr", "adcsid", "noweights")
    assert br.row_label("intrr:adcsid+exact")[0] == "IntRR, exact decoding (same fit)"
    with pytest.raises(SystemExit, match="decoding"):
        br.split_decoding("intrr:adcsid+greedy")
    with pytest.raises(SystemExit, match="variant"):
        br.parse_row("intrr:adcsid:nope")
    # one estimator parameter as a variant, its value read as JSON
    assert br.parse_row("intrr:adcsid:dropout=0.3") == ("intrr", "adcsid", "dropout=0.3")
    assert parse_setting("dropout=0.3") == ("dropout", 0.3)
    assert parse_setting("code_weights=false") == ("code_weights", False)
    assert parse_setting("code_order=entropy") == ("code_order", "entropy")
    assert br.row_label("intrr:adcsid:dropout=0.3")[0] == "IntRR, dropout=0.3"
    with pytest.raises(SystemExit, match="variant"):
        br.parse_row("intrr:adcsid:=0.3")
    # variants combine, left to right
    assert br.parse_row("intrr:adcsid:noweights:nouid+exact") == ("intrr", "adcsid", "noweights:nouid")
    assert br.variant_parts("noweights:nouid") == ["noweights", "nouid"] and br.variant_parts("") == []
    assert br.row_label("intrr:adcsid:noweights:nouid")[0] == "IntRR, code_weights=False, no UID head (uid_weight=0)"
    assert br.row_label("intrr:adcsid:nouid:dropout=0.3+exact")[0] == \
        "IntRR, no UID head (uid_weight=0), dropout=0.3, exact decoding (same fit)"
    with pytest.raises(SystemExit, match="variant"):
        br.parse_row("intrr:adcsid:nouid:nope")
    with pytest.raises(SystemExit, match="at most one"):
        br.parse_row("intrr:adcsid:budget:time")
    # SASRec rows of their own take estimator settings (RecBole's layout is one of the rows)
    assert br.parse_row(br.SASREC_RECBOLE) == ("sasrec", None, "norm_first=false:init_std=0.02:dropout=0.5")
    assert br.SASREC_RECBOLE in br.all_rows()
    assert br.row_label("sasrec:dropout=0.5") == ("SASRec (CE), dropout=0.5", "-")
    assert "RecBole" in br.row_label(br.SASREC_RECBOLE)[0]
    from sksid.recommenders import SASRecRecommender
    assert {parse_setting(v)[0] for v in br.variant_parts(br.parse_row(br.SASREC_RECBOLE)[2])} <= \
        set(SASRecRecommender().get_params())
    with pytest.raises(SystemExit, match="settings"):
        br.parse_row("sasrec:noweights")


def test_recommender_benchmark_variants_set_real_parameters():
    """Every named variant sets parameters the estimator it applies to has."""
    import bench_recommenders as br

    from sksid.recommenders import IntRRRecommender, TIGERRecommender

    intrr, tiger = IntRRRecommender().get_params(), TIGERRecommender().get_params()
    for variant, params in br.VARIANT_PARAMS.items():
        assert set(params) <= set(intrr), variant
        if variant not in br.INTRR_ONLY:
            assert set(params) <= set(tiger), variant
    assert br.parse_row("intrr:adcsid:uid") == ("intrr", "adcsid", "uid")


def test_recommender_benchmark_fit_resumes_an_interrupted_sitting(tmp_path):
    """A checkpoint left by an interrupted sitting is continued, its time is counted, and
    the folder is removed when the fit ends."""
    import shutil

    import bench_recommenders as br
    import numpy as np

    from sksid.recommenders import IntRRRecommender

    rng = np.random.default_rng(0)
    X = [rng.integers(0, 30, rng.integers(2, 6)) for _ in range(80)]
    y = rng.integers(0, 30, 80)
    codes = np.stack([np.arange(30) % 5, np.arange(30) // 5], 1)
    kw = dict(max_epochs=1, random_state=0, verbose=0, batch_size=32)
    folder = tmp_path / "checkpoint_intrr_x"
    # sitting 1: one epoch, then "interrupted" (its checkpoint stays, logged 100 s before)
    IntRRRecommender(**kw, checkpoint_dir=str(folder)).fit(X, y, codes=codes)
    start = (folder / "latest").stat().st_mtime - 100.0
    (folder / "sittings.json").write_text(json.dumps([{"start": start}]))
    rec = IntRRRecommender(**dict(kw, max_epochs=3))
    fit_s, sittings = br.fit_resumable(rec, folder, X, y, codes=codes)
    assert sittings == 2 and fit_s >= 100.0 and not folder.exists()
    assert rec.n_epochs_ == 3 and rec.checkpoint_dir is None
    # the same three epochs in one sitting: the same model
    ref = IntRRRecommender(**dict(kw, max_epochs=3)).fit(X, y, codes=codes)
    np.testing.assert_array_equal(rec.predict(X), ref.predict(X))
    # a checkpoint of another fit (other parameters) is refused with a clear message
    IntRRRecommender(**kw, checkpoint_dir=str(folder)).fit(X, y, codes=codes)
    (folder / "sittings.json").write_text(json.dumps([{"start": start}]))
    with pytest.raises(SystemExit, match="remove .*checkpoint_intrr_x"):
        br.fit_resumable(IntRRRecommender(**dict(kw, lr=1e-2)), folder, X, y, codes=codes)
    shutil.rmtree(folder)
    # no checkpoint: a fresh fit in one sitting
    fit_s, sittings = br.fit_resumable(IntRRRecommender(**kw), folder, X, y, codes=codes)
    assert sittings == 1 and fit_s < 100.0 and not folder.exists()


def test_recommender_benchmark_store_sees_rows_other_processes_appended(tmp_path):
    """Two benchmark processes share one results file: each one's table (built from
    ``Store.rows``) includes the row the other appended after it started."""
    import bench_recommenders as br

    path = tmp_path / "recommenders_x.jsonl"
    first, second = br.Store(path), br.Store(path)   # both opened before any row exists
    first.append({"row": "intrr:adcsid", "seed": 0, "config": "c"})
    second.append({"row": "intrr:adcsid:noweights", "seed": 0, "config": "c"})
    assert [r["row"] for r in first.rows] == ["intrr:adcsid", "intrr:adcsid:noweights"]
    assert first.find("intrr:adcsid:noweights", 0, "c") is not None
    assert second.find("intrr:adcsid", 0, "c") is not None


def test_recommender_benchmark_codes_only_fits_each_rows_tokenizer_once(monkeypatch, tmp_path):
    """``--codes-only`` caches, per seed, the codes of each tokenizer the rows name (once,
    however many rows share it) and trains no recommender; rows without codes fit SASRec."""
    from types import SimpleNamespace

    import bench_recommenders as br
    import sksid.features

    calls = []
    monkeypatch.setattr(br, "codes_for", lambda ctx, tok, seed: (
        calls.append((tok, seed)), (None, None, {"collision_rate": 0.01, "K": 8, "L": 3, "fit_s": 1.0}))[1])
    monkeypatch.setattr(br, "behaviour_model", lambda ctx, seed: calls.append(("sasrec", seed)))
    monkeypatch.setattr(br, "run_row", lambda *a: pytest.fail("a recommender was trained"))
    monkeypatch.setattr(br, "report", lambda *a: pytest.fail("a table was rebuilt"))
    monkeypatch.setattr(br, "RESULTS", tmp_path)
    seqs = [list(range(i, i + 4)) for i in range(10)]
    monkeypatch.setattr(br, "load_dataset", lambda name: SimpleNamespace(sequences=seqs, n_items=14))
    # every code is "cached" (codes_for is stubbed): the item features are never encoded
    monkeypatch.setattr(sksid.features, "item_features",
                        lambda ds, **kw: pytest.fail("features encoded although no tokenizer is fitted"))
    br.main(["--rows", "intrr:rqvae,tiger:rqvae:noleaf,intrr:adcsid+exact", "--seeds", "0,2", "--codes-only"])
    assert calls == [("adcsid", 0), ("rqvae", 0), ("adcsid", 2), ("rqvae", 2)]
    calls.clear()
    br.main(["--rows", "sasrec,mostpop", "--seeds", "1", "--codes-only"])
    assert calls == [("sasrec", 1)]
    assert not list(tmp_path.iterdir())   # no results file written


def test_recommender_benchmark_pins_the_sid_rows_patience():
    """The tables' SID rows keep the benchmark's fixed patience (10) when the package
    default moves; ``--patience`` and ``--epochs`` still apply to every model."""
    import bench_recommenders as br
    from sksid import IntRRRecommender, TIGERRecommender

    assert IntRRRecommender().patience == TIGERRecommender().patience == 15 != br.BENCH_SID_PATIENCE == 10
    defaults = {"max_epochs": None, "patience": None}
    assert br.stopping_kwargs(defaults, "intrr") == br.stopping_kwargs(defaults, "tiger") == {"patience": 10}
    assert br.stopping_kwargs({"max_epochs": 10, "patience": None}, "tiger") == {"max_epochs": 10, "patience": 10}
    assert br.stopping_kwargs({"max_epochs": None, "patience": 7}, "intrr") == {"patience": 7}


def test_recommender_benchmark_caches_each_epoch_budget_apart(monkeypatch, tmp_path):
    """The per-seed cache (SASRec, codes, models, checkpoints) has one folder per epoch
    budget: a ``--patience`` / ``--epochs`` run neither reuses nor overwrites the fits of
    the package defaults (the defaults keep ``<dataset>/seed<N>``)."""
    from types import SimpleNamespace

    import numpy as np

    import bench_recommenders as br

    monkeypatch.setenv("SKSID_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(br, "RESULTS", tmp_path)
    bench = tmp_path / "cache" / "bench" / "movielens"
    assert br.budget_tag({"dataset": "movielens"}) == ""
    assert br.budget_tag({"max_epochs": 50, "patience": 10}) == "epochs50-patience10"
    assert br.model_path({"dataset": "movielens"}, "intrr:adcsid", 0) == bench / "seed0" / "model_intrr_adcsid.joblib"
    assert br.checkpoint_path({"dataset": "movielens", "patience": 10}, "tiger:rqvae", 2) == (
        bench / "patience10" / "seed2" / "checkpoint_tiger_rqvae")
    rng = np.random.default_rng(0)
    seqs = [list(rng.choice(60, size=6, replace=False)) for _ in range(16)]
    monkeypatch.setattr(br, "load_dataset", lambda name: SimpleNamespace(sequences=seqs, n_items=60))
    br.main(["--rows", "sasrec", "--seeds", "0", "--epochs", "1", "--threads", "1"])
    br.main(["--rows", "sasrec", "--seeds", "0", "--epochs", "2", "--patience", "7", "--threads", "1",
             "--page", "other"])
    one = br.joblib.load(bench / "epochs1" / "seed0" / "sasrec.joblib")
    two = br.joblib.load(bench / "epochs2-patience7" / "seed0" / "sasrec.joblib")
    assert (len(one.history_), len(two.history_), two.patience) == (1, 2, 7)
    assert not (bench / "seed0" / "sasrec.joblib").exists()   # the defaults' folder is untouched


def test_recommender_benchmark_report_keeps_its_setting_and_refuses_an_empty_table(monkeypatch, tmp_path):
    """``--report`` rebuilds the table of the setting the flags name: its command line carries
    ``--patience``; a setting with no rows stops with the settings present instead of
    overwriting the table with an empty one (a committed table was once lost that way)."""
    from types import SimpleNamespace

    import bench_recommenders as br

    monkeypatch.setattr(br, "RESULTS", tmp_path)
    seqs = [list(range(i, i + 4)) for i in range(10)]
    monkeypatch.setattr(br, "load_dataset", lambda name: SimpleNamespace(sequences=seqs, n_items=14))
    metrics = {f"{m}@{k}": 0.1 for m in ("recall", "ndcg") for k in br.KS}
    row = {"row": "mostpop", "seed": 0, "config": "package defaults, patience 10", "fit_s": 0.1,
           "ms_per_user": 0.01, "epochs": None, "machine": "m", **metrics}
    br.Store(tmp_path / "recommenders_movielens.jsonl").append(row)
    br.main(["--report", "--patience", "10"])
    table = (tmp_path / "recommenders_movielens.md").read_text()
    assert "--patience 10 --seeds" in table and "MostPopular" in table
    assert "patience 10 for every model" in table
    with pytest.raises(SystemExit, match="settings present: .*patience 10"):
        br.main(["--report"])
    assert (tmp_path / "recommenders_movielens.md").read_text() == table
    # rows of another setting: the page of the patience-10 table is not theirs
    br.Store(tmp_path / "recommenders_movielens.jsonl").append(dict(row, config="package defaults, max_epochs 7"))
    with pytest.raises(SystemExit, match="holds the table of setting 'package defaults, patience 10'"):
        br.main(["--report", "--epochs", "7"])
    with pytest.raises(SystemExit, match="pass --page"):   # refused before any training
        br.main(["--rows", "mostpop", "--epochs", "7"])
    assert (tmp_path / "recommenders_movielens.md").read_text() == table
    br.main(["--report", "--epochs", "7", "--page", "recommenders_movielens_cap7"])
    cap7 = (tmp_path / "recommenders_movielens_cap7.md").read_text()
    assert "--epochs 7 --page recommenders_movielens_cap7 --seeds" in cap7 and "epoch cap 7" in cap7


def test_curves_benchmark_reads_best_so_far_at_equal_epochs_and_seconds(monkeypatch, tmp_path):
    """``bench_curves``: cells are the best validation NDCG so far; a finished fit keeps its
    final best after it stopped, a fit in progress leaves the cells it has not reached empty;
    training seconds are the summed per-epoch ``dur``."""
    import bench_curves as bc

    def hist(vals, dur):
        return [{"epoch": i + 1, "dur": dur, "valid_ndcg": v} for i, v in enumerate(vals)]

    fits = {("intrr:adcsid", 0): (*bc.curve(hist([.01, .03, .02], 100.0)), "finished"),
            ("intrr:adcsid", 1): (*bc.curve(hist([.02, .04, .05, .05, .04], 100.0)), "finished"),
            ("tiger:adcsid", 0): (*bc.curve(hist([.02, .025], 400.0)), "in progress")}
    ep, sec, best, _ = fits["intrr:adcsid", 0]
    assert list(best) == [.01, .03, .03] and list(sec) == [100.0, 200.0, 300.0]
    by_epoch, by_time, summary = bc.tables(fits, ["intrr:adcsid", "tiger:adcsid"], [0, 1])
    assert by_epoch[0]["1"] == "0.0150 ± 0.0071" and by_epoch[0]["5"] == "0.0400 ± 0.0141"
    assert by_epoch[1]["2"] == "0.0250" and by_epoch[1]["5"] == ""      # TIGER still training
    assert by_time[1]["1 min"] == "" and by_time[1]["10 min"] == "0.0200"   # 1st epoch ends at 400 s
    assert [(s["seed"], s["at epoch"], s["status"]) for s in summary] == [
        (0, 2, "finished"), (1, 3, "finished"), (0, 2, "in progress")]
    with pytest.raises(ValueError, match="no validation"):
        bc.curve([{"epoch": 1, "dur": 1.0}])
    # end to end on a checkpoint left by a fit in progress
    monkeypatch.setenv("SKSID_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(bc, "RESULTS", tmp_path)
    folder = bc.checkpoint_path({"dataset": "movielens"}, "tiger:rqvae", 0)
    (folder / "epoch-00002").mkdir(parents=True)
    (folder / "latest").write_text("epoch-00002\n")
    (folder / "epoch-00002" / "history.json").write_text(json.dumps(hist([.01, .02], 50.0)))
    bc.main(["--rows", "tiger:rqvae,intrr:rqvae", "--seeds", "0"])
    page = (tmp_path / "curves_movielens.md").read_text()
    assert "| TIGER | RQ-VAE | 0 | in progress | 2 | 100 |" in page and "IntRR" not in page
    assert (tmp_path / "curves_movielens.png").exists()
    with pytest.raises(SystemExit, match="no training history"):
        bc.main(["--rows", "intrr:opq", "--seeds", "0"])


def test_uid_mix_diagnostic_at_mu_1_is_what_predict_ranks_by():
    """diagnose_uid_mix's ``SID + 1·UID`` column is IntRR's exact-decoding score: its NDCG@10
    equals that of ``predict`` (decoding="exact") on the same histories."""
    import numpy as np

    import diagnose_uid_mix as dm
    from sksid import IntRRRecommender
    from sksid.metrics import ndcg_at_k

    rng = np.random.RandomState(0)
    X = [rng.randint(0, 40, size=rng.randint(2, 9)) for _ in range(120)]
    y = rng.randint(0, 40, size=120)
    codes = np.stack([np.arange(40) % 5, np.arange(40) // 5 % 4, np.arange(40) // 20], 1)
    rec = IntRRRecommender(d_model=16, n_layers=1, n_heads=2, head_dim=8, d_ff=32, max_epochs=3,
                           decoding="exact", device="cpu", random_state=0).fit(X, y, codes=codes)
    res = dm.score_variants(rec, X, y, batch=50)  # batches of unequal size are averaged per user
    assert set(res) == {"SID levels only", "UID head only", "SID + 0.5·UID", "SID + 1·UID",
                        "SID + 2·UID", "SID + 4·UID"}
    assert res["SID + 1·UID"] == pytest.approx(ndcg_at_k(y, rec.predict(X), 10), abs=1e-9)
    with pytest.raises(ValueError, match="no UID head"):
        dm.score_variants(rec.set_params(uid_weight=0).fit(X, y, codes=codes), X, y)


def test_recommender_benchmark_labels_rows_of_the_earlier_token():
    """Rows fitted before ``uid_in_token`` became True carry the setting in their name and label."""
    import bench_recommenders as br

    assert br.parse_row("intrr:adcsid:uid_in_token=false+beam") == ("intrr", "adcsid", "uid_in_token=false")
    assert br.row_label("intrr:adcsid:uid_in_token=false")[0] == \
        "IntRR, uid_in_token=False (the default before 2026-12-06)"


def test_recommender_benchmark_behaviour_model_settings_keep_their_own_cache(monkeypatch, tmp_path):
    """``--behaviour SETTINGS`` fits the SASRec the tokenizers quantise with those settings, in
    its own cache folder and setting, reusing the table's fitted ``sasrec:SETTINGS`` row."""
    from types import SimpleNamespace

    import numpy as np

    import bench_recommenders as br

    monkeypatch.setenv("SKSID_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(br, "RESULTS", tmp_path)
    bench = tmp_path / "cache" / "bench" / "movielens"
    assert br.budget_tag({"patience": 10, "behaviour": "dropout=0.5:init_std=0.02"}) == \
        "patience10-behaviour-dropout=0.5_init_std=0.02"
    assert br.behaviour_settings({"behaviour": "norm_first=false:dropout=0.5"}) == {"norm_first": False, "dropout": 0.5}
    # a sitting's tag: its own setting, cache folder and command line
    tagged = {"max_epochs": None, "patience": None, "behaviour": "dropout=0.5", "tag": "2026-12-07"}
    assert br.config_string(None, None, "dropout=0.5", "2026-12-07") == \
        "package defaults, behaviour SASRec dropout=0.5, sitting 2026-12-07"
    assert br.budget_tag(tagged) == "behaviour-dropout=0.5-sitting-2026-12-07"
    assert br.budget_flags(tagged) == " --behaviour dropout=0.5 --tag 2026-12-07"
    with pytest.raises(SystemExit, match="--tag"):
        br.main(["--rows", "sasrec", "--tag", "a/b", "--page", "x"])
    rng = np.random.default_rng(0)
    seqs = [list(rng.choice(60, size=6, replace=False)) for _ in range(16)]
    monkeypatch.setattr(br, "load_dataset", lambda name: SimpleNamespace(sequences=seqs, n_items=60))
    br.main(["--rows", "sasrec:norm_first=false:dropout=0.5", "--seeds", "0", "--epochs", "1", "--threads", "1"])
    br.main(["--rows", "sasrec", "--seeds", "0", "--epochs", "1", "--threads", "1",
             "--behaviour", "norm_first=false:dropout=0.5", "--page", "behaviour"])
    sas = br.joblib.load(bench / "epochs1-behaviour-norm_first=false_dropout=0.5" / "seed0" / "sasrec.joblib")
    row = br.joblib.load(bench / "epochs1" / "seed0" / "model_sasrec_norm_first=false_dropout=0.5.joblib")
    assert (sas.norm_first, sas.dropout) == (False, 0.5)
    np.testing.assert_array_equal(sas.item_embeddings_, row.item_embeddings_)  # reused, not refitted
    assert not (bench / "epochs1" / "seed0" / "sasrec.joblib").exists()
    # the JSON spelling of the same settings is the same table setting and cache (row already there)
    br.main(["--rows", "sasrec", "--seeds", "0", "--epochs", "1", "--threads", "1",
             "--behaviour", '{"norm_first": false, "dropout": 0.5}', "--page", "behaviour"])
    lines = (tmp_path / "recommenders_movielens.jsonl").read_text().splitlines()
    assert len(lines) == 2
    configs = {json.loads(line)["config"] for line in lines}
    assert configs == {"package defaults, max_epochs 1",
                       "package defaults, max_epochs 1, behaviour SASRec norm_first=false:dropout=0.5"}
    with pytest.raises(SystemExit, match="not a setting"):
        br.main(["--rows", "sasrec", "--behaviour", "nope", "--page", "x"])


class _StubTokenizer:
    """Records the behaviour estimator the options benchmark hands the tokenizer."""

    def __init__(self, random_state=None, behavior_estimator=None):
        self.random_state = random_state
        self.behavior_estimator = behavior_estimator

    def fit(self, *args, **kwargs):
        return self


def test_settings_read_the_same_in_either_spelling():
    """Both benchmarks read estimator settings as ``name=value:...`` or as a JSON object."""
    from _common import parse_settings, settings_string

    want = {"norm_first": False, "init_std": 0.02, "dropout": 0.5, "code_order": "entropy"}
    assert parse_settings("norm_first=false:init_std=0.02:dropout=0.5:code_order=entropy") == want
    assert parse_settings(json.dumps(want)) == want
    assert parse_settings("") == {} and parse_settings(None) == {}
    assert settings_string(want) == "norm_first=false:init_std=0.02:dropout=0.5:code_order=entropy"
    assert parse_settings(settings_string(want)) == want
    with pytest.raises(SystemExit, match="not a setting"):
        parse_settings("norm_first=false:dropout")
    with pytest.raises(SystemExit, match="not a valid JSON object"):
        parse_settings('{"dropout": 0.5')


def test_options_benchmark_behaviour_settings(tmp_path, monkeypatch):
    """``--behaviour``: the tokenizer's SASRec gets the settings and the seed, in its own cache
    file; the report shows the setting beside the row."""
    from types import SimpleNamespace

    import bench_intrr_options as bo

    assert bo.behaviour_tag({"norm_first": False, "dropout": 0.5}) == "dropout=0.5_norm_first=False"
    assert bo.behaviour_tag(None) == ""
    monkeypatch.setattr(bo, "cache_root", lambda: tmp_path)
    monkeypatch.setattr(bo, "ADCSIDTokenizer", _StubTokenizer)
    monkeypatch.setattr(bo, "item_features", lambda data: None)
    split = SimpleNamespace(X_train=[], y_train=[])
    tok = bo.tokenizer(None, split, 3, {"norm_first": False, "dropout": 0.5})
    est = tok.behavior_estimator
    assert (est.norm_first, est.dropout, est.random_state) == (False, 0.5, 3)
    assert (tmp_path / "options" / "movielens_tok_seed3_dropout=0.5_norm_first=False.joblib").exists()
    assert bo.tokenizer(None, split, 3).behavior_estimator is None  # the default pipeline's, its own file
    assert (tmp_path / "options" / "movielens_tok_seed3.joblib").exists()

    store = tmp_path / "options.jsonl"
    row = {"name": "b", "model": "IntRR", "params": {}, "seed": 0, "ndcg@10": 0.06, "recall@10": 0.12,
           "ndcg@10/head": 0.08, "ndcg@10/tail": 0.0, "epochs": 3, "fit_s": 1.0, "machine": "m"}
    store.write_text(json.dumps({**row, "behaviour": {"norm_first": False}}) + "\n" + json.dumps(row) + "\n")
    monkeypatch.setattr(bo, "STORE", store)
    lines = [ln for ln in bo.report().splitlines() if ln.startswith("| b |")]
    assert '{"norm_first": false}' in lines[0] and '{"norm_first": false}' not in lines[1]

    # a behaviour SASRec was fitted inside the cached tokenizer: its fit seconds come from
    # its history; a row that recorded none shows a blank cell, not 0
    fitted = SimpleNamespace(history_=[{"dur": 1.5}, {"dur": 2.25}, {}])
    assert bo.epoch_seconds(fitted) == 3.75
    store.write_text(json.dumps({**row, "model": "SASRec (behaviour)", "fit_s": None}) + "\n")
    assert [ln for ln in bo.report().splitlines() if ln.startswith("| b |")][0].endswith("| 3 |  |")


def test_cold_benchmark_runs_every_row_at_a_tiny_size(monkeypatch, tmp_path):
    from functools import partial

    import numpy as np

    import bench_cold as bc
    import sksid.features

    monkeypatch.setenv("SKSID_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.RandomState(0)
    monkeypatch.setattr(sksid.features, "item_features", lambda data, **kw: {
        "text": rng.randn(data.n_items, 8).astype(np.float32),
        "category": rng.rand(data.n_items, 4).astype(np.float32)})
    tiny = dict(d_model=16, n_layers=1, n_heads=2, d_ff=32, max_epochs=1)
    monkeypatch.setattr(bc, "SASRecRecommender", partial(bc.SASRecRecommender, **tiny))
    monkeypatch.setattr(bc, "IntRRRecommender", partial(bc.IntRRRecommender, **dict(tiny, head_dim=8)))
    monkeypatch.setattr(bc, "ADCSIDTokenizer", partial(bc.ADCSIDTokenizer, codebook_size=16, hidden_dim=16,
                                                       latent_dim=8, max_epochs=1))
    bc.main(["--seeds", "0", "--max-users", "80", "--intrr-epochs", "1", "--results", str(tmp_path),
             "--models", "mostpop,sasrec,contentknn,adcsid"])
    rows = [json.loads(line) for line in (tmp_path / "cold_movielens.jsonl").read_text().splitlines()]
    assert {r["row"] for r in rows} == {"mostpop", "sasrec", "contentknn", *(
        f"adcsid+intrr:{m}" for m in bc.COLD_UID)}
    for r in rows:
        assert r["n_users"] == r["n_users/warm"] + r["n_users/cold"] and "ndcg@10/cold" in r
    assert {r["ndcg@10/cold"] for r in rows if r["row"] in ("mostpop", "sasrec")} == {0.0}
    # one fit, scored three ways
    assert len({r["fit_s"] for r in rows if r["row"].startswith("adcsid+intrr")}) == 1
    page = (tmp_path / "cold_movielens.md").read_text()
    assert "--max-users 80" in page and "## Reading" in page and "ContentKNN's" in page
    assert (tmp_path / "cache" / "bench" / "cold_movielens_smoke80" / "seed0" / "codes_adcsid.npz").exists()
    with pytest.raises(SystemExit, match="unknown model"):
        bc.main(["--models", "bert4rec", "--results", str(tmp_path)])


def test_scale_benchmark_runs_at_a_tiny_size_and_skips_what_would_not_fit(monkeypatch, tmp_path):
    import bench_scale as bs

    monkeypatch.setattr(bs, "RESULTS", tmp_path)
    monkeypatch.setattr(bs, "write_result", lambda name, text: (tmp_path / name).write_text(text) or tmp_path / name)
    argv = ["--items", "600,1200", "--models", "sasrec-ce,sasrec-ss,intrr-sid,tiger,rpg", "--batch", "16",
            "--steps", "1", "--users", "8", "--max-logits-gib", "0.0025", "--page", "scale_tiny"]
    bs.main(argv)
    rows = [json.loads(line) for line in (tmp_path / "scale_tiny.jsonl").read_text().splitlines()]
    assert {(r["model"], r["items"]) for r in rows} == {(m, n) for m in ("sasrec-ce", "sasrec-ss", "intrr-sid", "tiger", "rpg")
                                                        for n in (600, 1200)}
    ce = {r["items"]: r for r in rows if r["model"] == "sasrec-ce"}
    assert "not run" not in ce[600] and "GiB" in ce[1200]["not run"]  # 2·16·20·1200·4 B > 0.0025 GiB
    page = (tmp_path / "scale_tiny.md").read_text()
    assert "Crossover" in page and (tmp_path / "scale_tiny.png").exists()
    bs.main(argv)  # a rerun measures nothing new
    assert len((tmp_path / "scale_tiny.jsonl").read_text().splitlines()) == len(rows)
