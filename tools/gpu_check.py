"""One command that checks the model rules on a GPU and prints what it measured as JSON.

    python tools/gpu_check.py                        # on one CUDA GPU (H100/H200: under 8 minutes)
    python tools/gpu_check.py --out gpu_check.json   # also write the JSON there, after every section
    python tools/gpu_check.py --device cpu --tiny    # every section with the tiny model on a 3 deg grid
    python tools/gpu_check.py --dry                  # the plan (sections, settings, budgets); runs nothing
    python tools/gpu_check.py --sections store,features   # only these sections (and environment,
                                                     # which picks the device; the 0.25 deg
                                                     # sections read the store)
    python tools/gpu_check.py --device cpu --dates 2 --sections store,features
                                                     # the token sample and one SAE at 0.25 deg on a CPU

Sections, in order; each has a time budget (it decides how many timed repetitions run;
a call already started is not interrupted) and records an error in its ``error`` field
without stopping the next sections:

  environment       torch and CUDA versions, the device and its memory, TF32 flags
  store             a WeatherBench 2-schema zarr v2 store at 0.25 deg (721 x 1440), one time
                    per chunk: the synthetic generator's fields at 1 deg, repeated onto the
                    0.25 deg grid (generating at 0.25 deg takes ~30 s per time on a CPU)
  extraction        AuroraSmallPretrained's architecture (random weights) at 0.25 deg, fp32
                    and bf16 (Aurora's autocast of the backbone, model.autocast):
                    dates/s of the extraction (aurora_xai.latents.extract.extract_taps:
                    worker processes read the store, the forward pass stops at the
                    backbone tap, pooling on the device) and of the bare forward pass
                    model(batch) on the same samples (read beforehand), their ratio
                    (extraction time / forward time: below 1 the extraction is faster;
                    aurora_xai.benchmark.ratio, new / reference, as tools/benchmark.py),
                    and peak GPU memory
  lrp               compute_relevance (CP-LRP, the study's latent target: backbone tokens over
                    Europe) at 0.25 deg with the small architecture: time, peak GPU memory and
                    closure error with checkpointing and without, and how far the two
                    relevances differ
  perturbation      masked forecasts per second at 0.25 deg, the batch size chosen as
                    perturbation.batch_size: auto chooses it
  interventions     pushed forecasts per second at 0.25 deg (the backbone's tokens over Europe
                    pushed along random directions, interventions.batch_size: auto's choice;
                    with 1, the unpushed sample has a pass of its own)
  agreement         the tiny model on the 3 deg synthetic store: pooled features and LRP
                    relevance on the device against the CPU (largest difference relative to
                    the largest magnitude)
  validation        the attribution checks' cost at 0.25 deg with the small architecture,
                    sized as config/study.yaml sizes them (validation.*, its first case's
                    box and target, float64 as the rule computes, attribution.checkpointing):
                    one relevance pass of each kind of method timed (LRP, the gradient),
                    one searchlight chunk of validation.searchlight_batch_size perturbed
                    copies timed, the passes each check needs counted (the cascade:
                    stages + 1 per method; the searchlight: 2 x blocks x groups; data
                    randomisation: one more pass per method under a second checkpoint),
                    and each check's time estimated from them
  features          the extraction with the token sink (the backbone tap's token sample,
                    features.sample's default: 16,384 tokens a date, written to zarr) against
                    the pooled extraction alone, on the same dates (fp32, small architecture):
                    dates/s of each, their ratio, tokens/s written; then one epoch of a TopK
                    SAE (expansion 8, k 32) on those tokens streamed from the store on the
                    device: training tokens/s and peak memory
  extraction_large  the extraction's numbers in bf16 for the 1.3B architecture
                    (AuroraPretrained), if it fits (last: the likeliest not to)

With ``--tiny`` every section runs the tiny model on the 3 deg synthetic store (the
"large" model too), in a few seconds on a CPU: it checks the tool, not the GPU.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

#: Seconds each section may take on the full check (the sum stays under 8 minutes).
BUDGETS_S: dict[str, float] = {
    "environment": 5,
    "store": 60,
    "extraction": 115,
    "extraction_large": 75,
    "lrp": 85,
    "perturbation": 35,
    "interventions": 35,
    "agreement": 25,
    "validation": 25,
    "features": 15,
}
#: The whole check stops starting sections after this many seconds.
TOTAL_BUDGET_S = 475.0
#: What each section reports besides ``status``, ``wall_s``, ``budget_s`` and ``error``.
RESULT_KEYS: dict[str, tuple[str, ...]] = {
    "environment": ("python", "torch", "aurora", "cuda_available", "device", "device_name", "device_memory_gb"),
    "store": ("grid", "n_times", "n_dates", "bytes_on_disk", "write_s"),
    "extraction": ("model", "grid", "n_dates", "workers", "fp32", "bf16"),
    "extraction_large": ("model", "grid", "n_dates", "workers", "bf16"),
    "lrp": ("model", "grid", "target", "checkpointed", "unchecked", "relevance_max_rel_diff"),
    "perturbation": ("model", "grid", "batch_size_auto", "per_copy_gb", "available_gb", "n_masks", "masks_per_s"),
    "interventions": (
        "model",
        "grid",
        "batch_size_auto",
        "per_copy_gb",
        "available_gb",
        "n_pushes",
        "pushes_per_s",
        "finite",
    ),
    "agreement": ("model", "grid", "devices", "pooled_max_rel_diff", "relevance_max_rel_diff", "closure_error"),
    "validation": (
        "model",
        "grid",
        "case",
        "target",
        "dtype",
        "checkpointing",
        "n_stages",
        "passes",
        "searchlight",
        "estimate_s",
    ),
    "features": (
        "model",
        "grid",
        "n_dates",
        "pooled_dates_per_s",
        "tokens_dates_per_s",
        "ratio",
        "tokens_written",
        "tokens_per_s",
        "sae_tokens",
        "sae_channels",
        "sae_tokens_per_s",
        "sae_peak_memory_gb",
    ),
}
#: Keys of each precision's entry in the extraction sections.
EXTRACTION_KEYS = ("extraction_dates_per_s", "forward_dates_per_s", "ratio", "peak_memory_gb", "build_s")
#: Keys of each LRP variant.
LRP_KEYS = ("time_s", "peak_memory_gb", "closure_error", "relevance_sum")

#: The embedded default config, whose named boxes (``regions``, their one copy) the check pools and masks.
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"
#: The study's protocol, whose ``validation`` section sizes the checks' section.
STUDY_CONFIG = DEFAULT_CONFIG.with_name("study.yaml")


def default_regions() -> dict[str, Any]:
    """The named boxes of :data:`DEFAULT_CONFIG` as regions (``globe`` too)."""
    from aurora_xai.regions import regions_from_config
    from aurora_xai.settings import load_config

    return regions_from_config(load_config(DEFAULT_CONFIG)["regions"])


class Budget:
    """Seconds left to a section (and to the whole check)."""

    def __init__(self, seconds: float, deadline: float) -> None:
        self.start = time.perf_counter()
        self.end = min(self.start + seconds, deadline)

    def left(self) -> float:
        return self.end - time.perf_counter()

    def allows(self, seconds: float) -> bool:
        """Whether a step expected to take ``seconds`` still fits."""
        return self.left() > seconds


def _gb(n_bytes: int) -> float:
    return round(n_bytes / 1e9, 3)


def _rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute difference relative to the largest magnitude of ``b``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


# --------------------------------------------------------------------------------------
# The check's context: device, mode, the store, models.
# --------------------------------------------------------------------------------------


class Check:
    """What the sections share: options, the store, built models, the report."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tiny = bool(args.tiny)
        self.resolution = 3.0 if self.tiny else 0.25
        self.small = "tiny" if self.tiny else "small-pretrained"
        self.large = "tiny" if self.tiny else "pretrained"
        self.n_dates = int(getattr(args, "dates", 0) or 0) or (3 if self.tiny else 7)
        self.workers = 0 if self.tiny else max(1, min(4, (os.cpu_count() or 2) - 1))
        self.tmp = Path(tempfile.mkdtemp(prefix="gpu_check_"))
        self.store: Path | None = None
        self.times: list[Any] = []
        self.models: dict[str, Any] = {}
        self.device: Any = None

    def grid(self) -> list[int]:
        return [round(180 / self.resolution) + 1, round(360 / self.resolution)]

    def regions(self) -> dict[str, Any]:
        boxes = default_regions()
        return {"us": boxes["us"], "europe": boxes["europe"]}

    def source(self):
        from aurora_xai.data.era5 import open_source

        if self.store is None:
            raise RuntimeError("no store: the store section failed")
        return open_source("weatherbench2", str(self.store))

    def model(self, name: str, autocast: bool = False):
        """The model ``name`` on the device (built once; bf16 autocast toggled as Aurora's
        constructor sets it)."""
        from aurora_xai.model import ModelSpec, build_model

        if name not in self.models:
            t0 = time.perf_counter()
            self.models[name] = build_model(
                ModelSpec.from_schema(name=name, random_weights=name != "tiny"), device=self.device
            )
            self.models[name].build_s = time.perf_counter() - t0
        model = self.models[name]
        model.autocast = model.autocast_backbone = bool(autocast)
        return model

    def drop(self, name: str) -> None:
        import torch

        self.models.pop(name, None)
        if torch.device(self.device).type == "cuda":
            torch.cuda.empty_cache()


