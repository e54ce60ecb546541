"""Side-by-side benchmarks of the project's speed and memory targets.

Each section measures two things in the same process, interleaved, and prints their
ratio (these machines are noisy: compare ratios, not absolute times).

    python tools/benchmark.py            # every section
    python tools/benchmark.py extraction bytes

Sections:
  extraction  wall time per date of the extraction (read + forward + tap + pool) against
              the bare model forward on the same input (target: overhead <= 15 %)
  bytes       bytes read from the store per sample against the bytes the sample needs,
              on a synthetic store with extra variables (target: <= 1.1x)
  bootstrap   1000 bootstrap PCAs at the study's size, fast path against the naive loop
  lrp         LRP time and peak memory against a plain forward (target: <= 4x time)
  masks       perturbation masks per second, batched against one mask per forward
  download    the ERA5 copy (download_subset) from local WeatherBench 2-schema stores of
              >= 1 GB with extra variables (0.25 deg, the study's grid, and a 1 deg
              synthetic one): dask threads against the serial copy, each in a fresh
              Python, alternating; throughput and peak memory (the child's VmHWM) of each
              (target: >= 2x)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from aurora_xai.data.era5 import ERA5Source
from aurora_xai.data.synthetic import SyntheticSpec, write_synthetic_store
from aurora_xai.latents.extract import extract_pooled
from aurora_xai.model import ModelSpec, build_model
from aurora_xai.regions import regions_from_config

REGIONS = {
    "us": dict(lat_min=24, lat_max=50, lon_min=235, lon_max=295),
    "europe": dict(lat_min=30, lat_max=72, lon_min=348, lon_max=45),
}


def _store(tmp: Path, compress: bool = True) -> Path:
    path = tmp / ("store.zarr" if compress else "store_raw.zarr")
    if not path.exists():
        write_synthetic_store(SyntheticSpec(periods=(("2005-01-01", "2005-01-31"),), compress=compress), path)
    return path


def bench_extraction(tmp: Path, n_dates: int = 24, rounds: int = 5) -> None:
    src = ERA5Source(str(_store(tmp)))
    model = build_model(ModelSpec())
    regions = regions_from_config(REGIONS)
    times = pd.date_range("2005-01-02T06", periods=n_dates, freq="D")
    batches = [src.batch(t) for t in times]
    extract_pooled(src, model, times[:2], "backbone", regions)  # warm-up
    ext, bare = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        extract_pooled(src, model, times, "backbone", regions)
        ext.append((time.perf_counter() - t0) / n_dates)
        t0 = time.perf_counter()
        with torch.inference_mode():
            for b in batches:
                model(b)
        bare.append((time.perf_counter() - t0) / n_dates)
    ratios = [e / b for e, b in zip(ext, bare)]
    print(
        f"extraction  per date: extraction {statistics.median(ext) * 1e3:.1f} ms, bare forward "
        f"{statistics.median(bare) * 1e3:.1f} ms; ratio median {statistics.median(ratios):.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f}); overhead {100 * (statistics.median(ratios) - 1):.1f} % "
        f"(target <= 15 %)"
    )


def bench_bytes(tmp: Path) -> None:
    from aurora_xai.data.era5 import measure_read_bytes

    src = ERA5Source(str(_store(tmp, compress=False)))
    read, needed = measure_read_bytes(src, pd.Timestamp("2005-01-10T06"))
    print(
        f"bytes       per sample: read {read / 1e6:.2f} MB, needed {needed / 1e6:.2f} MB; ratio {read / needed:.3f} (target <= 1.1)"
    )


def bench_bootstrap() -> None:
    from aurora_xai.regimes.bootstrap import benchmark_bootstrap

    r = benchmark_bootstrap(n=365, p=3000, n_boot=1000)
    print(
        f"bootstrap   365 x 3000, N=1000: fast {r['fast_s']:.2f} s, naive (extrapolated from {r.get('n_naive', 5)}) "
        f"{r['naive_s_extrapolated']:.1f} s; speed-up {r['speedup']:.1f}x"
    )


def bench_lrp() -> None:
    from aurora_xai.attribution._testing import synthetic_batch, tiny_lrp_model
    from aurora_xai.attribution.benchmark import benchmark_lrp
    from aurora_xai.attribution.targets import ForecastTarget
    from aurora_xai.regions import Region

    model = tiny_lrp_model(dtype=torch.float32, bias_std=0.0)
    batch = synthetic_batch(
        nlat=61, nlon=120, levels=(50, 100, 150, 200, 250, 300, 400, 500, 600, 700, 850, 925, 1000), dtype=torch.float32
    )
    r = benchmark_lrp(model, batch, ForecastTarget("msl", region=Region("europe", 30, 72, 348, 45)))
    keys = ", ".join(f"{k} {v:.4g}" for k, v in r.items() if isinstance(v, (int, float)))
    print(f"lrp         61 x 120, 13 levels: {keys}")


def bench_masks(tmp: Path, n_masks: int = 32, batch_size: int = 8) -> None:
    from aurora_xai.perturbation.benchmark import benchmark_batched_masks

    src = ERA5Source(str(_store(tmp)))
    model = build_model(ModelSpec())
    batch = src.batch(pd.Timestamp("2005-01-10T06"))
    rng = np.random.default_rng(0)
    masks = rng.random((n_masks, len(src.lat), len(src.lon))) < 0.01
    r = benchmark_batched_masks(model, batch, masks, batch_size=batch_size, repeats=5)
    print(
        f"masks       {n_masks} masks: batched (x{batch_size}) {r['masks_per_s_batched']:.1f}/s, one per pass "
        f"{r['masks_per_s_single']:.1f}/s; speed-up {r['speedup']:.2f}x (medians of {r['repeats']} alternating runs)"
    )


def _write_times(ds, path: Path, first: bool) -> None:
    """Write or append ``ds`` to a WeatherBench 2-schema zarr (one time per chunk)."""
    if first:
        enc = {n: {"chunks": (1,) + ds[n].shape[1:]} for n in ds.data_vars if "time" in ds[n].dims}
        enc["time"] = {"units": "hours since 2000-01-01", "dtype": "int64"}
        ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True, encoding=enc)
    else:
        ds = ds.drop_vars([n for n in ds.data_vars if "time" not in ds[n].dims])
        ds.to_zarr(path, append_dim="time", zarr_format=2, consolidated=True)


def _wb2_store(tmp: Path, n_times: int = 72) -> Path:
    """A WeatherBench 2-schema store of >= 1 GB on disk, 1 deg, one time per chunk, compressed.

    The synthetic fields of 8 time steps (the study's 4 surface and 5 x 13 level variables
    and 4 extra surface ones), repeated over ``n_times`` 6-hourly steps with 0.1 % seeded
    multiplicative noise (so chunks differ and compress like real data), and two extra
    level variables the copy leaves behind.
    """
    from aurora_xai.data.synthetic import synthetic_dataset

    path = tmp / "wb2_1deg.zarr"
    spec = SyntheticSpec(resolution=1.0, periods=(("2005-01-01", "2005-01-31"),))
    times = spec.times()[:n_times]
    base = synthetic_dataset(spec, times[:8])
    rng = np.random.default_rng(0)
    for start in range(0, n_times, 8):
        ds = base.isel(time=slice(0, len(times[start : start + 8]))).copy(deep=True)
        ds = ds.assign_coords(time=times[start : start + 8].values)
        for name in [n for n in ds.data_vars if "time" in ds[n].dims]:
            v = ds[name].values
            v *= 1 + 1e-3 * rng.standard_normal(v.shape, dtype=np.float32)
        t = ds["temperature"] - float(ds["temperature"].mean())
        noise = rng.standard_normal(t.shape, dtype=np.float32)
        ds["vertical_velocity"] = (t * 1e-3 * noise).assign_attrs(units="Pa s-1")
        ds["divergence"] = (t * 1e-6 * noise[::-1]).assign_attrs(units="s-1")
        _write_times(ds, path, start == 0)
    return path


def _wb2_store_quarter_degree(tmp: Path, n_times: int = 12) -> Path:
    """The study's grid (0.25 deg, 721 x 1440), one time per chunk, compressed: ``n_times``
    steps of the 9 variables the copy reads and 4 it leaves behind, and the static fields.

    Values are a plausible constant per variable plus seeded noise rounded to 2 decimals
    (random, so only memory and time are meaningful here, not the fields).
    """
    import xarray as xr

    from aurora_xai.data.variables import LEVELS, UNITS, WB2_NAMES

    path = tmp / "wb2_025deg.zarr"
    lat, lon = np.linspace(90, -90, 721), np.arange(1440) * 0.25
    typical = dict(zip(WB2_NAMES["surf"].values(), (280.0, 0.0, 0.0, 101000.0)))
    typical |= dict(zip(WB2_NAMES["atmos"].values(), (50000.0, 5.0, 0.0, 250.0, 0.005)))
    extra = {"total_precipitation_6hr": 0.001, "sea_surface_temperature": 290.0, "surface_pressure": 98000.0}
    typical |= extra | {"total_cloud_cover": 0.5}
    rng = np.random.default_rng(0)
    fields = {}
    for name, value in typical.items():
        atmos = name in WB2_NAMES["atmos"].values()
        shape = (1, len(LEVELS), 721, 1440) if atmos else (1, 721, 1440)
        noise = np.round(rng.standard_normal(shape, dtype=np.float32) * (abs(value) * 0.01 + 1), 2)
        dims = ("time", "level", "latitude", "longitude") if atmos else ("time", "latitude", "longitude")
        fields[name] = (dims, (value + noise).astype(np.float32), {"units": UNITS.get(name, "1")})
    static = {
        "geopotential_at_surface": 100.0 * rng.random((721, 1440), dtype=np.float32),
        "land_sea_mask": (rng.random((721, 1440)) > 0.7).astype(np.float32),
        "soil_type": rng.integers(0, 8, (721, 1440)).astype(np.float32),
    }
    coords = {"level": np.asarray(LEVELS, dtype=np.int64), "latitude": lat, "longitude": lon}
    for i, t in enumerate(pd.date_range("2005-01-01", periods=n_times, freq="6h")):
        data = {n: (d, a + np.float32(0.01 * i), at) for n, (d, a, at) in fields.items()}
        ds = xr.Dataset(data, coords=coords | {"time": [t]})
        for name, arr in static.items():
            ds[name] = (("latitude", "longitude"), arr, {"units": UNITS[name]})
        _write_times(ds, path, i == 0)
    return path


_COPY_CHILD = """
import json, sys, time
import pandas as pd, xarray as xr
from aurora_xai.data.download import download_subset

