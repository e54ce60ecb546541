"""Every headline metric is calibrated or marked, from one table that agrees with the suite."""

from __future__ import annotations

import pandas as pd
import pytest
from test_headline_labels import REAL_METRICS

from aurora_xai.calibration.run import run_suite  # noqa: F401 - registers the suite's cases
from aurora_xai.calibration.status import STATUS_VALUES, STATUSES, Calibration, calibration_of
from aurora_xai.calibration.suite import CASES
from aurora_xai.tables import headline_rows, read_headline_parts


@pytest.mark.parametrize("metric", sorted(REAL_METRICS))
def test_every_headline_metric_is_calibrated_or_marked_with_a_reason(metric):
    cal = calibration_of(metric)
    assert cal is not None, f"{metric}: no entry in aurora_xai.calibration.status.STATUSES"
    assert cal.status in STATUS_VALUES and cal.reason.strip()
    assert cal.calibrated == (cal.status == "holds")


@pytest.mark.parametrize("pattern, cal", STATUSES, ids=[p for p, _ in STATUSES])
def test_the_table_agrees_with_the_suite(pattern, cal):
    """A row that holds names cases that mark its statistic calibrated; a row that fails,
    cases that have the statistic and do not."""
    for name in cal.cases:
        assert name in CASES, f"{pattern}: unknown suite case {name!r}"
        case = CASES[name]
        assert cal.statistic in case.statistics, f"{pattern}: {name} has no statistic {cal.statistic!r}"
        if cal.status == "holds":
            assert cal.statistic in case.calibrated, f"{pattern}: {name} does not mark {cal.statistic} calibrated"
        else:
            assert cal.statistic not in case.calibrated, f"{pattern}: {name} marks {cal.statistic} calibrated"


def test_every_pattern_is_reached():
    """No pattern is shadowed by an earlier one for every metric it is meant for."""
    used = {id(calibration_of(m)) for m in REAL_METRICS}
    unused = [p for p, cal in STATUSES if id(cal) not in used]
    assert not unused, unused


def test_calibration_refuses_a_status_without_evidence():
    with pytest.raises(ValueError, match="one of"):
        Calibration("maybe", "r")
    with pytest.raises(ValueError, match="reason"):
        Calibration("fails", " ")
    with pytest.raises(ValueError, match="names the suite"):
        Calibration("holds", "r")


def test_headline_rows_fill_the_mark_from_the_table(tmp_path):
    rows = headline_rows(
        [
            {
                "metric": "storm_calm_auc_blocked",
                "value": 0.8,
                "ci_low": 0.7,
                "ci_high": 0.9,
                "method": "m",
                "n_unit": "d",
            },
            {"metric": "storm_calm_perm_p_block", "value": 0.01, "method": "m", "n_unit": "d", "calibration": "x"},
            {"metric": "made_up", "value": 1.0, "method": "m", "n_unit": "d"},
        ]
    ).set_index("metric")
    assert rows.loc["storm_calm_auc_blocked", "calibration"].startswith("fails: the interval excludes 0.5")
    assert "storm_calm_report_null_phi09" in rows.loc["storm_calm_auc_blocked", "calibration"]
    assert rows.loc["storm_calm_perm_p_block", "calibration"].startswith("holds: ")  # never hand-written
    assert rows.loc["made_up", "calibration"] == ""
    # A part written before the column existed reads with the mark filled in.
    old = rows.reset_index().drop(columns=["calibration"])
    old.to_csv(tmp_path / "part.csv", index=False)
    back = read_headline_parts([tmp_path / "part.csv"]).set_index("metric")
    assert back.loc["storm_calm_auc_blocked", "calibration"].startswith("fails")


def test_front_page_marks_calibrated_and_not_calibrated_rows():
    from aurora_xai.front_page import _headline_groups

    table = headline_rows(
        [
            {"metric": "storm_calm_auc_blocked", "value": 0.8, "method": "m", "n_unit": "d"},
            {"metric": "storm_calm_perm_p_block", "value": 0.01, "method": "m", "n_unit": "d"},
            {"metric": "pc1_explained_variance", "value": 0.4, "method": "m", "n_unit": "d"},
        ]
    )
    text = "\n".join(_headline_groups(table))
    assert "(not calibrated)" in text and "(calibrated)" in text
    assert pd.Series(text.splitlines()).str.contains("explained variance.*calibrated", case=False).sum() == 0
