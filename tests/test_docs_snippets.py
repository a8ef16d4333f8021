"""Every Python block of README.md and docs/*.md runs as written (issue 9).

The blocks of one file run in order, in one namespace (later blocks use earlier names), in
a fresh process inside a temporary directory, on the bundled MovieLens-100k. Training is
cut short by the documented switch ``SKSID_MAX_EPOCHS=1`` (every estimator's epoch cap):
the code is the same code a reader runs, only shorter, so the printed numbers are not
results.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks(path):
    return BLOCK.findall(path.read_text())


DOCS = [p for p in FILES if blocks(p)]


def test_the_docs_have_python_blocks():
    assert {p.name for p in DOCS} >= {"README.md", "recommenders.md", "tokenizers.md",
                                     "persistence.md", "ranking.md"}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One text-embedding cache for every file (the titles are embedded once)."""
    return tmp_path_factory.mktemp("sksid-cache")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_python_blocks_run_as_written(path, tmp_path, cache_dir):
    code = "\n\n".join(blocks(path))
    env = dict(os.environ, SKSID_MAX_EPOCHS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               SKSID_CACHE_DIR=str(cache_dir), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=1200)
    assert proc.returncode == 0, f"{path.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
