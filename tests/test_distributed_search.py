"""GridSearchCV over a tokenizer + recommender Pipeline through joblib's Dask backend on a
2-worker LocalCluster gives the same search as a sequential run (issue: past one machine)."""
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

distributed = pytest.importorskip("distributed")

from joblib import parallel_config  # noqa: E402

from sksid import ADCSIDTokenizer, IntRRRecommender, SASRecRecommender  # noqa: E402
from sksid.feature_store import FeatureStore  # noqa: E402
from sksid.model_selection import leave_last_out  # noqa: E402


def _pipeline():
    beh = SASRecRecommender(d_model=8, n_layers=1, n_heads=1, d_ff=16, max_epochs=1, device="cpu", random_state=0)
    tok = ADCSIDTokenizer(codebook_size=4, hidden_dim=8, latent_dim=4, max_epochs=2, device="cpu",
                          random_state=0, behavior_estimator=beh)
    rec = IntRRRecommender(d_model=8, n_layers=1, n_heads=2, head_dim=4, d_ff=16, max_epochs=2,
                           validation_fraction=0.0, device="cpu", random_state=0)
    return Pipeline([("tok", tok), ("rec", rec)])


GRID = {"rec__alignment_weight": [0.0, 0.1], "tok__codebook_size": [4, 5]}


def _search_data(tmp_path):
    """Histories, their search split, on-disk item features and the sequential search."""
    rng = np.random.RandomState(0)
    n_items = 40
    seqs = [rng.randint(0, n_items, size=rng.randint(4, 12)) for _ in range(80)]
    split = leave_last_out(seqs, max_len=10, n_items=n_items)
    X, y, cv = split.search_data()
    # the item features live on disk: every task gets the folder path, not the arrays
    feats = FeatureStore.save(tmp_path / "features", {"text": rng.randn(n_items, 6).astype(np.float32)})
    ref = GridSearchCV(_pipeline(), GRID, cv=cv, n_jobs=1).fit(X, y, tok__item_features=feats)
    return split, X, y, cv, feats, ref


def _assert_same_search(gs, ref, split):
    np.testing.assert_allclose(gs.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"],
                               rtol=1e-6, atol=1e-9)
    assert gs.best_params_ == ref.best_params_
    np.testing.assert_array_equal(gs.predict(split.X_test), ref.predict(split.X_test))


def test_grid_search_on_a_local_dask_cluster_equals_sequential(tmp_path):
    split, X, y, cv, feats, ref = _search_data(tmp_path)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        with parallel_config(backend="dask"), distributed.get_task_stream(client) as stream:
            gs = GridSearchCV(_pipeline(), GRID, cv=cv, n_jobs=2).fit(X, y, tok__item_features=feats)
    workers = {t["worker"] for t in stream.data}
    assert len(stream.data) >= 1 and len(workers) == 2  # the candidates ran on both workers
    assert np.ptp(ref.cv_results_["mean_test_score"]) > 0 or ref.cv_results_["mean_test_score"].min() > 0
    _assert_same_search(gs, ref, split)


@pytest.mark.slow
def test_grid_search_on_a_local_ray_cluster_equals_sequential(tmp_path):
    """The same search through joblib's Ray backend (``ray.util.joblib``) on a local
    2-CPU Ray instance. Ray is an optional extra (``pip install ray``), not in the test
    extra: its wheel and start-up are heavy for CI's 2 cores, so this test is ``slow``."""
    ray = pytest.importorskip("ray")
    from ray.util.joblib import register_ray

    split, X, y, cv, feats, ref = _search_data(tmp_path)
    register_ray()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    try:
        with parallel_config(backend="ray"):
            gs = GridSearchCV(_pipeline(), GRID, cv=cv, n_jobs=2).fit(X, y, tok__item_features=feats)
    finally:
        ray.shutdown()
    _assert_same_search(gs, ref, split)
