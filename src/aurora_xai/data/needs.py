"""What each workflow rule reads from the store in ``data.path``: (field, time) pairs.

The download copies the union of these and nothing else, so the rules that read the store
and the copy are derived from the same settings objects, in one place
(:data:`STORE_READERS`, applied to the :class:`StoreReads` the settings compose,
:attr:`aurora_xai.settings.Settings.store_reads`). A field is :data:`ALL` (every field a
model sample needs: the surface and atmospheric variables on ``data.levels``) or an
Aurora surface variable's short name (``10u``, ``10v``, ...), copied alone at times where
no sample is read (the storm/calm labels need only the 10 m wind at the label hour).

Imports only pandas and the ``data`` and ``download`` sections: the workflow evaluates it
when it builds its DAG.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pandas as pd

from .settings import DataSettings, DownloadSettings

__all__ = ["ALL", "STORE_READERS", "StoreReads", "sample_times", "store_needs", "needed_fields", "download_request"]

#: Every field a sample needs.
ALL = "*"


@dataclasses.dataclass(frozen=True)
class StoreReads:
    """The times the configured rules read from the store, before their history steps.

    Attributes:
        dates: The dates' sample times (``dates``).
        history: The history interval (``dates.history_hours``).
        attribution_cases: Case times of ``attribution.cases`` (``storms.<case>.case_time``).
        perturbation_cases: Times of ``perturbation.cases``.
        labels: The label hour of every day the labels may pick, when the labels read
            this store (``labels.path`` empty); else empty.
        labelled_days: Every day the labels may pick at ``dates.target_hour``, when
            ``attribution.composites``; else empty.
        surrogate_period: Every 6-hourly time of ``surrogate.train_period`` when the
            workflow trains the surrogate (``model.name: surrogate``, no checkpoint file);
            else empty.
        surrogate_scored: The states 6 h after the held-out times the surrogate's skill
            is scored on (``surrogate.eval_times`` of the dates, spread evenly); else empty.
        validation_cases: Case times of ``validation.cases`` when the checks run.
    """

    dates: pd.DatetimeIndex
    history: pd.Timedelta
    attribution_cases: tuple[pd.Timestamp, ...]
    perturbation_cases: tuple[pd.Timestamp, ...]
    labels: pd.DatetimeIndex
    labelled_days: pd.DatetimeIndex
    surrogate_period: pd.DatetimeIndex = dataclasses.field(default_factory=lambda: pd.DatetimeIndex([]))
    surrogate_scored: pd.DatetimeIndex = dataclasses.field(default_factory=lambda: pd.DatetimeIndex([]))
    validation_cases: tuple[pd.Timestamp, ...] = ()


def sample_times(targets: pd.DatetimeIndex, history: pd.Timedelta) -> pd.DatetimeIndex:
    """Each target time and its history step, sorted, unique (naive UTC)."""
    targets = pd.DatetimeIndex(targets)
    return targets.append(targets - history).unique().sort_values()


def _dates(reads: StoreReads) -> dict[str, pd.DatetimeIndex]:
    return {ALL: sample_times(reads.dates, reads.history)}


def _attribution_cases(reads: StoreReads) -> dict[str, pd.DatetimeIndex]:
    targets = pd.DatetimeIndex(list(reads.attribution_cases))
    return {ALL: sample_times(targets, reads.history)} if len(targets) else {}


def _perturbation_cases(reads: StoreReads) -> dict[str, pd.DatetimeIndex]:
    targets = pd.DatetimeIndex(list(reads.perturbation_cases))
    return {ALL: sample_times(targets, reads.history)} if len(targets) else {}


def _labels(reads: StoreReads) -> dict[str, pd.DatetimeIndex]:
    """The 10 m wind at the label hour of every labelled day (unless ``labels.path`` is set)."""
    if not len(reads.labels):
        return {}
    return {"10u": reads.labels, "10v": reads.labels}


def _labelled_days(reads: StoreReads) -> dict[str, pd.DatetimeIndex]:
    """A sample on every day the labels may pick (``attribution.composites``).

    Which days are labelled is known only once the labels are computed, so every day of
    the labels' window is copied: the day at ``dates.target_hour`` and its history step.
    In the study (every day of the labelled year among the dates) these are the dates'
    samples already.
    """
    if not len(reads.labelled_days):
        return {}
    return {ALL: sample_times(reads.labelled_days, reads.history)}


def _surrogate_training(reads: StoreReads) -> dict[str, pd.DatetimeIndex]:
    """Every 6-hourly time of the training period (samples ``t - 6 h, t -> t + 6 h``)."""
    return {ALL: pd.DatetimeIndex(reads.surrogate_period)} if len(reads.surrogate_period) else {}


def _surrogate_scoring(reads: StoreReads) -> dict[str, pd.DatetimeIndex]:
    """The dates' samples and the state 6 h after each held-out time."""
    if not len(reads.surrogate_scored):
        return {}
    return {ALL: sample_times(reads.dates, reads.history).append(reads.surrogate_scored).unique().sort_values()}


