"""Calibration of the study's tests and intervals by simulation.

    python tools/calibration.py [--realisations 200] [--only CASE ...] [--seed 0]
                                [--out results/tables/calibration.csv] [--list]

Runs the cases of :mod:`aurora_xai.calibration` (every headline test or interval of the
library on simulated data with serial and seasonal dependence), prints a table and
writes it atomically: per statistic and null (or planted effect), the false-positive
rate at a nominal 0.05 (or the coverage at a nominal 0.95) with its Monte Carlo
interval (Wilson), the target and whether it holds.
"""

from __future__ import annotations

import argparse
import sys
import time

from aurora_xai.calibration.run import run_suite
from aurora_xai.calibration.suite import CASES, format_table
from aurora_xai.io import write_csv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--realisations", type=int, default=200, help="realisations per case (default 200)")
    parser.add_argument("--only", nargs="+", metavar="CASE", help="run only these cases (see --list)")
    parser.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    parser.add_argument("--out", default="results/tables/calibration.csv", help="CSV written (atomically)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args(argv)

    if args.list:
        for case in CASES.values():
            print(f"{case.name:<32} {case.kind:<6} {', '.join(case.statistics)}")
        return 0
    if args.realisations < 1:
        parser.error("--realisations must be >= 1")

    def progress(case, rows, seconds) -> None:
        print(f"# {case.name}: {seconds:.1f} s", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    try:
        table = run_suite(args.realisations, only=args.only, seed=args.seed, progress=progress)
    except KeyError as err:
        parser.error(str(err))
    print(format_table(table))
    n_fail = int((~table["holds"].astype(bool)).sum())
    print(f"# {len(table)} rows, {len(table) - n_fail} hold, {n_fail} do not; {time.perf_counter() - t0:.0f} s")
    write_csv(table, args.out, float_format="%.4f")
    print(f"# wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
