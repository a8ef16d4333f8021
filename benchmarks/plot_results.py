"""Draw the plots docs/ shows from the benchmark tables in docs/results/*.md.

    python benchmarks/plot_results.py

Reads the markdown tables the benchmark scripts wrote (so plots always match the tables)
and writes PNGs next to them: quality bars (NDCG@10 / Recall@10 per model and code set)
and IntRR-vs-TIGER latency against beam width.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"


def read_tables(path: Path) -> dict[str, list[dict]]:
    """{section heading: rows} for every markdown table in ``path``."""
    tables, heading, rows, header = {}, path.stem, None, None
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if header is None:
                header, rows = cells, []
            elif all(re.fullmatch(r":?-+:?", c) for c in cells):
                continue
            else:
                rows.append(dict(zip(header, cells)))
        elif header is not None:
            tables[heading] = rows
            header = None
    if header is not None:
        tables[heading] = rows
    return tables


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def plot_recommenders(path: Path):
    tables = read_tables(path)
    quality = next((t for h, t in tables.items() if h.lower().startswith("quality")), None)
    eff = next((t for h, t in tables.items() if h.lower().startswith("efficiency")), None)
    fig, axes = plt.subplots(1, 2 if eff else 1, figsize=(13 if eff else 7, 4), squeeze=False)
    if quality:
        labels = [f"{r['model']}\n{r['codes']}" if r.get("codes", "-") != "-" else r["model"] for r in quality]
        x = range(len(quality))
        ax = axes[0][0]
        ax.bar([i - 0.2 for i in x], [_num(r.get("N@10")) for r in quality], 0.4, label="NDCG@10")
        ax.bar([i + 0.2 for i in x], [_num(r.get("R@10")) for r in quality], 0.4, label="Recall@10")
        ax.set_xticks(list(x), labels, rotation=45, ha="right", fontsize=8)
        ax.set_title("test quality (leave-last-out, full ranking)")
        ax.legend()
    if eff:
        ax = axes[0][1]
        for r in eff:
            if "/" in r["model"]:
                continue
            beams = [int(k.split("=")[1]) for k in r if k.startswith("ms/user bw=")]
            ax.plot(beams, [_num(r[f"ms/user bw={b}"]) for b in beams], "o-", label=f"{r['model']} ({r['codes']})")
        ax.set(xlabel="beam width", ylabel="ms per user", title="inference latency")
        ax.legend()
    fig.tight_layout()
    out = path.with_suffix(".png")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_tokenizers(path: Path):
    tables = read_tables(path)
    per_code = next((t for h, t in tables.items() if "per codebook" in h.lower()), None)
    quant = next((t for h, t in tables.items() if h.lower().startswith("quantisation")), None)
    if not quant:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    names = [r["tokenizer"] for r in quant]
    axes[0].bar(names, [_num(r.get("entropy_bits")) for r in quant], label="mean entropy (bits)")
    axes[0].set_title("code entropy (higher = more even use)")
    if per_code:
        axes[1].bar([r["code"] for r in per_code], [_num(r["entropy_bits"]) for r in per_code])
        axes[1].set_title("ADC-SID entropy per codebook")
        axes[1].tick_params(axis="x", rotation=30)
    fig.tight_layout()
    out = path.with_suffix(".png")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main():
    made = []
    for path in sorted(RESULTS.glob("recommenders_*.md")):
        if path.with_suffix(".jsonl").exists():
            continue  # bench_recommenders.py draws the plot of its own (multi-seed) tables
        made.append(plot_recommenders(path))
    for path in sorted(RESULTS.glob("tokenizers_*.md")):
        made.append(plot_tokenizers(path))
    for p in made:
        if p:
            print(p)


if __name__ == "__main__":
    sys.exit(main())