def _static(reads: StoreReads) -> dict[str, pd.DatetimeIndex]:
    """No time: the store's static fields (the land-sea mask) and attributes only."""
    return {}


def _validation_cases(reads: StoreReads) -> dict[str, pd.DatetimeIndex]:
    targets = pd.DatetimeIndex(list(reads.validation_cases))
    return {ALL: sample_times(targets, reads.history)} if len(targets) else {}


#: Rule -> what it reads from the store in ``data.path``, given the settings. Every rule
#: with the store among its inputs must be here (a test checks it against the rule files).
#: The perturbation's ``climatology`` fill reads whatever the store holds around the
#: case's day of year (no time of its own).
STORE_READERS: dict[str, Callable[[StoreReads], dict[str, pd.DatetimeIndex]]] = {
    "extract_latents": _dates,
    "extract_random_latents": _dates,
    "probe_targets": _dates,
    "run_interventions": _dates,  # dates chosen among the labelled dates' samples
    "compute_relevance": _attribution_cases,
    "run_perturbation": _perturbation_cases,
    "label_storm_days": _labels,
    "compute_relevance_days": _labelled_days,
    "train_surrogate": _surrogate_training,
    "train_shuffled_surrogate": _surrogate_training,  # the same samples, targets paired otherwise
    "score_surrogate": _surrogate_scoring,
    "validate_attribution": _validation_cases,
    "validate_data_randomisation": _validation_cases,
    "steer_features": _dates,  # dates chosen among the labelled dates' samples
    "feature_atlas": _static,
}


def store_needs(reads: StoreReads) -> dict[str, dict[str, pd.DatetimeIndex]]:
    """Per rule of :data:`STORE_READERS`: ``{field: times}`` it reads (fields :data:`ALL` or
    surface short names; times naive UTC, sorted, unique)."""
    return {rule: need(reads) for rule, need in STORE_READERS.items()}


def needed_fields(reads: StoreReads) -> dict[str, pd.DatetimeIndex]:
    """The union over the rules: ``{field: times}``; a surface field lists only the times
    at which no whole sample (:data:`ALL`) is read anyway."""
    out: dict[str, pd.DatetimeIndex] = {}
    for need in store_needs(reads).values():
        for field, times in need.items():
            out[field] = out[field].append(times) if field in out else pd.DatetimeIndex(times)
    out = {f: t.unique().sort_values() for f, t in out.items()}
    every = out.get(ALL, pd.DatetimeIndex([]))
    return {f: (t if f == ALL else t.difference(every)) for f, t in sorted(out.items()) if len(t)}


def download_request(reads: StoreReads, data: DataSettings, download: DownloadSettings) -> dict:
    """What decides the downloaded copy, as plain data (the ``download_era5`` rule's params).

    ``{method, url, levels, static_path, on_missing, imprecise_times, fields: {field: [ISO
    times]}}``: a change of any of these reruns the download, which adds what is missing;
    nothing else (regions, descriptions, dates that give the same times) does.
    """
    return {
        "method": download.method,
        "url": download.url,
        "levels": [int(v) for v in data.levels],
        "static_path": data.static_path,
        "on_missing": data.on_missing,
        "imprecise_times": data.imprecise_times,
        "fields": {field: [f"{t:%Y-%m-%dT%H:%M}" for t in times] for field, times in needed_fields(reads).items()},
    }
