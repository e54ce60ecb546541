"""Running the registered calibration cases as one table (:func:`run_suite`).

Importing this module registers the study's cases (:mod:`aurora_xai.calibration.cases`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd

from . import cases as _cases  # noqa: F401 - registers the study's cases
from .suite import CALIBRATION_COLUMNS, CASES, Case, run_case

__all__ = ["run_suite"]


def run_suite(
    n_realisations: int = 200,
    only: Iterable[str] | None = None,
    seed: int = 0,
    progress: Callable[[Case, pd.DataFrame, float], None] | None = None,
) -> pd.DataFrame:
    """Every registered case (or those named in ``only``) as one table.

    Args:
        n_realisations: Realisations per case.
        only: Case names to run (all when None).
        seed: Master seed.
        progress: Called after each case with the case, its rows and the seconds taken.

    Raises:
        KeyError: for an unknown case name.
    """
    import time

    names = list(CASES) if only is None else list(only)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise KeyError(f"unknown calibration cases {unknown}; known: {sorted(CASES)}")
    frames = []
    for name in names:
        t0 = time.perf_counter()
        rows = run_case(CASES[name], n_realisations, seed)
        if progress is not None:
            progress(CASES[name], rows, time.perf_counter() - t0)
        frames.append(rows)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(CALIBRATION_COLUMNS))
