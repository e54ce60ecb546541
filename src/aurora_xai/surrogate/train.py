"""Training the surrogate: deterministic for a seed on a CPU, resumable.

The model is a :class:`~aurora_xai.surrogate.architecture.ResidualAurora`: it learns the
6-hour change in Aurora's normalised units (the model's own ``surf_stats`` and
``aurora.normalisation``), each variable's increment scaled by ``c_v``, the standard
deviation of its 6-hour change in those units over up to 64 training samples spread
evenly over the period (:func:`increment_scales`, set once before the first step, which
also starts each trend coefficient at the least-squares regression of the change on the
last change over those samples). The
loss is the mean squared error of the forecast in normalised units divided by ``c_v**2``
(the error of the unit-variance increment), weighted by the exact area of each grid cell
(:func:`aurora_xai.grid.lat_weights`), averaged over every surface variable and every
atmospheric variable and level alike, on Aurora's cropped grid.

Each step draws ``batch_size`` distinct training times from a generator seeded by
``(seed, step)`` alone, so a step's samples do not depend on the steps before it. The
optimiser is AdamW with a linear warm-up and a cosine decay to a tenth of the peak
learning rate. Every ``checkpoint_every`` steps (and at the end) the training state
(weights, optimiser and scheduler states, step, losses, torch's random state, and a
fingerprint of the settings and samples) is written atomically; a rerun with the same
fingerprint continues from it, and ends with the weights of an uninterrupted run
(``torch.use_deterministic_algorithms`` on a CPU, the same number of threads).

The data-randomisation control (``shuffle_seed``) trains exactly so, with the same
steps, samples drawn and settings, but each input ``(t - 6 h, t)`` paired with another
training time's target (:func:`~aurora_xai.surrogate.samples.shuffled_target_times`),
the increment scales and trend starting values included: the targets keep their
distribution, but nothing about them is predictable from the inputs, so the model
cannot learn F.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..grid import lat_weights
from ..io import atomic_path
from ..logs import duration_text
from ..model import ModelSpec, build_model, forecast_step
from .samples import read_samples, shuffled_target_times, training_times
from .settings import SurrogateSettings

__all__ = [
    "TrainResult",
    "deterministic",
    "increment_scales",
    "lr_factor",
    "normalised_stack",
    "save_checkpoint",
    "surrogate_loss",
    "train_surrogate",
]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """``torch.use_deterministic_algorithms(True)`` inside the block, restored on exit."""
    import torch

    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def lr_factor(step: int, settings: SurrogateSettings) -> float:
    """Learning rate of step ``step`` (0-based) as a fraction of the peak: linear warm-up
    over ``warmup_steps``, then a cosine from 1 to 0.1 at the last step."""
    warm = settings.warmup_steps
    if step < warm:
        return (step + 1) / warm
    span = max(settings.steps - warm - 1, 1)
    frac = min((step - warm) / span, 1.0)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac))


def normalised_stack(batch: Any, surf_stats: Mapping[str, Any], patch_size: int) -> Any:
    """The last step of ``batch`` in Aurora's normalised units on its cropped grid:
    ``(B, F, H, W)`` with ``F`` the surface variables, then each atmospheric variable's
    levels (in the batch's order)."""
    import torch

    b = batch.normalise(surf_stats=dict(surf_stats)).crop(patch_size=patch_size)
    parts = [b.surf_vars[k][:, -1:] for k in b.surf_vars]
    parts += [b.atmos_vars[k][:, -1] for k in b.atmos_vars]
    return torch.cat([p.float() for p in parts], dim=1)


def field_scales(model: Any, batch: Any) -> Any:
    """The increment scale ``c_v`` of each field of :func:`normalised_stack` of ``batch``
    (surface variables, then each atmospheric variable's levels): ``(F,)``."""
    import torch

    from .architecture import level_index

    dec = model.decoder
    cs = dict(zip(dec.surf_vars, dec.surf_increment_scale))
    idx = level_index(batch.metadata.atmos_levels)
    ca = {k: c[idx] for k, c in zip(dec.atmos_vars, dec.atmos_increment_scale)}
    return torch.cat([torch.stack([cs[k] for k in batch.surf_vars])] + [ca[k] for k in batch.atmos_vars])


def increment_scales(
    model: Any,
    source: Any,
    times: pd.DatetimeIndex,
    step: pd.Timedelta,
    n: int = 64,
    target_times: pd.DatetimeIndex | None = None,
) -> None:
    """Set the model's increment scales and the starting values of its trend coefficients
    (see the module docstring): per surface variable and per atmospheric variable and
    level, over ``n`` of ``times`` spread evenly, the area-weighted RMS of the 6-hour change
    in normalised units (at least 1e-3) and the least-squares coefficient of the change on
    the last change (``sum(change * last) / sum(last**2)``). ``target_times``: the time
    whose target each of ``times`` is paired with (default: its own)."""
    import torch

    from .architecture import level_index
    from .samples import even_pick

    times = pd.DatetimeIndex(times)
    paired = times if target_times is None else pd.DatetimeIndex(target_times)
    picked = even_pick(times, n)
    picked_targets = paired[times.get_indexer(picked)]
    stats = dict(getattr(model, "surf_stats", {}) or {})
    patch = int(model.patch_size)
    sums: dict[str, Any] = {}
    cross: dict[str, Any] = {}  # per field: sum of (change x last change), sum of (last change)^2
    wsum = 0.0
    for i in range(0, len(picked), 8):
        sample = read_samples(source, picked[i : i + 8], step, picked_targets[i : i + 8])
        now = sample.inputs.normalise(surf_stats=stats).crop(patch_size=patch)
        ahead = sample.target.normalise(surf_stats=stats).crop(patch_size=patch)
        w = torch.as_tensor(lat_weights(now.metadata.lat.numpy().astype(float)), dtype=torch.float64)[:, None]
        for k in now.surf_vars:
            d = (ahead.surf_vars[k][:, -1] - now.surf_vars[k][:, -1]).double()
            last = (now.surf_vars[k][:, -1] - now.surf_vars[k][:, 0]).double()
            sums[k] = sums.get(k, 0.0) + float((d**2 * w).sum())
            cross[k] = cross.get(k, 0.0) + np.array([float((d * last * w).sum()), float((last**2 * w).sum())])
        for k in now.atmos_vars:
            d = (ahead.atmos_vars[k][:, -1] - now.atmos_vars[k][:, -1]).double()  # (B, C, H, W)
            last = (now.atmos_vars[k][:, -1] - now.atmos_vars[k][:, 0]).double()
            sums[k] = sums.get(k, 0.0) + (d**2 * w).sum(dim=(0, 2, 3)).numpy()
            cross[k] = cross.get(k, 0.0) + np.stack(
                [(d * last * w).sum(dim=(0, 2, 3)).numpy(), (last**2 * w).sum(dim=(0, 2, 3)).numpy()]
            )
        wsum += float(w.sum()) * len(sample.times) * now.surf_vars[next(iter(now.surf_vars))].shape[-1]
    rms = {k: np.maximum(np.sqrt(np.asarray(v) / wsum), 1e-3) for k, v in sums.items()}
    dec = model.decoder
    idx = level_index(source.levels)
    trend = {k: np.where(v[1] > 0, v[0] / np.where(v[1] > 0, v[1], 1.0), 0.0) for k, v in cross.items()}
    with torch.no_grad():
        dec.surf_increment_scale.copy_(torch.tensor([float(rms.get(k, 1.0)) for k in dec.surf_vars]))
        dec.surf_trend.copy_(torch.tensor([float(trend.get(k, 0.0)) for k in dec.surf_vars]))
        for i, k in enumerate(dec.atmos_vars):
            if k in rms:
                dec.atmos_increment_scale[i, idx] = torch.as_tensor(rms[k], dtype=dec.atmos_increment_scale.dtype)
                dec.atmos_trend[i, idx] = torch.as_tensor(trend[k], dtype=dec.atmos_trend.dtype)
    log.info(
        "increment scales (RMS of the 6-hour change, normalised units): %s",
        {k: np.round(v, 4).tolist() for k, v in rms.items()},
    )


def surrogate_loss(model: Any, inputs: Any, target: Any) -> Any:
    """Area-weighted mean squared error of ``model(inputs)`` against ``target`` in
    normalised units divided by each field's increment scale squared (a scalar tensor);
    see the module docstring."""
    import torch

    stats = dict(getattr(model, "surf_stats", {}) or {})
    patch = int(model.patch_size)
    pred = normalised_stack(model(inputs), stats, patch)
    truth = normalised_stack(target, stats, patch)
    lat = target.crop(patch_size=patch).metadata.lat.detach().cpu().numpy().astype(float)
    w = torch.as_tensor(lat_weights(lat), dtype=pred.dtype)
    w = (w / w.mean())[:, None]
    c = field_scales(model, inputs).to(pred.dtype)[None, :, None, None]
    return ((((pred - truth) / c) ** 2) * w).mean()


@dataclasses.dataclass
class TrainResult:
    """A finished (or stopped) training run.

    Attributes:
        model: The trained :class:`~aurora_xai.surrogate.architecture.ResidualAurora`, in evaluation mode.
        losses: One row per step done: ``step`` (1-based), ``loss`` (normalised units
            squared), ``lr``.
        steps_done: Steps done (``settings.steps`` unless stopped early).
        resumed_from: Step the run continued from (0: a fresh start).
        seconds: Wall time of the steps this run did.
        train_times: The training samples' current times.
    """

    model: Any
    losses: pd.DataFrame
    steps_done: int
    resumed_from: int
    seconds: float
    train_times: pd.DatetimeIndex


def _fingerprint(
    settings: SurrogateSettings, source: Any, times: pd.DatetimeIndex, step: pd.Timedelta, shuffle_seed: int | None
) -> str:
    record = {
        "settings": settings.training_dict(),
        "shuffle_seed": shuffle_seed,
        "store": str(source.path),
        "levels": [int(v) for v in source.levels],
        "history": str(source.history),
        "step": str(step),
        "times": [f"{t:%Y-%m-%dT%H}" for t in times],
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _initial_spec(settings: SurrogateSettings) -> ModelSpec:
    return ModelSpec(name="surrogate", seed=settings.seed, checkpoint="", random_weights=True, autocast=False)


def train_surrogate(
    source: Any,
    settings: SurrogateSettings,
    state_path: str | Path,
    stop_after: int | None = None,
    shuffle_seed: int | None = None,
) -> TrainResult:
    """Train the surrogate on ``source`` (an :class:`~aurora_xai.data.era5.ERA5Source`).

    Args:
        source: The store; its history interval is the samples' history step.
        settings: The ``surrogate`` section.
        state_path: The resumable training state (read if it exists with the same
            fingerprint, written every ``checkpoint_every`` steps and at the end).
        stop_after: Stop after this step (1-based) once its state is written, as an
            interrupted run would (for tests of resuming).
        shuffle_seed: Train the data-randomisation control: each sample's target is
            that of another training time (:func:`~aurora_xai.surrogate.samples.shuffled_target_times`
            with this seed); None trains on the true pairs.

    Returns:
        :class:`TrainResult`; the log gets the loss of every step and progress lines.

    Raises:
        ValueError: ``surrogate.train_period`` is not in the store (:func:`training_times`).
    """
    import torch

    state_path = Path(state_path)
    model = build_model(_initial_spec(settings))
    step_td = pd.Timedelta(forecast_step(model))
    times = training_times(source, settings, step_td)
    fingerprint = _fingerprint(settings, source, times, step_td, shuffle_seed)
    targets = times if shuffle_seed is None else shuffled_target_times(times, shuffle_seed)
    if shuffle_seed is not None:
        log.info("data-randomisation control: targets permuted across the training times (seed %d)", shuffle_seed)
    log.info(
        "training on %d samples %s to %s (history %s, target +%s), %d steps of %d samples",
        len(times),
        f"{times[0]:%Y-%m-%d %H:%M}",
        f"{times[-1]:%Y-%m-%d %H:%M}",
        source.history,
        step_td,
        settings.steps,
        settings.batch_size,
    )
    increment_scales(model, source, times, step_td, target_times=targets)
    with deterministic(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, settings))
        start, rows = 0, []
        if state_path.is_file():
            state = torch.load(state_path, map_location="cpu", weights_only=False)
            if state.get("fingerprint") == fingerprint:
                model.load_state_dict(state["model"])
                opt.load_state_dict(state["optimizer"])
                sched.load_state_dict(state["scheduler"])
                torch.set_rng_state(state["torch_rng"])
                start, rows = int(state["step"]), list(state["losses"])
                log.info("resuming from step %d of %d (%s)", start, settings.steps, state_path)
            else:
                log.info("training state %s is of other settings or samples: starting afresh", state_path)
        t0 = time.monotonic()
        every = max(1, settings.steps // 10)
        n = min(settings.batch_size, len(times))
        for step in range(start, settings.steps):
            rng = np.random.default_rng([settings.seed, step])
            pick = np.sort(rng.choice(len(times), size=n, replace=False))
            sample = read_samples(source, times[pick], step_td, targets[pick])
            lr = opt.param_groups[0]["lr"]
            loss = surrogate_loss(model, sample.inputs, sample.target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"surrogate training: loss {value} at step {step + 1}; lower surrogate.learning_rate"
                )
            rows.append({"step": step + 1, "loss": value, "lr": lr})
            log.info("step %d loss %.6g lr %.3g", step + 1, value, lr)
            done = step + 1
            if done % every == 0 or done == settings.steps:
                elapsed = time.monotonic() - t0
                rate = (done - start) / elapsed if elapsed > 0 else float("nan")
                left = (settings.steps - done) / rate if rate > 0 else float("nan")
                log.info(
                    "progress: %d/%d steps (%.0f%%), %.2f steps/s, %s elapsed, %s left",
                    done,
                    settings.steps,
                    100 * done / settings.steps,
                    rate,
                    duration_text(elapsed),
                    duration_text(left),
                )
            if done % settings.checkpoint_every == 0 or done == settings.steps or done == stop_after:
                _save_state(state_path, model, opt, sched, done, rows, fingerprint)
            if stop_after is not None and done >= stop_after:
                break
        seconds = time.monotonic() - t0
    model.eval()
    return TrainResult(
        model=model,
        losses=pd.DataFrame(rows, columns=["step", "loss", "lr"]),
        steps_done=len(rows),
        resumed_from=start,
        seconds=seconds,
        train_times=times,
    )


def _save_state(path: Path, model: Any, opt: Any, sched: Any, step: int, rows: list, fingerprint: str) -> None:
    import torch

    state = {
        "fingerprint": fingerprint,
        "step": step,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "losses": rows,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def save_checkpoint(model: Any, path: str | Path) -> None:
    """Write the model's state dict atomically (``torch.save``, the format
    :func:`aurora_xai.model.build_model` loads).

    Saved through a buffer: ``torch.save`` to a path names the archive's records after
    the file, and the atomic write's temporary name differs each time, so the same
    weights would give a different file (and checkpoint id) on every run.
    """
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buffer.getvalue())