# --------------------------------------------------------------------------------------
# Sections.
# --------------------------------------------------------------------------------------


def section_environment(check: Check, budget: Budget) -> dict[str, Any]:
    import aurora
    import torch

    from aurora_xai.model import resolve_device

    check.device = resolve_device(check.args.device)
    out: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "aurora": getattr(aurora, "__version__", "unknown"),
        "cuda_available": torch.cuda.is_available(),
        "device": str(check.device),
        "device_name": platform.processor() or platform.machine(),
        "device_memory_gb": None,
        "cpu_count": os.cpu_count(),
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
    }
    if check.device.type == "cuda":
        props = torch.cuda.get_device_properties(check.device)
        out["device_name"] = props.name
        out["device_memory_gb"] = round(props.total_memory / 1e9, 1)
        out["cuda"] = torch.version.cuda
    else:
        import psutil

        out["device_memory_gb"] = round(psutil.virtual_memory().total / 1e9, 1)
    return out


def _write_store(check: Check) -> Path:
    """The store of the check: the generator's own grid with ``--tiny``, else its 1 deg
    fields repeated onto 0.25 deg (nearest cell), written one time per chunk."""
    import pandas as pd

    from aurora_xai.data.synthetic import SyntheticSpec, synthetic_dataset, write_synthetic_store

    days = ("2005-01-14", "2005-01-15")
    path = check.tmp / f"era5_{check.resolution:g}deg.zarr"
    if check.tiny:
        spec = SyntheticSpec.from_schema(resolution=check.resolution, periods=(days,), extra_variables=False)
        return write_synthetic_store(spec, path)
    spec = SyntheticSpec.from_schema(resolution=1.0, periods=(days,))
    times = spec.times()[: check.n_dates + 1]
    coarse = synthetic_dataset(spec, pd.DatetimeIndex(times))
    lat = np.linspace(90.0, -90.0, 721)
    lon = np.arange(1440) * 0.25
    rows = np.rint(90.0 - lat).astype(int)
    cols = np.rint(lon).astype(int) % 360
    fine = coarse.isel(latitude=rows, longitude=cols).assign_coords(latitude=lat, longitude=lon)
    fine = fine.assign_attrs(title="1 deg synthetic fields repeated onto 0.25 deg (gpu_check)")
    encoding = {n: {"chunks": (1,) + fine[n].shape[1:]} for n in fine.data_vars if "time" in fine[n].dims}
    encoding["time"] = {"units": f"hours since {times[0]:%Y-%m-%d %H:%M:%S}", "dtype": "int64"}
    fine.to_zarr(path, mode="w", zarr_format=2, consolidated=True, encoding=encoding)
    return path


