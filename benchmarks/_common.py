"""Helpers shared by the benchmark scripts: data loading, timing, markdown tables."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"


def cache_root() -> Path:
    """Root of the benchmarks' caches: ``$SKSID_CACHE_DIR``, default ``~/.cache/sksid``."""
    return Path(os.environ.get("SKSID_CACHE_DIR", Path.home() / ".cache" / "sksid")).expanduser()


def amazon_path():
    """Amazon Beauty folder: ``$SKSID_AMAZON_BEAUTY`` (None when unset or missing)."""
    env = os.environ.get("SKSID_AMAZON_BEAUTY")
    return Path(env) if env and Path(env).exists() else None


def load_dataset(name: str):
    from sksid.datasets import load_amazon, load_movielens_100k

    if name == "movielens":
        return load_movielens_100k()
    if name == "amazon":
        path = amazon_path()
        if path is None:
            raise SystemExit("Amazon Beauty not found: set SKSID_AMAZON_BEAUTY to its folder")
        return load_amazon(path)
    raise SystemExit(f"unknown dataset {name!r}")


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0


def stage(msg: str) -> None:
    """One timestamped progress line, flushed (long benchmark steps are otherwise silent)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Store:
    """A benchmark's results file (one JSON row per line), read afresh at every access:
    rows that another benchmark process appended meanwhile (two rows run side by side on
    the two cores) are in the table this process writes."""

    def __init__(self, path):
        self.path = path

    @property
    def rows(self):
        if not self.path.exists():
            return []
        return [json.loads(l) for l in self.path.read_text().splitlines() if l.strip()]

    def find(self, row, seed, config):
        """The last row named ``row`` for ``seed`` under ``config`` (bench_recommenders' keys), or None."""
        hits = [r for r in self.rows if r["row"] == row and r["seed"] == seed and r["config"] == config]
        return hits[-1] if hits else None

    def append(self, res):
        with self.path.open("a") as f:
            f.write(json.dumps(res) + "\n")


def machine_line() -> str:
    import torch

    dev = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU only"
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
            f"{dev}")


def markdown_table(rows: list[dict], floatfmt: str = ".4f") -> str:
    if not rows:
        return ""
    cols = list(rows[0])
    for r in rows[1:]:
        cols += [c for c in r if c not in cols]
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "")
            if isinstance(v, (float, np.floating)):
                cells.append(format(v, floatfmt))
            else:
                cells.append(str(v))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def write_result(name: str, text: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(text)
    return path


def is_setting(text: str) -> bool:
    """``"dropout=0.3"``: one estimator parameter set to a JSON value (or a bare string)."""
    name, eq, _ = text.partition("=")
    return bool(eq) and name.isidentifier()


def parse_setting(text: str):
    """``"dropout=0.3"`` -> ``("dropout", 0.3)``; a value that is not JSON stays a string
    (``"code_order=entropy"`` -> ``("code_order", "entropy")``)."""
    name, _, value = text.partition("=")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def parse_settings(text) -> dict:
    """Estimator settings in either spelling the benchmarks accept: ``"norm_first=false:dropout=0.5"``
    or the JSON object ``'{"norm_first": false, "dropout": 0.5}'`` -> ``{"norm_first": False,
    "dropout": 0.5}`` (``{}`` for ``""`` or None)."""
    text = (text or "").strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise SystemExit(f"settings {text!r} are not a valid JSON object ({err})") from None
    parts = [p for p in text.split(":") if p]
    bad = [p for p in parts if not is_setting(p)]
    if bad:
        raise SystemExit(f"{bad[0]!r} in {text!r} is not a setting: write 'name=value:name=value' "
                         "or a JSON object")
    return dict(parse_setting(p) for p in parts)


def settings_string(settings: dict) -> str:
    """The ``name=value:...`` spelling of a settings dict, values as JSON except bare strings
    (``{"norm_first": False, "dropout": 0.5}`` -> ``"norm_first=false:dropout=0.5"``); the
    inverse of :func:`parse_settings`."""
    return ":".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in settings.items())


def mean_sd(vals, digits=4):
    """"mean ± sd" over seeds (one value: the value; None/NaN dropped; none: "")."""
    vals = [v for v in vals if v is not None and not (isinstance(v, float) and np.isnan(v))]
    if not vals:
        return ""
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{np.mean(vals):.{digits}f} ± {np.std(vals, ddof=1):.{digits}f}"
