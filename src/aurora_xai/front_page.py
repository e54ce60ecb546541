"""The report's front page: which run produced the results, and its headline numbers.

``snakemake --report`` opens on the workflow description (``workflow/report/workflow.rst``),
which includes the reStructuredText written here: the model and its checkpoint, the data
source, the dates, the config hash and git commit, and the headline table. Everything is
read from the run's own records (``results/provenance.json``, the attributes and dates of
``results/latents/pooled.nc``, ``results/tables/headline.csv``), so the page describes the
run that made the figures, not the config as it is now.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from .headline_labels import GROUPS, describe

__all__ = ["RunSummary", "read_run_summary", "front_page_rst", "rst_escape"]

#: Packages whose versions the front page names (the rest are in provenance.json).
KEY_PACKAGES = ("microsoft-aurora", "torch", "snakemake", "aurora-xai")

_RST_SPECIAL = re.compile(r"([\\`*_|\[\]<>:])")


def rst_escape(text: str) -> str:
    """``text`` with reStructuredText's inline markup characters backslash-escaped."""
    return _RST_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """What produced a run's results.

    Attributes:
        model: ``model.name`` of the config (``tiny``, ``small-pretrained``, ...).
        checkpoint: The exact weights: seed, file hash, or repository file and revision.
        data_source: ``data.source`` (``synthetic``, ``weatherbench2``, ``arco``, ``cds``).
        data_path: ``data.path`` (one path or URL, or several joined by ``, ``).
        start: First date, ``YYYY-MM-DD``.
        end: Last date, ``YYYY-MM-DD``.
        step_days: Days between samples.
        target_hour: UTC hour of each sample's current time.
        history_hours: Hours back to the sample's history step.
        n_dates: Dates whose latents the run holds.
        skipped_dates: Dates left out because the store lacked them.
        tap: The tapped latent tensor (``latents.tap``).
        config_hash: Hash of the config recorded in ``provenance.json``.
        git_commit: Commit of the code (``+dirty`` if modified, ``unknown`` outside git).
        package_versions: Installed versions, package name -> version.
        model_step_hours: The model's forecast step in hours (``None`` where the record,
            from an older run, lacks it).
        history_mismatch: The provenance record's sentence when ``history_hours`` differs
            from the model's step (allowed by ``dates.allow_history_mismatch``); empty
            otherwise.
    """

    model: str
    checkpoint: str
    data_source: str
    data_path: str
    start: str
    end: str
    step_days: int
    target_hour: int
    history_hours: int
    n_dates: int
    skipped_dates: tuple[str, ...]
    tap: str
    config_hash: str
    git_commit: str
    package_versions: Mapping[str, str]
    model_step_hours: float | None = None
    history_mismatch: str = ""


def _get(record: Mapping[str, Any], key: str, source: str | Path) -> Any:
    node: Any = record
    for i, part in enumerate(key.split(".")):
        if not isinstance(node, Mapping) or part not in node:
            raise ValueError(f"{source}: no '{'.'.join(key.split('.')[: i + 1])}' recorded")
        node = node[part]
    return node


