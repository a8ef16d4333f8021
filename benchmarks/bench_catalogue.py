"""A synthetic million-item catalogue: memory and throughput of the catalogue-sized steps.

    python benchmarks/bench_catalogue.py                      # 1,000,000 items, writes the table
    python benchmarks/bench_catalogue.py --items 100000 --dir /tmp/cat100k

Every step runs in its own subprocess, so each peak-memory figure is that step's alone:

* ``make``: random item features written straight to a :class:`~sksid.feature_store.FeatureStore`
  folder (384-d "text", 64-d "collab"; a mixture of 2,000 Gaussian clusters so the codes have
  structure), in chunks: the catalogue is never in memory at once.
* ``tok:<name>``: a tokenizer fitted on a random sample of ``--sample`` items (ADC-SID,
  RQ-KMeans, RQ-VAE at their defaults except ``max_epochs``), then ``transform`` of the whole
  catalogue from the memory-mapped store (chunks of 65,536 rows): fit seconds, transform
  items/s, the codes' collision rate.
* ``decode``: the catalogue's disambiguated ADC-SID codes (from ``tok:adcsid``), the sparse
  prefix trie and an ``IntRRModule`` at the CPU backbone (random weights: speed and memory,
  not quality): trie build seconds, ms/user for constrained beam search (width 20) and for
  exact scoring of every item.
* ``kmeans``: scikit-learn's ``MiniBatchKMeans`` (what :func:`sksid.nn.codebook.kmeans` uses
  above 200,000 points) against our full-batch Lloyd k-means on the same 200,000-point
  sample: seconds and inertia.

Peak memory: ``VmHWM`` (the process's peak resident set, which includes pages of the
memory-mapped feature files it touched) and the peak of ``RssAnon`` (heap only, sampled every
20 ms), both in MiB. The table goes to ``docs/results/catalogue_1m.md`` (or
``catalogue_<n>.md``) with the machine line; on a CPU, compare rows rather than read the
wall times on their own.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine_line, markdown_table, stage  # noqa: E402

DIMS = {"text": 384, "collab": 64}
TOKENIZERS = ("adcsid", "rqkmeans", "rqvae")


# ---- memory ----------------------------------------------------------------------------
def _status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB -> MiB
    return float("nan")


class PeakAnon:
    """Peak of the process's anonymous resident memory, sampled in a thread."""

    def __enter__(self):
        self.peak, self._stop = _status("RssAnon"), threading.Event()

        def run():
            while not self._stop.wait(0.02):
                self.peak = max(self.peak, _status("RssAnon"))
        self._t = threading.Thread(target=run, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _status("RssAnon"))


# ---- steps (each in a subprocess) ------------------------------------------------------
def step_make(args):
    from sksid.feature_store import FeatureStore

    rng = np.random.default_rng(args.seed)
    n, chunk = args.items, 1 << 16
    centres = {m: rng.normal(size=(2000, d)).astype(np.float32) for m, d in DIMS.items()}
    t0 = time.perf_counter()
    with FeatureStore.writer(args.dir, {m: (n, d) for m, d in DIMS.items()}) as out:
        for m, d in DIMS.items():
            for s in range(0, n, chunk):
                e = min(s + chunk, n)
                cl = rng.integers(0, len(centres[m]), e - s)
                out[m][s:e] = centres[m][cl] + 0.5 * rng.normal(size=(e - s, d)).astype(np.float32)
    return {"step": "make", "seconds": time.perf_counter() - t0,
            "items_per_s": n / (time.perf_counter() - t0)}


def _tokenizer(name, args):
    from sksid import ADCSIDTokenizer, RQKMeansTokenizer, RQVAETokenizer

    common = dict(random_state=args.seed, device="cpu")
    if name == "adcsid":
        return ADCSIDTokenizer(max_epochs=args.epochs, **common)
    if name == "rqvae":
        return RQVAETokenizer(max_epochs=args.epochs, **common)
    return RQKMeansTokenizer(**common)


