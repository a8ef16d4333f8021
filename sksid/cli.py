"""The ``sksid`` command line: the jobs people run without writing code.

    sksid quickstart [--quick] [--seed 0] ...     the headline pipeline on MovieLens-100k
    sksid quickstart --data interactions.csv --user-col user --item-col item --time-col ts
                                                  the same on your CSV of interactions
    sksid benchmark --list                        the benchmarks of the repository
    sksid benchmark recommenders --dataset amazon --rows intrr:adcsid --seeds 0,1,2

``sksid <command> --help`` explains each option. ``quickstart`` ships with the package;
``benchmark NAME`` runs ``benchmarks/bench_NAME.py`` of a source checkout (the folder
that holds ``benchmarks/`` next to ``sksid/``, or ``--repo PATH``): the benchmarks write
their tables into that checkout's ``docs/results/``, so they are not installed with the
package.
"""
from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

__all__ = ["main", "find_benchmarks"]


def find_benchmarks(repo=None):
    """The ``benchmarks/`` folder of a source checkout: ``repo`` if given, else the folder
    above this package (an editable install or a clone), else the current directory.

    Raises ``FileNotFoundError`` with what to do when none has one."""
    candidates = [Path(repo)] if repo is not None else [Path(__file__).resolve().parents[1], Path.cwd()]
    for root in candidates:
        folder = root / "benchmarks"
        if folder.is_dir() and any(folder.glob("bench_*.py")):
            return folder
    where = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"no benchmarks/ folder with bench_*.py scripts under {where}. The benchmarks live in "
        "the source repository, not in the installed package: run this from a clone "
        "(pip install -e .) or pass --repo PATH_TO_CLONE")


def _scripts(folder):
    """Benchmark name -> script: ``bench_NAME.py`` as NAME, ``gpu_*.py`` by their stem."""
    out = {p.stem[len("bench_"):]: p for p in folder.glob("bench_*.py")}
    out.update({p.stem: p for p in folder.glob("gpu_*.py")})
    return dict(sorted(out.items()))


def _summary(path):
    """First line of a benchmark script's module docstring."""
    import ast
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return _plain(doc.strip().splitlines()[0]) if doc.strip() else ""


def _plain(text):
    """Docstring text as a terminal shows it: without reStructuredText's literal markers."""
    return text.replace("``", "")


def _benchmark(argv):
    ap = argparse.ArgumentParser(
        prog="sksid benchmark",
        description="Run one benchmark script of the repository (benchmarks/bench_NAME.py); "
                    "every argument after NAME goes to the script (sksid benchmark NAME --help "
                    "lists them). Results are appended to docs/results/ of the checkout.")
    ap.add_argument("name", nargs="?", help="benchmark name, e.g. recommenders, tokenizers, pipeline, ranking")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and what each measures")
    ap.add_argument("--repo", default=None, help="source checkout holding benchmarks/ (default: found)")
    # everything after NAME belongs to the script (its own --help included)
    cut = next((i for i, a in enumerate(argv) if not a.startswith("-")
                and (i == 0 or argv[i - 1] != "--repo")), len(argv))
    args = ap.parse_args(argv[:cut + 1])
    rest = argv[cut + 1:]
    try:
        folder = find_benchmarks(args.repo)
    except FileNotFoundError as exc:
        ap.error(str(exc))
    scripts = _scripts(folder)
    if args.list or args.name is None:
        for n, path in scripts.items():
            print(f"{n:<17} {_summary(path)}")
        return 0
    if args.name not in scripts:
        ap.error(f"unknown benchmark {args.name!r}; one of {', '.join(scripts)}")
    script = scripts[args.name]
    old_argv, old_path = sys.argv, list(sys.path)
    sys.argv = [str(script), *rest]
    sys.path.insert(0, str(folder))
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:  # argparse --help / errors inside the script
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv, sys.path[:] = old_argv, old_path
    return 0


def main(argv=None):
    """Entry point of the ``sksid`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(
        prog="sksid", description=_plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", nargs="?", choices=["quickstart", "benchmark"],
                    help="quickstart: the ADC-SID + IntRR pipeline against SASRec and MostPopular "
                         "on the bundled MovieLens-100k or your CSV (--data); benchmark: a benchmark of the repository")
    ap.add_argument("--version", action="store_true", help="print the package version")
    if not argv or argv[0] not in ("quickstart", "benchmark"):
        args = ap.parse_args(argv)
        if args.version:
            from . import __version__
            print(__version__)
            return 0
        ap.print_help()
        return 0
    command, rest = argv[0], argv[1:]
    if command == "quickstart":
        from .quickstart import main as quickstart
        try:
            quickstart(rest)
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return 0
    return _benchmark(rest)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
