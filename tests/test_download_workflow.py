"""The download rule through Snakemake, on a small local "remote" store.

Its rerun triggers are exactly what decides the copy (times per field, levels, source,
URL): a setting the copy does not depend on leaves the rule and the store alone, and a
request that grows adds only what is missing, appended to the store Snakemake never
removes. The store holds what every rule reading it needs (the labels' 10 m wind at the
label hour, and nothing else at those times).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
from conftest import REPO, copy_workflow, job_counts, run_snakemake
from presets import merge

pytestmark = pytest.mark.workflow

STORE = "results/data/era5_local.zarr"
MANIFEST = STORE + ".manifest.json"


def _overlay(remote: Path) -> dict:
    return {
        "data": {"source": "weatherbench2", "path": STORE},
        "download": {"enabled": True, "url": str(remote)},
        "dates": {"start": "2005-01-02", "end": "2005-01-07", "step_days": 2, "shard_size": 10},
        "labels": {"start": "2005-01-02", "end": "2005-01-10", "n_days": 2},
        "attribution": {"cases": ["great_storm_1987"], "composites": False},
        # a real store: no planted terms of F, the tiny model (no training period to copy)
        "model": {"name": "tiny"},
        "validation": {"enabled": False},
        "probes": {"quantities": ["t850", "z500", "msl", "t2m", "wind10_max", "jet_lat_u250"]},
        "interventions": {"directions": ["pc1", "storm_axis"]},
    }


def _files(root: Path) -> dict[str, tuple[int, str]]:
    return {
        str(f.relative_to(root)): (f.stat().st_mtime_ns, hashlib.sha256(f.read_bytes()).hexdigest())
        for f in sorted(root.rglob("*"))
        if f.is_file()
    }


def _scheduled(workdir: Path, overlay: dict, *targets: str) -> set[str]:
    (workdir / "change.yaml").write_text(yaml.safe_dump(overlay))
    out = run_snakemake(
        workdir, *targets, "-n", "--quiet", "rules", "--configfile", "config/config.yaml", "change.yaml"
    )
    return set(job_counts(out))


@pytest.fixture(scope="module")
def fetched(small_store, tmp_path_factory) -> tuple[Path, dict]:
    workdir = copy_workflow(tmp_path_factory.mktemp("download") / "wf")
    overlay = _overlay(small_store)
    (workdir / "change.yaml").write_text(yaml.safe_dump(overlay))
    run_snakemake(workdir, MANIFEST, "--cores", "1", "--configfile", "config/config.yaml", "change.yaml")
    return workdir, overlay


def test_the_store_holds_what_its_readers_need_and_the_wind_alone_at_the_label_hour(fetched):
    workdir, _ = fetched
    record = json.loads((workdir / MANIFEST).read_text())
    samples = {f"2005-01-{d:02d}T{h:02d}:00" for d in (2, 4, 6) for h in (0, 6)} | {
        "1987-10-16T00:00",
        "1987-10-16T06:00",
    }
    labels = {f"2005-01-{d:02d}T12:00" for d in range(2, 11)}
    assert set(record["variables"]["2m_temperature"]) == samples
    assert set(record["variables"]["temperature"]) == samples
    assert set(record["variables"]["10m_u_component_of_wind"]) == samples | labels
    assert set(record["variables"]["10m_v_component_of_wind"]) == samples | labels
    assert set(record["times"]) == samples | labels and record["source_path"].endswith("era5.zarr")
    with xr.open_zarr(workdir / STORE) as ds:  # nothing else was fetched at the label hour
        at = pd.DatetimeIndex(ds["time"].values).get_indexer(pd.DatetimeIndex(sorted(labels)))
        assert np.isnan(ds["2m_temperature"].values[at]).all()
        assert np.isnan(ds["temperature"].values[at]).all()
        assert np.isfinite(ds["10m_u_component_of_wind"].values[at]).all()


def test_the_labels_read_the_downloaded_store(fetched):
    workdir, _ = fetched
    target = "results/labels/storm_days.json"
    run_snakemake(workdir, target, "--cores", "1", "--configfile", "config/config.yaml", "change.yaml")
    summary = json.loads((workdir / "results/labels/storm_days.json").read_text())
    assert summary["n_days_labelled"] == 9 and not summary["skipped_dates"]
    assert summary["path"].endswith("era5_local.zarr")


#: Settings the copy does not depend on: each leaves the download and the store alone.
UNRELATED = {
    "a region added": {"regions": {"tropics": {"lat_min": -20, "lat_max": 20, "lon_min": 0, "lon_max": 360}}},
    "a storm's description": {"storms": {"great_storm_1987": {"description": "another text"}}},
    "a storm's radius": {"storms": {"great_storm_1987": {"radius_deg": 7.0}}},
    "a perturbation case's variable": {"perturbation": {"cases": {"great_storm_1987": {"variable": "2t"}}}},
    "dates.end moved, the same dates": {"dates": {"end": "2005-01-06"}},
    "the labels' region and thresholds": {"labels": {"region": "europe", "storm_threshold": 30.0, "n_days": 3}},
    "the attribution target": {"attribution": {"target_region": "europe"}},
    "the CDS folder": {"download": {"cds_dir": "elsewhere"}},
}


def test_settings_the_copy_does_not_depend_on_leave_the_store_alone(fetched):
    workdir, overlay = fetched
    (workdir / STORE / "my_notes.txt").write_text("kept")  # a file the user put there
    before = _files(workdir / STORE)
    manifest = (workdir / MANIFEST).stat().st_mtime_ns
    for what, change in UNRELATED.items():
        got = _scheduled(workdir, merge(overlay, change))
        assert "download_era5" not in got, f"{what} reruns the download"
    # the test can fail: the label hour decides the copy
    assert "download_era5" in _scheduled(workdir, merge(overlay, {"labels": {"hour": 18}}))
    # run for real with all of them at once: nothing to do, nothing touched
    every = overlay
    for change in UNRELATED.values():
        every = merge(every, change)
    (workdir / "change.yaml").write_text(yaml.safe_dump(every))
    out = run_snakemake(workdir, MANIFEST, "--cores", "1", "--configfile", "config/config.yaml", "change.yaml")
    assert "Nothing to be done" in out.stdout + out.stderr
    assert _files(workdir / STORE) == before and (workdir / MANIFEST).stat().st_mtime_ns == manifest


def test_later_dates_fetch_only_the_new_times_and_keep_the_store(fetched):
    workdir, overlay = fetched
    (workdir / STORE / "my_notes.txt").write_text("kept")
    before = _files(workdir / STORE)
    longer = merge(overlay, {"dates": {"end": "2005-01-09"}})  # adds 8 January: 00 and 06 UTC
    assert "download_era5" in _scheduled(workdir, longer, MANIFEST)
    t0 = time.time_ns()
    (workdir / "change.yaml").write_text(yaml.safe_dump(longer))
    run_snakemake(workdir, MANIFEST, "--cores", "1", "--configfile", "config/config.yaml", "change.yaml")
    after = _files(workdir / STORE)
    for name, stamp in before.items():  # every chunk written before is still there, untouched
        if "/." not in f"/{name}" and not name.startswith(("time/", ".")):
            assert after[name] == stamp, name
    assert (workdir / STORE / "my_notes.txt").read_text() == "kept"
    for var in ("2m_temperature", "temperature", "10m_u_component_of_wind"):
        chunks = [n for n in after if n.startswith(var + "/") and not n.split("/")[-1].startswith(".")]
        new = [n for n in chunks if n not in before or before[n] != after[n]]
        assert len(new) == 2, (var, new)  # one chunk per time: the two new times only
    log = (workdir / "logs/download_era5/download_era5.log").read_text()
    assert re.search(r"appending 2 times to the 17 ", log) and re.search(r": 2/2 times", log), log[-2000:]
    record = json.loads((workdir / MANIFEST).read_text())
    assert {"2005-01-08T00:00", "2005-01-08T06:00"} <= set(record["variables"]["temperature"])
    assert (workdir / MANIFEST).stat().st_mtime_ns >= t0


def test_every_rule_reading_the_store_is_covered_by_the_download():
    from aurora_xai.data.needs import STORE_READERS

    readers = set()
    for path in sorted((REPO / "workflow/rules").glob("*.smk")):
        text = path.read_text()
        starts = [(m.start(), m.group(1)) for m in re.finditer(r"^\s*rule (\w+):", text, re.M)]
        for (start, rule), (end, _) in zip(starts, [*starts[1:], (len(text), "")]):
            block = text[start:end]
            inputs = block.split("input:", 1)[1].split("output:", 1)[0] if "input:" in block else ""
            if "store_input" in inputs or "perturbation_inputs" in inputs:
                readers.add(rule)
    assert readers == set(STORE_READERS), (
        f"rules reading the store but not in aurora_xai.data.needs.STORE_READERS: {sorted(readers - set(STORE_READERS))}; "
        f"listed but not reading it: {sorted(set(STORE_READERS) - readers)}"
    )