def section_store(check: Check, budget: Budget) -> dict[str, Any]:
    import pandas as pd
    import xarray as xr

    t0 = time.perf_counter()
    check.store = _write_store(check)
    write_s = time.perf_counter() - t0
    with xr.open_zarr(check.store) as ds:
        steps = pd.DatetimeIndex(ds["time"].values)
    check.times = list(steps[1 : check.n_dates + 1])
    return {
        "grid": check.grid(),
        "n_times": len(steps),
        "n_dates": len(check.times),
        "bytes_on_disk": sum(f.stat().st_size for f in check.store.rglob("*") if f.is_file()),
        "write_s": round(write_s, 2),
    }


def _extraction(check: Check, budget: Budget, model_name: str, precisions: tuple[str, ...]) -> dict[str, Any]:
    import torch

    from aurora_xai.benchmark import measure, ratio, sync, timed
    from aurora_xai.latents.extract import extract_taps
    from aurora_xai.latents.loading import batch_to

    source = check.source()
    times = check.times
    out: dict[str, Any] = {
        "model": model_name,
        "grid": check.grid(),
        "n_dates": len(times),
        "workers": check.workers,
    }
    batches = [batch_to(b, check.device) for b in source.batches(times)]  # inputs on the device
    for precision in precisions:
        res: dict[str, Any] = {}
        out[precision] = res
        if not budget.allows(5):
            res["skipped"] = "section time budget spent"
            continue
        model = check.model(model_name, autocast=precision == "bf16")
        res["build_s"] = round(model.build_s, 2)
        with torch.inference_mode():
            model(batches[0])  # warm-up
            sync(check.device)

            def forward_all(m: Any = model) -> None:
                for b in batches:
                    m(b)

            _, forward_s, peak = measure(forward_all, check.device)
            res["peak_memory_gb"] = _gb(peak)
        res["forward_dates_per_s"] = round(len(batches) / forward_s, 4)
        kwargs = dict(device=check.device, num_workers=check.workers)
        extract_taps(source, model, times[:1], ["backbone"], check.regions(), **kwargs)  # warm-up
        if not budget.allows(forward_s * 1.5):
            res["skipped_extraction"] = "section time budget spent"
            continue
        _, extraction_s = timed(
            functools.partial(extract_taps, source, model, times, ["backbone"], check.regions(), **kwargs), check.device
        )
        res["extraction_dates_per_s"] = round(len(times) / extraction_s, 4)
        res["ratio"] = round(ratio(extraction_s, forward_s), 4)
    return out