def step_tok(args, name):
    import torch

    from sksid.feature_store import FeatureStore
    from sksid.nn.beam import disambiguate

    torch.set_num_threads(args.threads)
    store = FeatureStore(args.dir)
    n = len(store[next(iter(store))])
    rows = np.sort(np.random.default_rng(args.seed).choice(n, size=min(args.sample, n), replace=False))
    tok = _tokenizer(name, args)
    with PeakAnon() as fit_mem:
        sample = {m: np.asarray(store[m][rows]) for m in store}
        t0 = time.perf_counter()
        tok.fit(sample)
        fit_s = time.perf_counter() - t0
        del sample
    small = min(100_000, n)  # the same chunked transform on a tenth: is memory bounded?
    with PeakAnon() as small_mem:
        tok.transform({m: store[m][:small] for m in store})
    with PeakAnon() as tr_mem:
        t0 = time.perf_counter()
        codes, _ = tok.transform(store)
        tr_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        dis, _, sizes, n_coll = disambiguate(codes, None, tok.codebook_sizes_[:codes.shape[1]])
        dis_s = time.perf_counter() - t0
    np.save(Path(args.dir) / f"codes_{name}.npy", dis)
    (Path(args.dir) / f"codes_{name}.json").write_text(json.dumps({"codebook_sizes": list(sizes)}))
    return {"step": f"tok:{name}", "fit_items": len(rows), "fit_s": fit_s,
            "fit_peak_anon_mib": fit_mem.peak, "transform_items_per_s": n / tr_s,
            "transform_s": tr_s, "transform_peak_anon_mib": tr_mem.peak,
            "transform_small_rows": small, "transform_small_peak_anon_mib": small_mem.peak,
            "disambiguate_s": dis_s, "collision_rate": n_coll / n, "code_length": int(codes.shape[1]),
            "vmhwm_mib": _status("VmHWM")}


def step_decode(args):
    import torch

    from sksid.nn.intrr import IntRRModule
    from sksid.recommenders._sid import BACKBONE_CPU

    torch.set_num_threads(args.threads)
    codes = np.load(Path(args.dir) / "codes_adcsid.npy")
    sizes = json.loads((Path(args.dir) / "codes_adcsid.json").read_text())["codebook_sizes"]
    n = codes.shape[0]
    torch.manual_seed(args.seed)
    with PeakAnon() as build_mem:
        t0 = time.perf_counter()
        m = IntRRModule(n, codes, sizes, leaf=True, constrained=True, max_len=20, **BACKBONE_CPU).eval()
        build_s = time.perf_counter() - t0
    rng = np.random.default_rng(args.seed)
    res = {"step": "decode", "items": n, "trie_build_s": build_s, "build_peak_anon_mib": build_mem.peak,
           "trie_mib": sum(b.numel() * b.element_size() for b in m.trie.buffers()) / 2 ** 20,
           "prefixes": list(m.trie.n_prefixes)}
    for name, users, fn in (
            ("beam20", 256, lambda it, ln: m.rank(it, ln, 10, 20)),
            ("exact", 16, lambda it, ln: m.rank_exact(it, ln, 10))):
        items = torch.as_tensor(rng.integers(0, n, (users, 20)))
        lengths = torch.full((users,), 20)
        with PeakAnon() as mem, torch.no_grad():
            t0 = time.perf_counter()
            ids, _ = fn(items, lengths)
            s = time.perf_counter() - t0
        assert ids.shape == (users, 10) and int(ids.min()) >= 0
        res[f"{name}_ms_per_user"] = s / users * 1e3
        res[f"{name}_peak_anon_mib"] = mem.peak
    res["vmhwm_mib"] = _status("VmHWM")
    return res


