"""One training flow for every torch estimator (sksid.training): the same options, the same
checkpoint -> resume in a fresh process (with a user callback), early stopping and time budget
for the recommenders, the tokenizers and the ranker."""
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from skorch.callbacks import GradientNormClipping

import sksid
from sksid import (ADCSIDTokenizer, IntRRRecommender, RPGRecommender, RQVAETokenizer, SASRecRecommender,
                   SIDRanker, TIGERRecommender)
from sksid.training import TrainingMixin

#: the flow's options: every torch estimator has them, documented
FLOW_OPTIONS = ("max_epochs", "patience", "callbacks", "checkpoint_dir", "lr_schedule", "ema_decay",
                "max_time", "device", "compile", "random_state", "verbose", "weight_decay", "lr", "batch_size")

# one module for the parent test and the fresh processes: the estimators, data and fits
SCRIPT = textwrap.dedent('''
    import hashlib, json, sys
    import numpy as np
    import pandas as pd
    import torch
    from skorch.callbacks import GradientNormClipping
    from sksid import (ADCSIDTokenizer, IntRRRecommender, RPGRecommender, RQVAETokenizer, SASRecRecommender,
                       SIDRanker, TIGERRecommender)

    torch.set_num_threads(1)
    N = 40
    rng = np.random.RandomState(0)
    X = [rng.randint(0, N, size=rng.randint(2, 10)) for _ in range(120)]
    y = rng.randint(0, N, size=120)
    CODES = rng.randint(0, 4, size=(N, 2))
    FEATS = {"text": rng.randn(N, 6).astype(np.float32), "collab": rng.randn(N, 4).astype(np.float32)}
    FRAME = pd.DataFrame({"user_id": rng.randint(0, 20, 300), "item_id": rng.randint(0, N, 300),
                          "timestamp": np.arange(300)})
    LABELS = (rng.rand(300) > 0.5).astype(int)
    SEQ = dict(max_len=6, batch_size=32, device="cpu", random_state=0, validation_fraction=0.3)
    SID = dict(SEQ, d_model=8, n_layers=1, n_heads=2, head_dim=4, d_ff=16, top_k=5, beam_width=5)


    def make(name, **kw):
        """Estimator ``name`` with the flow's options ``kw``, and its fit arguments."""
        cb = [("clip", GradientNormClipping(gradient_clip_value=5.0))]
        if name == "sasrec":
            return SASRecRecommender(d_model=8, n_layers=1, n_heads=2, d_ff=16, n_items=N, callbacks=cb,
                                     **SEQ, **kw), (X, y), {}
        if name == "intrr":
            return IntRRRecommender(callbacks=cb, **SID, **kw), (X, y), {"codes": CODES}
        if name == "tiger":
            return TIGERRecommender(callbacks=cb, **SID, **kw), (X, y), {"codes": CODES}
        if name == "rpg":
            return RPGRecommender(d_model=8, n_layers=1, n_heads=2, d_ff=16, top_k=5, callbacks=cb, **SEQ, **kw), \
                (X, y), {"codes": CODES}
        if name == "adcsid":
            return ADCSIDTokenizer(codebook_size=4, hidden_dim=8, latent_dim=4, batch_size=16, device="cpu",
                                   random_state=0, callbacks=cb, **kw), (FEATS,), {}
        if name == "rqvae":
            return RQVAETokenizer(codebook_size=4, n_levels=2, hidden_dim=8, latent_dim=4, batch_size=16,
                                  device="cpu", random_state=0, callbacks=cb, **kw), (FEATS["text"],), {}
        if name == "ranker":
            return SIDRanker(hidden_dims=(8,), embedding_dim=4, batch_size=50, device="cpu", random_state=0,
                             callbacks=cb, **kw), (FRAME, LABELS), {"codes": CODES}
        raise KeyError(name)


    NAMES = ("sasrec", "intrr", "tiger", "rpg", "adcsid", "rqvae", "ranker")


    def digest(est):
        state = est.net_.module_.state_dict()
        flat = np.concatenate([state[k].detach().float().numpy().ravel() for k in sorted(state)])
        return hashlib.sha256(flat.tobytes()).hexdigest(), len(est.history_)


    if __name__ == "__main__":
        phase, root = sys.argv[1], sys.argv[2]
        out = {}
        for name in NAMES:
            epochs = 1 if phase == "part" else 3
            est, args, kw = make(name, max_epochs=epochs, checkpoint_dir=f"{root}/{name}")
            est.fit(*args, **kw, resume=(phase == "resume"))
            out[name] = digest(est)
        json.dump(out, open(f"{root}/{phase}.json", "w"))
''')


def _torch_estimators():
    return [c for c in (SASRecRecommender, IntRRRecommender, TIGERRecommender, RPGRecommender,
                        ADCSIDTokenizer, RQVAETokenizer, SIDRanker)]