def section_extraction(check: Check, budget: Budget) -> dict[str, Any]:
    return _extraction(check, budget, check.small, ("fp32", "bf16"))


def section_extraction_large(check: Check, budget: Budget) -> dict[str, Any]:
    if not check.tiny:
        check.drop(check.small)  # room for the 1.3B model
    try:
        return _extraction(check, budget, check.large, ("bf16",))
    finally:
        if not check.tiny:
            check.drop(check.large)


def _batch_on_device(check: Check):
    from aurora_xai.latents.loading import batch_to

    return batch_to(check.source().batch(check.times[0]), check.device)


def section_lrp(check: Check, budget: Budget) -> dict[str, Any]:
    import torch

    from aurora_xai.attribution.methods import compute_relevance
    from aurora_xai.attribution.targets import LatentTarget
    from aurora_xai.benchmark import measure

    model = check.model(check.small)
    batch = _batch_on_device(check)
    target = LatentTarget("backbone", check.regions()["europe"])
    out: dict[str, Any] = {"model": check.small, "grid": check.grid(), "target": target.describe()}
    relevances = {}
    for name, level in (("checkpointed", True), ("unchecked", "none")):
        res: dict[str, Any] = {"checkpointing": str(level)}
        out[name] = res
        if not budget.allows(5):
            res["skipped"] = "section time budget spent"
            continue
        try:
            rel, seconds, peak = measure(
                lambda level=level: compute_relevance(
                    model, batch, target, method="lrp", attention_rule="cp", checkpointing=level
                ),
                check.device,
            )
            res["peak_memory_gb"] = _gb(peak)
            res["time_s"] = round(seconds, 3)
            res["closure_error"] = float(rel.attrs.get("closure_error", float("nan")))
            res["relevance_sum"] = float(rel.attrs.get("relevance_sum", float("nan")))
            relevances[name] = np.concatenate([rel[v].values.ravel() for v in sorted(rel.data_vars)])
        except torch.cuda.OutOfMemoryError as err:
            res["error"] = f"out of memory: {str(err).splitlines()[0]}"
            torch.cuda.empty_cache()
    out["relevance_max_rel_diff"] = (
        _rel_diff(relevances["unchecked"], relevances["checkpointed"]) if len(relevances) == 2 else None
    )
    return out


def _copies(check: Check, max_size: int, key: str) -> tuple[Any, Any, np.ndarray, np.ndarray, int, dict[str, Any]]:
    """What the sections of many forecast copies share: the small model, the first sample
    on the device, its latitudes and longitudes, the batch size ``key: auto`` chooses
    (:func:`aurora_xai.perturbation.forward.memory_batch_size`, from one unmodified forward
    pass of the sample) and the report's entries on it."""
    import torch

    from aurora_xai.memory import available_bytes, peak_bytes
    from aurora_xai.perturbation.forward import copy_input_bytes, memory_batch_size

    model = check.model(check.small)
    batch = _batch_on_device(check)
    with torch.no_grad():
        _, peak = peak_bytes(lambda: model(batch), check.device)
    per_copy = peak + copy_input_bytes(batch)
    free = available_bytes(check.device)
    n = memory_batch_size(per_copy, max_size, check.device, key, available=free)
    lat = batch.metadata.lat.detach().cpu().numpy()
    lon = batch.metadata.lon.detach().cpu().numpy()
    return (
        model,
        batch,
        lat,
        lon,
        n,
        {
            "model": check.small,
            "grid": check.grid(),
            "batch_size_auto": n,
            "per_copy_gb": round(per_copy / 1e9, 3),
            "available_gb": round(free / 1e9, 3),
        },
    )