def peak_rss_mb():  # the high-water mark of this process image (exec resets it, fork does not)
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024

src, dst, parallel, copy = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4] == "1"
times = pd.DatetimeIndex(xr.open_zarr(src)["time"].values)
before = peak_rss_mb()
t0, c0 = time.perf_counter(), time.process_time()
if copy:
    download_subset(src, dst, times, parallel=parallel)
out = {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "rss_before_mb": before}
print(json.dumps(out | {"max_rss_mb": peak_rss_mb()}))
"""


def _copy_in_child(src: Path, dst: Path, parallel: bool, copy: bool = True) -> dict:
    """Run one copy in a fresh Python: its wall and CPU time and its peak RSS (VmHWM)."""
    shutil.rmtree(dst, ignore_errors=True)
    args = [sys.executable, "-c", _COPY_CHILD, str(src), str(dst), "1" if parallel else "0", "1" if copy else "0"]
    out = subprocess.run(args, stdout=subprocess.PIPE, check=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def _copy_runs(src: Path, tmp: Path, rounds: int) -> dict[str, list[dict]]:
    """Copies of ``src``, serial and with dask alternating, ``rounds`` of each."""
    runs: dict[str, list[dict]] = {"serial": [], "dask": []}
    for _ in range(rounds):
        for kind in runs:
            runs[kind].append(_copy_in_child(src, tmp / "copy.zarr", kind == "dask"))
    shutil.rmtree(tmp / "copy.zarr", ignore_errors=True)
    return runs


def _copy_summary(runs: dict[str, list[dict]], moved: float) -> dict[str, float]:
    """Median GB/s per kind and the speed-up; prints one line per kind."""
    rate = {k: moved / 1e9 / statistics.median(r["wall"] for r in v) for k, v in runs.items()}
    for kind, rs in runs.items():
        walls = ", ".join(f"{r['wall']:.1f}" for r in rs)
        print(
            f"            {kind:6s}: {rate[kind]:.3f} GB/s (wall {walls} s, CPU {statistics.median(r['cpu'] for r in rs):.1f} s);"
            f" peak RSS {max(r['max_rss_mb'] for r in rs):.0f} MB"
        )
    return rate | {"speedup": rate["dask"] / rate["serial"]}


def bench_download(tmp: Path, rounds: int = 2) -> None:
    import xarray as xr

    from aurora_xai.data.download import default_threads
    from aurora_xai.data.variables import WB2_NAMES

    used = [*WB2_NAMES["surf"].values(), *WB2_NAMES["atmos"].values()]

    def describe(src: Path, grid: str) -> float:
        ds = xr.open_zarr(src)
        on_disk = sum(f.stat().st_size for f in src.rglob("*") if f.is_file())
        moved = sum(ds[n].nbytes for n in used)
        print(
            f"            {grid} store, {on_disk / 1e9:.2f} GB on disk ({ds.sizes['time']} times, "
            f"{len(ds.data_vars)} variables); the copy reads {len(used)} of them, {moved / 1e9:.2f} GB uncompressed"
        )
        return moved

    print(
        f"download    the copy with dask ({default_threads()} threads, blocks of 32 times) against the serial copy"
        " (blocks of 8), each in a fresh Python, alternating"
    )
    base = None
    results = {}
    for grid, build in (("0.25 deg (the study's grid)", _wb2_store_quarter_degree), ("1 deg synthetic", _wb2_store)):
        src = build(tmp)
        moved = describe(src, grid)
        base = base or _copy_in_child(src, tmp / "copy.zarr", True, copy=False)
        results[grid] = _copy_summary(_copy_runs(src, tmp, rounds), moved)
        shutil.rmtree(src)
    print(
        "            speed-up dask / serial: "
        + ", ".join(f"{r['speedup']:.2f}x at {g.split(' (')[0]}" for g, r in results.items())
        + f" (target >= 2x); a child that only imports and opens a store: {base['max_rss_mb']:.0f} MB"
    )


SECTIONS = {
    "extraction": lambda tmp: bench_extraction(tmp),
    "bytes": lambda tmp: bench_bytes(tmp),
    "bootstrap": lambda tmp: bench_bootstrap(),
    "lrp": lambda tmp: bench_lrp(),
    "masks": lambda tmp: bench_masks(tmp),
    "download": lambda tmp: bench_download(tmp),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sections", nargs="*", choices=[*SECTIONS, []], help="sections to run (default: all)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    np.random.seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sections or SECTIONS:
            SECTIONS[name](Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
