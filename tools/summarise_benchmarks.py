"""Summarise Snakemake's per-job benchmark files into a table per rule.

    python tools/summarise_benchmarks.py [benchmarks/] [--out results/tables/benchmarks.csv]

Each rule's `benchmark:` file (benchmarks/<rule>/<job>.tsv) holds wall time (s) and peak
resident memory (max_rss, MB) of one job. This prints, per rule, the number of jobs,
total and maximum wall time, and the peak memory over its jobs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def summarise(root: Path) -> pd.DataFrame:
    rows = []
    for tsv in sorted(root.glob("*/*.tsv")):
        df = pd.read_csv(tsv, sep="\t")
        for _, r in df.iterrows():
            rows.append(
                {"rule": tsv.parent.name, "job": tsv.stem, "wall_s": float(r["s"]), "max_rss_mb": float(r["max_rss"])}
            )
    if not rows:
        raise SystemExit(f"no benchmark files under {root}")
    jobs = pd.DataFrame(rows)
    out = jobs.groupby("rule").agg(
        jobs=("job", "count"),
        wall_total_s=("wall_s", "sum"),
        wall_max_s=("wall_s", "max"),
        peak_rss_mb=("max_rss_mb", "max"),
    )
    return out.sort_values("wall_total_s", ascending=False).reset_index()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", nargs="?", default="benchmarks", type=Path)
    parser.add_argument("--out", type=Path, help="also write the table as CSV")
    args = parser.parse_args(argv)
    table = summarise(args.root)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False, float_format="%.3f")
    return 0


if __name__ == "__main__":
    sys.exit(main())