def _timed_passes(check: Check, budget: Budget, run: Callable[[int], Any]) -> tuple[Any, int, float]:
    """``(result, passes, seconds)`` of ``run(passes)``: ``run(1)`` first as a warm-up,
    then two passes timed if three warm-ups' time is left in the budget, else one."""
    from aurora_xai.benchmark import timed

    _, warm_s = timed(lambda: run(1), check.device)
    passes = 2 if budget.allows(3 * warm_s) else 1
    out, seconds = timed(lambda: run(passes), check.device)
    return out, passes, seconds


def section_perturbation(check: Check, budget: Budget) -> dict[str, Any]:
    from aurora_xai.perturbation.apply import normalisation_fill
    from aurora_xai.perturbation.forward import masked_fields
    from aurora_xai.perturbation.masks import n_cells, random_scattered_masks, rng_for, sector_cells

    model, batch, lat, lon, n, out = _copies(check, 4 if check.tiny else 64, "perturbation.batch_size")
    sector = sector_cells(default_regions()["north_atlantic"], lat, lon)
    masks = random_scattered_masks(sector, n_cells(int(sector.sum()), 1.0), 2 * n, rng_for(0, "gpu_check"))
    fill = normalisation_fill(batch, model.surf_stats)
    _, passes, seconds = _timed_passes(
        check, budget, lambda p: masked_fields(model, batch, fill, masks[: p * n], "msl", batch_size=n)
    )
    return {**out, "n_masks": passes * n, "masks_per_s": round(passes * n / seconds, 4)}


def section_interventions(check: Check, budget: Budget) -> dict[str, Any]:
    import torch

    from aurora_xai.interventions.push import quantity_weights, region_token_mask, responses
    from aurora_xai.latents.geometry import cropped_grid
    from aurora_xai.latents.taps import capture_latents

    model, batch, lat, lon, n, out = _copies(check, 4 if check.tiny else 32, "interventions.batch_size")
    europe = check.regions()["europe"]
    token_mask, (c, _, _) = region_token_mask(model, "backbone", lat, lon, europe)
    weights = quantity_weights(europe, cropped_grid(lat, model.encoder.patch_size)[0], lon)
    with capture_latents(model, "backbone") as box, torch.no_grad():
        model(batch)
    per_pass = max(n - 1, 1)  # a pass holds the unpushed copy and n - 1 pushes (n = 1: one push)
    shifts = np.random.default_rng(0).standard_normal((2 * per_pass, c, box["tokens"].shape[-1]))
    (response, _), passes, seconds = _timed_passes(
        check,
        budget,
        lambda p: responses(model, batch, "backbone", token_mask, shifts[: p * per_pass], ["msl", "2t"], weights, n),
    )
    pushes = passes * per_pass
    return {
        **out,
        "n_pushes": pushes,
        "pushes_per_s": round(pushes / seconds, 4),
        "finite": bool(np.isfinite(response).all()),
    }


def section_agreement(check: Check, budget: Budget) -> dict[str, Any]:
    import pandas as pd
    import torch

    from aurora_xai.attribution.methods import compute_relevance
    from aurora_xai.attribution.targets import LatentTarget
    from aurora_xai.data.era5 import open_source
    from aurora_xai.data.synthetic import SyntheticSpec, write_synthetic_store
    from aurora_xai.latents.extract import extract_taps
    from aurora_xai.latents.loading import batch_to
    from aurora_xai.model import ModelSpec, build_model

    path = check.tmp / "era5_3deg.zarr"
    if not path.exists():
        spec = SyntheticSpec.from_schema(resolution=3.0, periods=(("2005-01-14", "2005-01-14"),), extra_variables=False)
        write_synthetic_store(spec, path)
    source = open_source("synthetic", str(path))
    times = [pd.Timestamp("2005-01-14T06")]
    target = LatentTarget("backbone", check.regions()["europe"])
    pooled, relevance, closure = {}, {}, {}
    for key, dev in ((str(check.device), torch.device(check.device)), ("cpu (reference)", torch.device("cpu"))):
        model = build_model(ModelSpec.from_schema(name="tiny", seed=0), device=dev)
        ds = extract_taps(source, model, times, ["backbone"], check.regions(), device=dev)["backbone"]
        pooled[key] = ds["pooled"].values
        rel = compute_relevance(model, batch_to(source.batch(times[0]), dev), target, method="lrp")
        relevance[key] = np.concatenate([rel[v].values.ravel() for v in sorted(rel.data_vars)])
        closure[key] = float(rel.attrs.get("closure_error", float("nan")))
    a, b = list(pooled)
    return {
        "model": "tiny",
        "grid": [61, 120],
        "devices": [a, b],
        "pooled_max_rel_diff": _rel_diff(pooled[a], pooled[b]),
        "relevance_max_rel_diff": _rel_diff(relevance[a], relevance[b]),
        "closure_error": closure,
    }