def step_kmeans(args):
    import torch

    import sksid.nn.codebook as cb
    from sksid.feature_store import FeatureStore

    torch.set_num_threads(args.threads)
    store = FeatureStore(args.dir)
    x = torch.as_tensor(np.asarray(store["collab"][: min(200_000, len(store["collab"]))]))
    out = {"step": "kmeans", "points": int(x.shape[0]), "dim": int(x.shape[1]), "k": 256}
    for name, limit in (("minibatch", 0), ("lloyd", 10 ** 12)):
        cb.LARGE_KMEANS_POINTS = limit  # force one implementation or the other
        with PeakAnon() as mem:
            t0 = time.perf_counter()
            c, lab = cb.kmeans(x, 256, n_iter=25, generator=torch.Generator().manual_seed(args.seed))
            out[f"{name}_s"] = time.perf_counter() - t0
        out[f"{name}_inertia"] = float(((x - c[lab]) ** 2).sum() / x.shape[0])
        out[f"{name}_peak_anon_mib"] = mem.peak
    return out


# ---- driver ----------------------------------------------------------------------------
def run_step(args, step):
    cmd = [sys.executable, __file__, "--_step", step, "--items", str(args.items), "--dir", args.dir,
           "--sample", str(args.sample), "--epochs", str(args.epochs), "--seed", str(args.seed),
           "--threads", str(args.threads)]
    stage(f"{step} ...")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    stage(f"{step}: {res}")
    return res


