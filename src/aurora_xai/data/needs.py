"""What each workflow rule reads from the store in ``data.path``: (field, time) pairs.

The download copies the union of these and nothing else, so the rules that read the store
and the copy are derived from the same settings objects, in one place
(:data:`STORE_READERS`). A field is :data:`ALL` (every field a model sample needs: the
surface and atmospheric variables on ``data.levels``) or an Aurora surface variable's
short name (``10u``, ``10v``, ...), copied alone at times where no sample is read (the
storm/calm labels need only the 10 m wind at the label hour).

Imports only pandas and the settings: the workflow evaluates it when it builds its DAG.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from ..settings import Settings

__all__ = ["ALL", "STORE_READERS", "sample_times", "store_needs", "needed_fields", "download_request"]

#: Every field a sample needs.
ALL = "*"


def sample_times(targets: pd.DatetimeIndex, history: pd.Timedelta) -> pd.DatetimeIndex:
    """Each target time and its history step, sorted, unique (naive UTC)."""
    targets = pd.DatetimeIndex(targets)
    return targets.append(targets - history).unique().sort_values()


def _dates(settings: Settings) -> dict[str, pd.DatetimeIndex]:
    return {ALL: sample_times(settings.dates.times(), settings.dates.history)}


def _attribution_cases(settings: Settings) -> dict[str, pd.DatetimeIndex]:
    cases = [settings.storm(name).case_time for name in settings.raw("attribution.cases")]
    targets = pd.DatetimeIndex([c for c in cases if c is not None])
    return {ALL: sample_times(targets, settings.dates.history)} if len(targets) else {}


def _perturbation_cases(settings: Settings) -> dict[str, pd.DatetimeIndex]:
    targets = pd.DatetimeIndex([case.time for case in settings.perturbation_cases.values() if case.time is not None])
    return {ALL: sample_times(targets, settings.dates.history)} if len(targets) else {}


def _labels_read_the_store(settings: Settings) -> bool:
    return not settings.raw("labels.path")


def _labels(settings: Settings) -> dict[str, pd.DatetimeIndex]:
    """The 10 m wind at the label hour of every labelled day (unless ``labels.path`` is set)."""
    if not _labels_read_the_store(settings):
        return {}
    times = settings.labels.times()
    return {"10u": times, "10v": times}


def _labelled_days(settings: Settings) -> dict[str, pd.DatetimeIndex]:
    """A sample on every day the labels may pick (``attribution.composites``).

    Which days are labelled is known only once the labels are computed, so every day of
    the labels' window is copied: the day at ``dates.target_hour`` and its history step.
    In the study (every day of the labelled year among the dates) these are the dates'
    samples already.
    """
    if not settings.raw("attribution.composites"):
        return {}
    days = settings.labels.times().normalize()
    targets = days + pd.Timedelta(hours=int(settings.raw("dates.target_hour")))
    return {ALL: sample_times(targets, settings.dates.history)}


#: Rule -> what it reads from the store in ``data.path``, given the settings. Every rule
#: with the store among its inputs must be here (a test checks it against the rule files).
#: The perturbation's ``climatology`` fill reads whatever the store holds around the
#: case's day of year (no time of its own).
STORE_READERS: dict[str, Callable[[Settings], dict[str, pd.DatetimeIndex]]] = {
    "extract_latents": _dates,
    "extract_random_latents": _dates,
    "probe_targets": _dates,
    "run_interventions": _dates,  # dates chosen among the labelled dates' samples
    "compute_relevance": _attribution_cases,
    "run_perturbation": _perturbation_cases,
    "label_storm_days": _labels,
    "compute_relevance_days": _labelled_days,
}


def store_needs(settings: Settings) -> dict[str, dict[str, pd.DatetimeIndex]]:
    """Per rule of :data:`STORE_READERS`: ``{field: times}`` it reads (fields :data:`ALL` or
    surface short names; times naive UTC, sorted, unique)."""
    return {rule: need(settings) for rule, need in STORE_READERS.items()}


def needed_fields(settings: Settings) -> dict[str, pd.DatetimeIndex]:
    """The union over the rules: ``{field: times}``; a surface field lists only the times
    at which no whole sample (:data:`ALL`) is read anyway."""
    out: dict[str, pd.DatetimeIndex] = {}
    for need in store_needs(settings).values():
        for field, times in need.items():
            out[field] = out[field].append(times) if field in out else pd.DatetimeIndex(times)
    out = {f: t.unique().sort_values() for f, t in out.items()}
    every = out.get(ALL, pd.DatetimeIndex([]))
    return {f: (t if f == ALL else t.difference(every)) for f, t in sorted(out.items()) if len(t)}


def download_request(settings: Settings) -> dict:
    """What decides the downloaded copy, as plain data (the ``download_era5`` rule's params).

    ``{method, url, levels, static_path, on_missing, imprecise_times, fields: {field: [ISO
    times]}}``: a change of any of these reruns the download, which adds what is missing;
    nothing else (regions, descriptions, dates that give the same times) does.
    """
    data = settings.raw("data")
    return {
        "method": str(settings.raw("download.method")),
        "url": str(settings.raw("download.url") or ""),
        "levels": [int(v) for v in data["levels"]],
        "static_path": str(data["static_path"] or ""),
        "on_missing": str(data["on_missing"]),
        "imprecise_times": str(data["imprecise_times"]),
        "fields": {field: [f"{t:%Y-%m-%dT%H:%M}" for t in times] for field, times in needed_fields(settings).items()},
    }