def _one_cell_region(lat: np.ndarray, lon: np.ndarray, box: Any) -> Any:
    """A box around the grid cell nearest ``box``'s centre, a quarter cell wide (one searchlight block)."""
    from aurora_xai.regions import Region

    la = float(lat[np.argmin(np.abs(lat - 0.5 * (box.lat_min + box.lat_max)))])
    lo = float(lon[np.argmin(np.abs(lon - (box.lon_min % 360.0)))])
    d = 0.25 * float(abs(lat[1] - lat[0]))
    return Region("one_cell", la - d, la + d, lo - d, lo + d)


def section_validation(check: Check, budget: Budget) -> dict[str, Any]:
    """The attribution checks' cost (validation.*, sized as config/study.yaml sizes them)."""
    import math

    import torch

    from aurora_xai.attribution.cascade import aurora_stages
    from aurora_xai.attribution.searchlight import searchlight_reference, searchlight_size
    from aurora_xai.attribution.targets import ForecastTarget
    from aurora_xai.attribution.validation import variant, widened
    from aurora_xai.benchmark import measure
    from aurora_xai.settings import Settings, load_config

    config = load_config(DEFAULT_CONFIG, STUDY_CONFIG)
    settings = Settings(config)
    val = settings.validation
    case = (config["validation"]["cases"] or config["attribution"]["cases"])[0]
    checkpointing = config["attribution"]["checkpointing"]
    event = settings.case_event(case)
    model = check.model(check.small)
    batch = _batch_on_device(check)
    target = ForecastTarget(val.target_variable, val.target_level, event.box)
    n_stages = len(aurora_stages(model))
    out: dict[str, Any] = {
        "model": check.small,
        "grid": check.grid(),
        "case": case,
        "target": target.describe(),
        "dtype": "float64",
        "checkpointing": str(checkpointing),
        "n_stages": n_stages,
    }
    # one pass of each kind: LRP (its three attention rules taken to cost alike) and the gradient
    # (input x gradient and saliency are one gradient each; integrated gradients ig_steps)
    passes: dict[str, Any] = {}
    out["passes"] = passes

    def time_pass(label: str) -> None:
        if not budget.allows(3):
            passes[label] = {"skipped": "section time budget spent"}
            return
        try:
            _, seconds, peak = measure(
                lambda: variant(label).relevance(
                    model,
                    batch,
                    target,
                    epsilon=val.epsilon,
                    n_steps=val.ig_steps,
                    dtype=torch.float64,
                    checkpointing=checkpointing,
                ),
                check.device,
            )
            passes[label] = {"time_s": round(seconds, 3), "peak_memory_gb": _gb(peak)}
        except torch.cuda.OutOfMemoryError as err:
            passes[label] = {"error": f"out of memory: {str(err).splitlines()[0]}"}
            torch.cuda.empty_cache()

    # the LRP pass first, then the searchlight chunk (cheap), then the gradient pass
    time_pass("lrp_cp")
    # the searchlight: its size over the case's widened box, one block's passes timed
    lat = batch.metadata.lat.detach().cpu().numpy().astype(float)
    lon = batch.metadata.lon.detach().cpu().numpy().astype(float)
    wide = widened(event.box, val.searchlight_margin)
    n_blocks, n_groups = searchlight_size(
        batch, patch=val.searchlight_patch, groups=val.searchlight_groups, region=wide
    )
    n_passes = 2 * n_blocks * n_groups
    light: dict[str, Any] = {
        "patch": val.searchlight_patch,
        "groups": val.searchlight_groups,
        "margin_deg": val.searchlight_margin,
        "batch_size": val.searchlight_batch_size,
        "n_blocks": n_blocks,
        "n_groups": n_groups,
        "n_passes": n_passes,
    }
    out["searchlight"] = light
    chunk_s = None
    if budget.allows(3):
        try:
            one = _one_cell_region(lat, lon, event.box)
            ref, seconds, peak = measure(
                lambda: searchlight_reference(
                    model,
                    batch,
                    target,
                    patch=val.searchlight_patch,
                    groups=val.searchlight_groups,
                    region=one,
                    batch_size=val.searchlight_batch_size,
                ),
                check.device,
            )
            chunks = 1 + math.ceil(int(ref.attrs["n_passes"]) / val.searchlight_batch_size)  # + the clean pass
            chunk_s = seconds / chunks
            light.update(
                timed_copies=int(ref.attrs["n_passes"]),
                time_s=round(seconds, 3),
                per_chunk_s=round(chunk_s, 4),
                peak_memory_gb=_gb(peak),
            )
        except torch.cuda.OutOfMemoryError as err:
            light["error"] = f"out of memory: {str(err).splitlines()[0]}"
            torch.cuda.empty_cache()
    else:
        light["skipped"] = "section time budget spent"

    time_pass("input_x_gradient")
    lrp_s = passes.get("lrp_cp", {}).get("time_s")
    grad_s = passes.get("input_x_gradient", {}).get("time_s")
    # a kind not timed (budget spent, out of memory) is estimated as the other's time
    if grad_s is None and lrp_s is not None:
        grad_s = lrp_s
        passes["input_x_gradient"]["estimated_as"] = "lrp_cp"
    elif lrp_s is None and grad_s is not None:
        lrp_s = grad_s
        passes["lrp_cp"]["estimated_as"] = "input_x_gradient"

    def pass_s(label: str) -> float | None:
        kind = variant(label).method
        if kind == "lrp":
            return lrp_s
        if grad_s is None:
            return None
        return grad_s * (val.ig_steps if kind == "integrated_gradients" else 1)

    def total(labels: Any, times: int = 1) -> float | None:
        each = [pass_s(label) for label in labels]
        return None if any(t is None for t in each) else round(times * sum(each), 1)

    estimate: dict[str, Any] = {
        "maps": total(val.methods),
        # the trained model's map again, then one map per randomised stage
        "cascade": total(val.cascade_methods, n_stages + 1),
        "searchlight": None
        if chunk_s is None
        else round(math.ceil(n_passes / val.searchlight_batch_size) * chunk_s, 1),
        # one more relevance set per method under the shuffled-target checkpoint (and the
        # trained model's again: the rule computes both)
        "data_randomisation": total(val.cascade_methods, 2),
    }
    parts = [v for k, v in estimate.items() if k != "data_randomisation"]
    estimate["validate_attribution"] = None if any(v is None for v in parts) else round(sum(parts), 1)
    out["estimate_s"] = estimate
    return out