def read_run_summary(provenance_path: str | Path, pooled_path: str | Path) -> RunSummary:
    """The run's setup from its provenance record and its pooled latents.

    Args:
        provenance_path: ``results/provenance.json`` (config, config hash, git commit,
            package versions; the model's step and any history mismatch where recorded).
        pooled_path: ``results/latents/pooled.nc``: its ``date`` axis counts the dates
            analysed; its attributes hold the checkpoint id, the tap and skipped dates.

    Raises:
        ValueError: a key is missing from either file (the message names file and key).
        FileNotFoundError: a file does not exist.
    """
    record = json.loads(Path(provenance_path).read_text())
    cfg = _get(record, "config", provenance_path)
    with xr.open_dataset(pooled_path) as ds:
        attrs = dict(ds.attrs)
        if "date" not in ds.dims:
            raise ValueError(f"{pooled_path}: no 'date' dimension")
        n_dates = int(ds.sizes["date"])
    for key in ("checkpoint", "tap"):
        if key not in attrs:
            raise ValueError(f"{pooled_path}: no '{key}' attribute")
    path = _get(cfg, "data.path", provenance_path)
    versions = _get(record, "package_versions", provenance_path)
    if isinstance(versions, str):
        versions = json.loads(versions)
    skipped = str(attrs.get("skipped_dates", "")).strip()
    return RunSummary(
        model=str(_get(cfg, "model.name", provenance_path)),
        checkpoint=str(attrs["checkpoint"]),
        data_source=str(_get(cfg, "data.source", provenance_path)),
        data_path=", ".join(map(str, path)) if isinstance(path, list | tuple) else str(path),
        start=str(_get(cfg, "dates.start", provenance_path)),
        end=str(_get(cfg, "dates.end", provenance_path)),
        step_days=int(_get(cfg, "dates.step_days", provenance_path)),
        target_hour=int(_get(cfg, "dates.target_hour", provenance_path)),
        history_hours=int(_get(cfg, "dates.history_hours", provenance_path)),
        n_dates=n_dates,
        skipped_dates=tuple(s.strip() for s in skipped.split(",") if s.strip()),
        tap=str(attrs["tap"]),
        config_hash=str(_get(record, "config_hash", provenance_path)),
        git_commit=str(_get(record, "git_commit", provenance_path)),
        package_versions={str(k): str(v) for k, v in versions.items()},
        model_step_hours=float(record["model_step_hours"]) if record.get("model_step_hours") is not None else None,
        history_mismatch=str(record.get("history_mismatch") or ""),
    )


def _number(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return ""
    return f"{float(v):.4g}"


def _list_table(header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]) -> list[str]:
    out = [".. list-table::", "   :header-rows: 1", f"   :widths: {' '.join(map(str, widths))}", ""]
    for row in [header, *rows]:
        cells = [c if c else r"\ " for c in row]  # an escaped space: an empty cell
        out.append(f"   * - {cells[0]}")
        out.extend(f"     - {c}" for c in cells[1:])
    return out


def _literal(text: str) -> str:
    return f"``{text}``" if text else "(none)"


def _published(method: Any) -> bool:
    return bool(re.match(r"\s*published\b", str(method or ""), flags=re.I))


def _calibration_mark(calibration: Any) -> str:
    """``' (calibrated)'`` or ``' (not calibrated)'`` from a headline row's ``calibration``
    cell (:mod:`aurora_xai.calibration.status`); ``''`` for the other statuses."""
    status = _text(calibration).split(":", 1)[0]
    return {"holds": " (calibrated)", "fails": " (not calibrated)"}.get(status, "")


def _headline_groups(headline: pd.DataFrame) -> list[str]:
    """One small table per analysis (:data:`~aurora_xai.headline_labels.GROUPS`), rows in
    the headline's order: label, value with interval, unit, n with what it counts, meaning."""
    by_group: dict[str, list[list[str]]] = {g: [] for g in GROUPS}
    for row in headline.to_dict("records"):
        what = describe(row["metric"])
        label = rst_escape(what.label) if what.group != "other" else f"``{row['metric']}``"
        if _published(row.get("method")):
            label += " (published method)"
        label += _calibration_mark(row.get("calibration"))
        value = _number(row["value"]) or "n/a"
        if _number(row["ci_low"]) and _number(row["ci_high"]):
            value += f" [{_number(row['ci_low'])}, {_number(row['ci_high'])}]"
        n = "" if pd.isna(row["n"]) else str(int(row["n"]))
        n_unit = _text(row.get("n_unit"))
        if n and n_unit:
            n += f" {rst_escape(n_unit)}"
        meaning = what.meaning
        note = _text(row.get("note"))
        if note:
            meaning = f"{meaning}; n/a: {note}" if meaning else f"n/a: {note}"
        by_group[what.group].append([label, value, rst_escape(_text(row.get("unit"))), n, rst_escape(meaning)])
    lines: list[str] = []
    for group, rows in by_group.items():
        if not rows:
            continue
        lines += [f".. rubric:: {GROUPS[group]}", ""]
        lines += _list_table(["quantity", "value [95 % interval]", "unit", "n", "meaning"], rows, [30, 20, 10, 14, 40])
        lines.append("")
    return lines