def report(results, args, path):
    tok_rows, lines = [], []
    for r in results:
        if r["step"].startswith("tok:"):
            tok_rows.append({
                "tokenizer": {"tok:adcsid": "ADC-SID", "tok:rqkmeans": "RQ-KMeans", "tok:rqvae": "RQ-VAE"}[r["step"]],
                "fit items": f"{r['fit_items']:,}", "fit s": f"{r['fit_s']:.0f}",
                "fit peak heap MiB": f"{r['fit_peak_anon_mib']:.0f}",
                "transform items/s": f"{r['transform_items_per_s']:,.0f}",
                f"transform peak heap MiB ({r.get('transform_small_rows', 0):,} rows)":
                    f"{r['transform_small_peak_anon_mib']:.0f}" if "transform_small_peak_anon_mib" in r else "",
                f"transform peak heap MiB ({args.items:,} rows)": f"{r['transform_peak_anon_mib']:.0f}",
                "peak RSS MiB": f"{r['vmhwm_mib']:.0f}", "disambiguate s": f"{r['disambiguate_s']:.1f}",
                "collisions": f"{100 * r['collision_rate']:.2f} %", "L": r["code_length"]})
    dec = next((r for r in results if r["step"] == "decode"), None)
    km = next((r for r in results if r["step"] == "kmeans"), None)
    mk = next((r for r in results if r["step"] == "make"), None)
    lines += [f"# A synthetic {args.items:,}-item catalogue: memory and throughput", "",
              f"Command: `python benchmarks/bench_catalogue.py --items {args.items} --sample {args.sample} "
              f"--epochs {args.epochs} --threads {args.threads}`.",
              f"Machine: {machine_line()}; {args.threads} torch thread(s).", "",
              f"Features: {args.items:,} items × (384-d text + 64-d collab) float32 "
              f"({args.items * 448 * 4 / 2 ** 30:.2f} GiB) in a memory-mapped `FeatureStore`"
              + (f", written in {mk['seconds']:.0f} s" if mk else "") + ". Tokenizers fit on a random "
              f"sample of {args.sample:,} items (ADC-SID and RQ-VAE for {args.epochs} epochs), then "
              "transform the whole catalogue from the store in chunks of 65,536 rows. Peak heap = "
              "the step's peak anonymous resident memory (sampled every 20 ms); peak RSS also counts "
              "the pages of the memory-mapped feature files the process touched (reclaimable page cache). "
              "The features are random clusters, so the collision rates say nothing about real "
              "catalogues (every code is a cluster id); the memory and speed columns are the point.", ""]
    if tok_rows:
        lines += [markdown_table(tok_rows), ""]
        grow = [(r["step"][4:], r["transform_peak_anon_mib"] - r["transform_small_peak_anon_mib"],
                 r["transform_small_rows"]) for r in results
                if r["step"].startswith("tok:") and "transform_small_peak_anon_mib" in r]
        if grow:
            lines += ["Reading: going from " + f"{grow[0][2]:,}" + f" to {args.items:,} rows adds "
                      + ", ".join(f"{g:.0f} MiB ({name})" for name, g, _ in grow)
                      + " to the transform's peak heap: the codes and weights it returns, not the "
                      "features (those stay in the memory-mapped files and pass through one "
                      "65,536-row chunk at a time).", ""]
    if dec:
        lines += ["## Decoding over the catalogue (IntRR, CPU backbone, random weights)", "",
                  f"Disambiguated ADC-SID codes of {dec['items']:,} items; prefixes per level "
                  f"{dec['prefixes']}. Sparse trie: {dec['trie_mib']:.0f} MiB of buffers, built in "
                  f"{dec['trie_build_s']:.1f} s (peak heap {dec['build_peak_anon_mib']:.0f} MiB, "
                  "including the model).", "",
                  markdown_table([
                      {"decoding": "constrained beam, width 20 (256 users)",
                       "ms/user": f"{dec['beam20_ms_per_user']:.1f}",
                       "peak heap MiB": f"{dec['beam20_peak_anon_mib']:.0f}"},
                      {"decoding": "exact, every item scored (16 users)",
                       "ms/user": f"{dec['exact_ms_per_user']:.0f}",
                       "peak heap MiB": f"{dec['exact_peak_anon_mib']:.0f}"}]), ""]
    if km:
        lines += ["## k-means for codebook initialisation", "",
                  f"{km['points']:,} points × {km['dim']} (the collab features), k = {km['k']}, "
                  "25 iterations, same seed.", "",
                  markdown_table([
                      {"implementation": "scikit-learn MiniBatchKMeans (used above 200,000 points)",
                       "seconds": f"{km['minibatch_s']:.1f}", "inertia / point": f"{km['minibatch_inertia']:.2f}",
                       "peak heap MiB": f"{km['minibatch_peak_anon_mib']:.0f}"},
                      {"implementation": "sksid full-batch Lloyd (k-means++ init)",
                       "seconds": f"{km['lloyd_s']:.1f}", "inertia / point": f"{km['lloyd_inertia']:.2f}",
                       "peak heap MiB": f"{km['lloyd_peak_anon_mib']:.0f}"}]), ""]
    path.write_text("\n".join(lines))
    (path.with_suffix(".json")).write_text(json.dumps(results, indent=1))
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--dir", default="/tmp/sksid_catalogue")
    ap.add_argument("--sample", type=int, default=100_000, help="items the tokenizers fit on")
    ap.add_argument("--epochs", type=int, default=5, help="max_epochs of ADC-SID and RQ-VAE")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", default="make,tok:adcsid,tok:rqkmeans,tok:rqvae,decode,kmeans")
    ap.add_argument("--results", default=str(RESULTS), help="folder of the table (default docs/results)")
    ap.add_argument("--_step", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._step:
        step = args._step
        if step == "make":
            res = step_make(args)
        elif step.startswith("tok:"):
            res = step_tok(args, step.split(":", 1)[1])
        elif step == "decode":
            res = step_decode(args)
        else:
            res = step_kmeans(args)
        print(json.dumps(res))
        return
    name = "catalogue_1m" if args.items == 1_000_000 else f"catalogue_{args.items}"
    path = Path(args.results) / f"{name}.md"
    old = path.with_suffix(".json")
    results = json.loads(old.read_text()) if old.exists() else []  # rerun steps replace theirs
    for step in args.steps.split(","):
        if step == "make" and (Path(args.dir) / "modalities.json").exists():
            print(f"[skip] make: {args.dir} exists")
            continue
        res = run_step(args, step)
        results = [r for r in results if r["step"] != step] + [res]
        results.sort(key=lambda r: ["make", "tok:adcsid", "tok:rqkmeans", "tok:rqvae", "decode",
                                    "kmeans"].index(r["step"]))
        report(results, args, path)
    print(path.read_text())


if __name__ == "__main__":
    main()