@pytest.mark.parametrize("cls", _torch_estimators(), ids=lambda c: c.__name__)
def test_every_torch_estimator_has_the_flows_options_documented(cls):
    assert issubclass(cls, TrainingMixin)
    params = inspect.signature(cls).parameters
    missing = [o for o in FLOW_OPTIONS if o not in params]
    assert not missing, f"{cls.__name__} lacks {missing}"
    for option in FLOW_OPTIONS:
        assert re.search(rf"^    {option} : ", cls.__doc__, re.M), f"{cls.__name__}: {option} undocumented"
    assert "resume" in inspect.signature(cls.fit).parameters
    # one documented meaning: the shared entries are word for word the same everywhere
    for option in ("max_time", "ema_decay", "checkpoint_dir", "callbacks", "verbose", "device"):
        entry = re.search(rf"^    {option} : .*\n(?:        .*\n)+", cls.__doc__, re.M).group(0)
        ref = re.search(rf"^    {option} : .*\n(?:        .*\n)+", SASRecRecommender.__doc__, re.M).group(0)
        assert entry.startswith(ref), f"{cls.__name__}: {option} documented differently"


def _run(phase, root):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, str(root / "flow.py"), phase, str(root)], capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((root / f"{phase}.json").read_text())


def test_checkpoint_then_resume_in_a_fresh_process_equals_an_uninterrupted_fit(tmp_path):
    """Every torch estimator: one epoch, the process ends; a new process resumes to three epochs
    with a user callback (whose checkpoint fingerprint must not depend on the process) and ends
    where an uninterrupted three-epoch fit ends, bit for bit."""
    (tmp_path / "flow.py").write_text(SCRIPT)
    full_root, part_root = tmp_path / "full", tmp_path / "part"
    full_root.mkdir()
    part_root.mkdir()
    (full_root / "flow.py").write_text(SCRIPT)
    (part_root / "flow.py").write_text(SCRIPT)
    full = _run("full", full_root)
    part = _run("part", part_root)
    resumed = _run("resume", part_root)
    for name, (digest, epochs) in full.items():
        assert part[name][1] == 1
        assert resumed[name] == [digest, epochs], name
        assert epochs == 3


@pytest.fixture(scope="module")
def flow_module(tmp_path_factory):
    import importlib.util
    path = tmp_path_factory.mktemp("flow") / "flow_module.py"
    path.write_text(SCRIPT)
    spec = importlib.util.spec_from_file_location("sksid_flow_module", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", ("sasrec", "intrr", "tiger", "rpg", "adcsid", "rqvae", "ranker"))
def test_early_stopping_ends_at_patience_after_the_best_epoch_and_restores_it(flow_module, name):
    est, args, kw = flow_module.make(name, max_epochs=40, patience=2, lr=0.05)
    est.fit(*args, **kw)
    key = {"adcsid": "train_loss", "rqvae": "train_loss", "ranker": "valid_auc"}.get(name, "valid_ndcg")
    scores = np.array([row[key] for row in est.history_])
    best = int(np.argmin(scores) if key == "train_loss" else np.argmax(scores))
    assert len(scores) < 40, f"{name} did not stop early: {scores}"
    assert len(scores) - 1 - best == 2, (name, scores)


@pytest.mark.parametrize("name", ("sasrec", "intrr", "tiger", "rpg", "adcsid", "rqvae", "ranker"))
def test_max_time_ends_every_fit_after_its_first_epoch(flow_module, name):
    est, args, kw = flow_module.make(name, max_epochs=20, max_time=1e-6)
    est.fit(*args, **kw)
    assert est.n_epochs_ == 1


@pytest.mark.parametrize("name", ("adcsid", "ranker"))
def test_plateau_schedule_and_weight_averaging_run_for_tokenizers_and_ranker(flow_module, name):
    est, args, kw = flow_module.make(name, max_epochs=6, lr_schedule="plateau", ema_decay=0.9)
    est.fit(*args, **kw)
    lrs = [row["lr"] for row in est.history_]
    assert len(lrs) == est.n_epochs_ and all(lr <= est.lr for lr in lrs)


def test_resume_without_checkpoint_dir_and_for_untrained_tokenizers_is_refused(flow_module):
    est, args, kw = flow_module.make("adcsid", max_epochs=1)
    with pytest.raises(ValueError, match="needs checkpoint_dir"):
        est.fit(*args, **kw, resume=True)
    with pytest.raises(ValueError, match="no checkpoints to resume"):
        sksid.RQKMeansTokenizer(codebook_size=4, n_levels=2)._fit(flow_module.FEATS, None, None, resume=True)


def test_callbacks_parameter_survives_a_fit_unchanged(flow_module):
    est, args, kw = flow_module.make("rqvae", max_epochs=1)
    before = est.callbacks[0][1]
    est.fit(*args, **kw)
    assert est.callbacks[0][1] is before and not hasattr(before, "initialized_")
    assert isinstance(before, GradientNormClipping)


@pytest.mark.parametrize("name", ("sasrec", "adcsid"))
def test_a_verbose_fit_names_the_model_before_its_epoch_table(flow_module, name, capsys):
    """In a pipeline three models train one after another (SASRec, the tokenizer, IntRR):
    each epoch table is preceded by a line that says which."""
    est, args, kw = flow_module.make(name, max_epochs=1, verbose=1)
    est.fit(*args, **kw)
    out = capsys.readouterr().out
    header = out.index(f"{type(est).__name__}: training")
    assert header < out.index("train_loss")
