"""Every notebook in notebooks/ runs top to bottom (small settings)."""
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("matplotlib")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("SKSID_NOTEBOOK_SMALL", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel uses the inline backend
    # the kernel inherits this: one torch thread, as the rest of the suite (conftest.py)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    images = sum("image/png" in out.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
                 for out in cell.get("outputs", []))
    assert images >= 3, "the notebook should show its plots"


def test_notebooks_match_their_build_script():
    """The committed notebooks hold the cells notebooks/build_notebooks.py writes (their
    stored outputs may be older, but the code a reader sees is the code the script runs)."""
    import importlib.util
    script = NOTEBOOKS[0].parent / "build_notebooks.py"
    spec = importlib.util.spec_from_file_location("build_notebooks", script)
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert sorted(build.NOTEBOOKS) == sorted(p.stem for p in NOTEBOOKS)
    for path in NOTEBOOKS:
        cells = nbformat.read(path, as_version=4).cells
        expected = build.notebook(path.stem).cells
        assert len(cells) == len(expected), path.name
        for i, (cell, want) in enumerate(zip(cells, expected)):
            assert (cell.cell_type, cell.source) == (want.cell_type, want.source), \
                f"{path.name} cell {i} differs from build_notebooks.py"