def section_features(check: Check, budget: Budget) -> dict[str, Any]:
    import torch

    from aurora_xai.benchmark import measure, ratio, timed
    from aurora_xai.features.sae import SAEConfig, train_sae
    from aurora_xai.features.tokens import TokenSample, TokenSink, TokenStream
    from aurora_xai.latents.extract import extract_taps

    source = check.source()
    times = check.times
    model = check.model(check.small)
    kwargs = dict(device=check.device, num_workers=check.workers)
    extract_taps(source, model, times[:1], ["backbone"], check.regions(), **kwargs)  # warm-up
    _, pooled_s = timed(
        functools.partial(extract_taps, source, model, times, ["backbone"], check.regions(), **kwargs), check.device
    )
    path = check.tmp / "tokens" / "backbone.zarr"

    def with_sink() -> int:
        with TokenSink({"backbone": path}, TokenSample()) as sink:
            extract_taps(source, model, times, ["backbone"], check.regions(), token_sink=sink, **kwargs)
        return sink.writers["backbone"].n_tokens

    written, tokens_s = timed(with_sink, check.device)
    out: dict[str, Any] = {
        "model": check.small,
        "grid": check.grid(),
        "n_dates": len(times),
        "pooled_dates_per_s": round(len(times) / pooled_s, 4),
        "tokens_dates_per_s": round(len(times) / tokens_s, 4),
        "ratio": round(ratio(tokens_s, pooled_s), 4),
        "tokens_written": int(written),
        "tokens_per_s": round(written / tokens_s, 1),
    }
    stream = TokenStream(path, batch_size=4096, seed=0)
    cfg = SAEConfig(expansion=8, k=32, epochs=1, seed=0)
    run, sae_s, peak = measure(
        functools.partial(train_sae, stream, stream.n_channels, cfg, device=check.device), check.device
    )
    if torch.device(check.device).type == "cuda":
        torch.cuda.empty_cache()
    out.update(
        sae_tokens=int(run.tokens_seen),
        sae_channels=int(stream.n_channels),
        sae_tokens_per_s=round(run.tokens_seen / sae_s, 1),
        sae_peak_memory_gb=_gb(peak),
    )
    return out


