"""The ``sksid`` command line (console entry point ``sksid = sksid.cli:main``)."""
import shutil
import subprocess
import sys

import pytest

from sksid.cli import find_benchmarks, main


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "quickstart" in out and "benchmark" in out
    assert "``" not in out  # reStructuredText markers are for the docs site, not the terminal


def test_version(capsys):
    import sksid
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == sksid.__version__


def test_benchmark_list_names_every_script(capsys):
    assert main(["benchmark", "--list"]) == 0
    out = capsys.readouterr().out
    names = {line.split()[0] for line in out.splitlines() if line.strip()}
    expected = {p.stem[len("bench_"):] for p in find_benchmarks().glob("bench_*.py")}
    assert expected <= names and "recommenders" in names
    assert "Recommenders side by side" in out  # each with its docstring's first line
    assert "``" not in out and "issue" not in out  # what each measures, not where it came from


def test_benchmark_passes_its_arguments_to_the_script(capsys):
    # --help after NAME is the script's own help, not the wrapper's
    assert main(["benchmark", "recommenders", "--help"]) == 0
    out = capsys.readouterr().out
    assert "bench_recommenders.py" in out and "--seeds" in out


def test_benchmark_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["benchmark", "no-such-benchmark"])
    assert exc.value.code == 2
    assert "unknown benchmark 'no-such-benchmark'" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="--repo"):
        find_benchmarks(tmp_path)


def test_quickstart_help(capsys):
    assert main(["quickstart", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--quick" in out and "--seed" in out


def test_console_script_is_installed():
    exe = shutil.which("sksid")
    if exe is None:  # the package was put on sys.path without pip install
        pytest.skip("no sksid console script on PATH")
    res = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "quickstart" in res.stdout
    res = subprocess.run([sys.executable, "-m", "sksid.cli", "benchmark", "--list"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "recommenders" in res.stdout


def test_quickstart_on_a_csv_with_string_ids(ml100k, tmp_path, monkeypatch, capsys):
    """The main job on a user's CSV: string ids, a text and a category column (epoch cap 1)."""
    import pandas as pd

    rows = ml100k.interactions
    rows = rows[rows["user_id"] < 120]
    items = rows["item_id"].to_numpy()
    df = pd.DataFrame({"who": "u" + ml100k.raw_user_ids[rows["user_id"]].astype(str),
                       "what": "m" + ml100k.raw_item_ids[items].astype(str),
                       "when": rows["timestamp"].to_numpy(),
                       "title": [ml100k.item_text[i] for i in items],
                       "genres": ["|".join(ml100k.item_categories[i]) for i in items]})
    path = tmp_path / "interactions.csv"
    df.to_csv(path, index=False)
    monkeypatch.setenv("SKSID_MAX_EPOCHS", "1")
    monkeypatch.setenv("SKSID_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["quickstart", "--data", str(path), "--user-col", "who", "--item-col", "what",
            "--time-col", "when", "--text-col", "title", "--category-col", "genres",
            "--quick", "--quiet", "--device", "cpu"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "interactions: 120 users" in out and "ADC-SID + IntRR (pipeline)" in out
    assert "'text'" in out and "'category'" in out
    line = next(ln for ln in out.splitlines() if "-> recommended" in ln)
    assert "'u" in line and "'m" in line  # the user and the items in raw ids


def test_quickstart_csv_errors_say_what_to_pass(tmp_path, capsys):
    import pandas as pd

    path = tmp_path / "log.csv"
    pd.DataFrame({"user": ["a"], "item": ["x"]}).to_csv(path, index=False)
    assert main(["quickstart", "--data", str(path)]) == 2
    err = capsys.readouterr().err
    assert "no 'user_id' column" in err and "pass user_col=" in err
    assert main(["quickstart", "--data", str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv" in capsys.readouterr().err
