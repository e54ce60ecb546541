"""The calibration suite: its machinery, and no regression of calibrated statistics.

Small versions of the simulations of :mod:`aurora_xai.calibration` (a few dozen
realisations): a known-calibrated test must hold its rate within the Monte Carlo error,
a deliberately miscalibrated one must be detected, and every statistic a case marks as
calibrated must not miss its target beyond the Monte Carlo error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aurora_xai.calibration.run import run_suite
from aurora_xai.calibration.simulate import ar1, episode_days, seasonal_labels
from aurora_xai.calibration.suite import (
    CALIBRATION_COLUMNS,
    CASES,
    COVERAGE_TARGET,
    FPR_TARGET,
    Case,
    per_realisation,
    register,
    run_case,
    wilson_interval,
)


def _row(table: pd.DataFrame, statistic: str) -> pd.Series:
    return table.set_index("statistic").loc[statistic]


def test_ar1_has_the_requested_autocorrelation_and_unit_variance():
    x = ar1(np.random.default_rng(0), 20000, (4,), 0.9)
    assert np.allclose(x.var(axis=0), 1.0, atol=0.15)
    lag1 = [np.corrcoef(x[1:, j], x[:-1, j])[0, 1] for j in range(4)]
    assert np.allclose(lag1, 0.9, atol=0.02)


def test_seasonal_labels_cluster_by_season():
    lab = seasonal_labels(np.random.default_rng(1))
    assert lab.y.sum() == 30 and len(lab.y) == 60
    storm_winter = np.isin(lab.seasons[lab.y == 1], ["DJF"]).mean()
    calm_summer = np.isin(lab.seasons[lab.y == 0], ["JJA"]).mean()
    assert storm_winter > 0.5 and calm_summer > 0.5
    assert np.all(np.diff(lab.index) > 0)


def test_episode_days_are_separate_runs():
    lab = episode_days(5, 4)
    assert len(lab.y) == 40 and lab.y.sum() == 20
    from aurora_xai.regimes.blocking import episode_groups

    assert len(np.unique(episode_groups(lab.days, lab.y))) == 10


def test_wilson_interval():
    lo, hi = wilson_interval(10, 200)
    assert lo < 0.05 < hi and 0.02 < lo and hi < 0.1
    assert wilson_interval(0, 50)[0] == 0.0
    assert np.isnan(wilson_interval(0, 0)[0])


def test_known_calibrated_test_holds_and_miscalibrated_is_caught():
    """A circular-shift test on independent AR(1) series holds its nominal rate; the
    i.i.d. permutation test of the same data at phi 0.9 rejects far too often, and the
    suite says so (so this test, and the suite, can fail)."""
    table = run_case(CASES["reference_phi09"], 300, seed=0)
    assert list(table.columns) == list(CALIBRATION_COLUMNS)
    good = _row(table, "reference_circular_shift_corr_p")
    assert good["mc_low"] <= 0.05 <= good["mc_high"]
    assert good["holds"]
    bad = _row(table, "reference_iid_permutation_corr_p")
    assert bad["mc_low"] > FPR_TARGET
    assert not bad["holds"]


def test_cases_are_reproducible_and_independent_of_each_other():
    a = run_suite(20, only=["perturbation_null_n10"], seed=3)
    b = run_suite(20, only=["reference_phi05", "perturbation_null_n10"], seed=3)
    b = b[b["case"] == "perturbation_null_n10"].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_not_applicable_realisations_leave_the_denominator():
    name = "_test_nan_case"
    case = Case(
        name=name,
        kind="effect",
        condition="test",
        statistics=("s",),
        methods=("m",),
        simulate=per_realisation(name, lambda rng: [np.nan if rng.random() < 0.5 else 1.0]),
    )
    row = run_case(case, 40, seed=0).iloc[0]
    assert 0 < row["n_realisations"] < 40 and row["rate"] == 1.0 and row["holds"]


def test_registry_refuses_duplicates_and_bad_cases():
    with pytest.raises(ValueError, match="twice"):
        register(CASES["reference_phi05"])
    with pytest.raises(ValueError, match="kind"):
        Case("x", "other", "c", ("s",), ("m",), lambda n, s: np.zeros((n, 1)))
    with pytest.raises(ValueError, match="calibrated"):
        Case("x", "null", "c", ("s",), ("m",), lambda n, s: np.zeros((n, 1)), calibrated=frozenset({"t"}))


#: Realisations per case in the regression check: small, so the test stays fast; a
#: statistic fails only when its whole Monte Carlo interval misses the target.
_CI_REALISATIONS = 60
_CALIBRATED = [(name, stat) for name, case in CASES.items() for stat in sorted(case.calibrated)]


@pytest.mark.parametrize(("name", "statistic"), _CALIBRATED, ids=[f"{n}:{s}" for n, s in _CALIBRATED])
def test_calibrated_statistics_do_not_regress(name, statistic):
    case = CASES[name]
    n = _CI_REALISATIONS if case.cost < 0.5 else 20
    row = _row(run_case(case, n, seed=11), statistic)
    if case.kind == "null":
        assert row["mc_low"] <= FPR_TARGET, f"{statistic} under {row['null']}: false-positive rate {row['rate']:.3f}"
    else:
        assert row["mc_high"] >= COVERAGE_TARGET, f"{statistic} under {row['effect']}: coverage {row['rate']:.3f}"


def test_tool_writes_the_table(tmp_path):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "calibration_tool", Path(__file__).parents[1] / "tools" / "calibration.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / "calibration.csv"
    assert tool.main(["--realisations", "10", "--only", "perturbation_null_n10", "--out", str(out)]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    for col in (
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
    ):
        assert col in table.columns
    assert set(table["statistic"]) == {
        "perturbation_ratio_p1",
        "perturbation_p_exceed_p1",
        "perturbation_aopc_ratio",
        "perturbation_aopc_p_exceed",
    }