SECTIONS: dict[str, Callable[[Check, Budget], dict[str, Any]]] = {
    "environment": section_environment,
    "store": section_store,
    "extraction": section_extraction,
    "lrp": section_lrp,
    "perturbation": section_perturbation,
    "interventions": section_interventions,
    "agreement": section_agreement,
    "validation": section_validation,
    "features": section_features,
    "extraction_large": section_extraction_large,  # last: the likeliest not to fit
}


# --------------------------------------------------------------------------------------
# Running and reporting.
# --------------------------------------------------------------------------------------


def _write(report: dict[str, Any], path: str | None) -> None:
    if not path:
        return
    dst = Path(path)
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str))
    tmp.replace(dst)


def plan(args: argparse.Namespace) -> dict[str, Any]:
    """The report of ``--dry``: every section with its budget and the keys it reports."""
    tiny = bool(args.tiny)
    return {
        "tool": "gpu_check",
        "mode": "dry",
        "device": args.device,
        "total_budget_s": args.budget_s,
        "sections": {
            name: {
                "status": "planned",
                "budget_s": BUDGETS_S[name],
                "keys": list(RESULT_KEYS[name]),
                "grid": [61, 120] if tiny or name == "agreement" else [721, 1440],
            }
            for name in SECTIONS
        },
        "extraction_keys": list(EXTRACTION_KEYS),
        "lrp_keys": list(LRP_KEYS),
    }


def _chosen_sections(args: argparse.Namespace) -> list[str]:
    """The sections ``--sections`` names (all when empty), in the check's order, with
    ``environment`` always first (it chooses the device the others use).

    Raises:
        SystemExit: a name that is not a section (argparse's error, naming it).
    """
    names = [n for n in str(getattr(args, "sections", "") or "").split(",") if n]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise SystemExit(f"gpu_check: unknown sections {unknown}; choose from {list(SECTIONS)}")
    return [n for n in SECTIONS if not names or n in names or n == "environment"]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run every chosen section in order; a failing section records its error and the next runs."""
    import shutil

    import torch

    torch.manual_seed(0)
    check = Check(args)
    start = time.perf_counter()
    deadline = start + args.budget_s
    report: dict[str, Any] = {
        "tool": "gpu_check",
        "mode": "tiny" if check.tiny else "full",
        "device": args.device,
        "started_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "total_budget_s": args.budget_s,
        "sections": {},
    }
    chosen = _chosen_sections(args)
    try:
        for name, fn in SECTIONS.items():
            if name not in chosen:
                continue
            share = BUDGETS_S[name] * (args.budget_s / TOTAL_BUDGET_S)
            entry: dict[str, Any] = {"status": "skipped", "budget_s": round(share, 1)}
            report["sections"][name] = entry
            if time.perf_counter() >= deadline:
                entry["error"] = "the check's total time budget was spent"
                continue
            t0 = time.perf_counter()
            try:
                entry.update(fn(check, Budget(share, deadline)))
                entry["status"] = "ok"
            except Exception as err:  # recorded; the next section runs
                entry["status"] = "error"
                entry["error"] = f"{type(err).__name__}: {err}"
                entry["traceback"] = traceback.format_exc(limit=6)
            entry["wall_s"] = round(time.perf_counter() - t0, 2)
            print(f"gpu_check: {name} {entry['status']} in {entry['wall_s']} s", file=sys.stderr, flush=True)
            _write(report, args.out)
    finally:
        shutil.rmtree(check.tmp, ignore_errors=True)
    report["wall_s"] = round(time.perf_counter() - start, 2)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto | cuda | cpu (default auto)")
    parser.add_argument("--tiny", action="store_true", help="tiny model on a 3 deg grid (checks the tool)")
    parser.add_argument("--dry", action="store_true", help="print the plan and run nothing")
    parser.add_argument(
        "--dates", type=int, default=0, help="dates in the store and each timed extraction (default 7; 3 with --tiny)"
    )
    parser.add_argument(
        "--sections", default="", help="comma-separated sections to run (default: all), e.g. store,features"
    )
    parser.add_argument("--out", default="", help="also write the JSON to this file (after every section)")
    parser.add_argument("--budget-s", type=float, default=TOTAL_BUDGET_S, help="total time budget (s)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    report = plan(args) if args.dry else run(args)
    _write(report, args.out)
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