def _text(v: Any) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v).strip()


def front_page_rst(summary: RunSummary, headline: pd.DataFrame) -> str:
    """The front page's reStructuredText: the run's setup, provenance and headline numbers.

    Sections use ``-`` underlines, to sit under the workflow description's title. The
    headline rows are grouped by analysis, one small table per group, each row with its
    label, unit and meaning from :func:`aurora_xai.headline_labels.describe`; rows whose
    ``method`` starts with "published" are marked "(published method)", and rows whose
    ``calibration`` is ``holds`` or ``fails`` "(calibrated)" or "(not calibrated)".

    Args:
        summary: The run's setup (:func:`read_run_summary`).
        headline: The headline table, columns ``metric, value, ci_low, ci_high, n`` and
            optionally ``note``, ``method``, ``n_unit``, ``unit`` and ``calibration`` (see
            :mod:`aurora_xai.tables`).

    Raises:
        ValueError: the headline table lacks one of the columns above.
    """
    missing = [c for c in ("metric", "value", "ci_low", "ci_high", "n") if c not in headline.columns]
    if missing:
        raise ValueError(f"headline table lacks columns {missing}")
    s = summary
    dates = f"{s.start} to {s.end}, every {s.step_days} day{'s' if s.step_days != 1 else ''} at {s.target_hour:02d} UTC"
    dates += f" with history {s.history_hours} h earlier"
    if s.model_step_hours is not None and float(s.model_step_hours) != float(s.history_hours):
        dates += f" (the model's forecast step: {s.model_step_hours:g} h)"
    dates += f": {s.n_dates} dates"
    if s.skipped_dates:
        dates += f" ({len(s.skipped_dates)} skipped, not in the store: {', '.join(s.skipped_dates)})"
    versions = ", ".join(f"{k} {s.package_versions[k]}" for k in KEY_PACKAGES if k in s.package_versions)
    lines = ["The run", "-------", ""]
    if s.history_mismatch:
        lines += [".. warning::", "", f"   {rst_escape(s.history_mismatch)}.", ""]
    if s.data_source == "synthetic":
        lines += [
            ".. note::",
            "",
            "   This run is the embedded default: a synthetic ERA5 stand-in with planted structure"
            + (" and a tiny, randomly initialised Aurora" if s.model == "tiny" else "")
            + (
                " and the surrogate, Aurora's tiny architecture trained on that store outside the study's dates"
                if s.model == "surrogate"
                else ""
            )
            + ". Its numbers show that the workflow recovers what was planted, not what the real"
            " Aurora encodes.",
            "",
        ]
    lines += [
        f":Model: {rst_escape(s.model)}, checkpoint {_literal(s.checkpoint)}; latents tapped at {_literal(s.tap)}",
        f":Data: {rst_escape(s.data_source)} from {_literal(s.data_path)}",
        f":Dates: {dates}",
        f":Config hash: {_literal(s.config_hash)} (the whole config is in ``results/provenance.json``)",
        f":Git commit: {_literal(s.git_commit)}",
        f":Packages: {rst_escape(versions) if versions else '(not recorded)'}",
        "",
        "Headline numbers",
        "----------------",
        "",
        "The headline numbers by analysis: each row's value with its 95 % interval where the "
        "analysis gives one, its unit, the number of samples behind it and what it means. Rows "
        "marked (published method) use the published i.i.d.-days methods, kept for comparison. "
        "Rows marked (calibrated) have a test or interval that the calibration suite "
        "(``python tools/calibration.py``) shows at its nominal rate under nulls with the "
        "dependence of daily data; rows marked (not calibrated) have one that it shows "
        "missing it, so they are not evidence on their own. "
        "The full table, with each row's metric name, method (test or interval, resampling "
        "unit, resamples or draws) and calibration (with the reason and the suite's cases), is "
        "``results/tables/headline.csv`` (**Headline** under Results in the menu).",
        "",
    ]
    lines += _headline_groups(headline)
    return "\n".join(lines) + "\n"
