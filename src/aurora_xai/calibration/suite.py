"""The calibration suite: a registry of cases, their Monte Carlo rates and the table.

A :class:`Case` simulates realisations of one setting (a null with the data's
dependence, or a planted effect of known size), runs the library's own functions on
each, and returns per realisation and per statistic whether the test rejected (p <
0.05, or the interval excluded the null value) or whether the interval covered the
planted truth. :func:`run_case` (and :func:`aurora_xai.calibration.run.run_suite`) turn these into rates with a Wilson interval of the
Monte Carlo error and compares them with the targets:

* a null row's rate is a false-positive rate; it holds at ``<= 0.07`` (nominal 0.05);
* an effect row's rate is a coverage; it holds at ``>= 0.92`` (nominal 0.95).

Realisation ``i`` of a case draws from ``numpy.random.default_rng([seed, crc32(name),
i])``, so a case's numbers do not depend on which other cases run. Cases register
themselves in :data:`CASES` (:func:`register`); :mod:`aurora_xai.calibration.cases`
holds the study's. A realisation in which a statistic is not applicable (e.g. too few
label episodes for blocked folds) gives NaN and is left out of that rate's denominator.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

__all__ = [
    "CALIBRATION_COLUMNS",
    "CASES",
    "COVERAGE_TARGET",
    "FPR_TARGET",
    "Case",
    "case_rng",
    "format_table",
    "per_realisation",
    "register",
    "run_case",
    "wilson_interval",
]

#: Largest false-positive rate that holds at a nominal 0.05.
FPR_TARGET = 0.07
#: Smallest coverage that holds at a nominal 0.95.
COVERAGE_TARGET = 0.92

#: Columns of the calibration table. ``null`` names the null of a false-positive row and
#: ``effect`` the planted effect of a coverage row (the other is empty); ``case`` is the
#: registry name (``--only``).
CALIBRATION_COLUMNS = (
    "statistic",
    "null",
    "effect",
    "rate",
    "mc_low",
    "mc_high",
    "target",
    "holds",
    "n_realisations",
    "method",
    "case",
)

#: A simulation: ``(n_realisations, seed) -> (n_realisations, n_statistics)`` of 1 (rejected,
#: or covered), 0, or NaN (not applicable).
Simulation = Callable[[int, int], np.ndarray]


@dataclasses.dataclass(frozen=True)
class Case:
    """One simulated setting and the statistics checked on it.

    Attributes:
        name: Unique registry name.
        kind: ``'null'`` (rates are false-positive rates) or ``'effect'`` (coverages).
        condition: The null or the planted effect, in words.
        statistics: Names of the statistics (headline metrics where they are one).
        methods: Per statistic, the test or interval and the function that computes it.
        simulate: See :data:`Simulation`.
        calibrated: Statistics expected to hold: the regression test fails when one of
            them misses its target beyond the Monte Carlo error.
        cost: Rough seconds per realisation on one core (for choosing a CI subset).
    """

    name: str
    kind: str
    condition: str
    statistics: tuple[str, ...]
    methods: tuple[str, ...]
    simulate: Simulation
    calibrated: frozenset[str] = frozenset()
    cost: float = 0.01

    def __post_init__(self) -> None:
        if self.kind not in ("null", "effect"):
            raise ValueError(f"case {self.name!r}: kind must be 'null' or 'effect', got {self.kind!r}")
        if len(self.methods) != len(self.statistics):
            raise ValueError(f"case {self.name!r}: one method per statistic")
        unknown = set(self.calibrated) - set(self.statistics)
        if unknown:
            raise ValueError(f"case {self.name!r}: calibrated statistics {sorted(unknown)} are not its statistics")

    @property
    def target(self) -> float:
        return FPR_TARGET if self.kind == "null" else COVERAGE_TARGET


#: The registry: name -> case.
CASES: dict[str, Case] = {}


def register(case: Case) -> Case:
    """Add ``case`` to :data:`CASES` (its name must be new)."""
    if case.name in CASES:
        raise ValueError(f"calibration case {case.name!r} is registered twice")
    CASES[case.name] = case
    return case


def case_rng(seed: int, name: str, i: int) -> np.random.Generator:
    """The generator of realisation ``i`` of case ``name``."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode()), int(i)])


def per_realisation(name: str, fn: Callable[[np.random.Generator], Sequence[float]]) -> Simulation:
    """A :data:`Simulation` calling ``fn(rng)`` once per realisation with :func:`case_rng`."""

    def simulate(n: int, seed: int) -> np.ndarray:
        return np.array([np.asarray(fn(case_rng(seed, name, i)), dtype=np.float64) for i in range(n)])

    return simulate


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``k / n`` (NaN for ``n = 0``)."""
    if n <= 0:
        return float("nan"), float("nan")
    z = float(norm.ppf(0.5 + level / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return float(lo), float(hi)


def run_case(case: Case, n_realisations: int, seed: int = 0) -> pd.DataFrame:
    """The rows of :data:`CALIBRATION_COLUMNS` of one case."""
    hits = np.asarray(case.simulate(int(n_realisations), int(seed)), dtype=np.float64)
    if hits.shape != (n_realisations, len(case.statistics)):
        raise ValueError(
            f"case {case.name!r} returned shape {hits.shape}, expected ({n_realisations}, {len(case.statistics)})"
        )
    rows = []
    for j, (stat, method) in enumerate(zip(case.statistics, case.methods)):
        col = hits[:, j]
        col = col[np.isfinite(col)]
        n, k = len(col), int(col.sum())
        rate = k / n if n else float("nan")
        lo, hi = wilson_interval(k, n)
        if case.kind == "null":
            holds, target = bool(rate <= FPR_TARGET), f"<= {FPR_TARGET}"
        else:
            holds, target = bool(rate >= COVERAGE_TARGET), f">= {COVERAGE_TARGET}"
        rows.append(
            {
                "statistic": stat,
                "null": case.condition if case.kind == "null" else "",
                "effect": case.condition if case.kind == "effect" else "",
                "rate": rate,
                "mc_low": lo,
                "mc_high": hi,
                "target": target,
                "holds": holds if n else False,
                "n_realisations": n,
                "method": method,
                "case": case.name,
            }
        )
    return pd.DataFrame(rows, columns=list(CALIBRATION_COLUMNS))


def format_table(table: pd.DataFrame) -> str:
    """The table as fixed-width text: statistic, condition, rate [MC interval], target, holds."""
    lines = []
    for r in table.itertuples(index=False):
        cond = r.null or r.effect
        kind = "FPR" if r.null else "coverage"
        lines.append(
            f"{r.statistic:<42} {kind:<8} {r.rate:6.3f} [{r.mc_low:5.3f}, {r.mc_high:5.3f}] "
            f"{r.target:<7} {'holds' if r.holds else 'FAILS':<5} n={r.n_realisations:<4} {cond}"
        )
    return "\n".join(lines)
