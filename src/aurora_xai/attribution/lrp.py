"""Relevance of every Aurora input for a scalar target: LRP and gradient baselines.

``compute_relevance`` returns an ``xarray.Dataset`` on the input grid with the
relevance of every variable, pressure level, history step and grid cell, attributed
to the normalised inputs (see :mod:`aurora_xai.attribution.inputs`).

Conservation. In the gradient-times-input form every LRP rule passes on the relevance
it receives except for what constant terms absorb. Aurora injects constants at:

* biases of linear layers and of the patch-embedding convolution (``bias``);
* affine shifts of layer norms (``norm_bias``);
* the time-conditioned shift of the Swin blocks' adaptive layer norms
  (``modulation_shift``; their scale is a constant factor and absorbs nothing);
* the learned surface-level encoding added to surface tokens (``surf_level_encoding``);
* the pressure-level embedding added to atmospheric tokens (``atmos_level_embedding``);
* the learned latent queries of the level aggregation, which also enter its residual
  connection (``atmos_latents``);
* position and patch-area embeddings (``position_scale_embedding``), lead-time and
  absolute-time embeddings (``lead_time_embedding``, ``absolute_time_embedding``);
* the decoder's pressure-level queries, also on its residual path
  (``decoder_level_queries``);
* the epsilon stabiliser (``epsilon``) and, for AttnLRP, the softmax rule's bias term
  together with the additive shifted-window mask (``softmax``).

Products of two input-dependent tensors occur only inside attention (``q @ k^T``
and ``A @ V``): CP-LRP detaches ``A`` (so ``q @ k^T`` carries no relevance), AttnLRP
splits each product with the uniform rule. The adaptive layer norms' scale depends
only on the lead time and is detached as a constant factor; GELU and SiLU (a gated
product ``x * sigmoid(x)``) use the identity rule. The target value recorded for LRP
is that of the forward pass inside the rules (explicit attention instead of the fused
kernel; equal to the plain forward up to rounding).

The normalisation offsets absorb nothing because relevance is attributed to the
normalised values. The relevance each of these absorbs is measured during the
backward pass (the ledger); ``sum(R) + sum(absorbed) == target`` holds to rounding,
which the tests check. With all of them set to zero
(:func:`aurora_xai.attribution.constants.zero_constant_terms`) CP-LRP conserves
exactly; AttnLRP does not, because its softmax rule is not conservative.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from aurora_xai.attribution.context import checkpointed_backbone, lrp_rules
from aurora_xai.attribution.grad_mode import (
    gradients_enabled,
    ordinary_metadata,
    ordinary_parameters,
    ordinary_tensor,
    without_inference_tensors,
)
from aurora_xai.attribution.inputs import (
    NormalisedInputs,
    cropped_rows,
    evaluate_target,
    history_offsets,
    normalised_inputs,
)
from aurora_xai.attribution.rules import Ledger

__all__ = [
    "METHODS",
    "aurora_constant_terms",
    "benchmark_lrp",
    "compute_relevance",
    "lrp_relevance",
]

METHODS = ("lrp", "input_x_gradient", "integrated_gradients")


# --------------------------------------------------------------------------------------
# Aurora-specific constant terms (ledger entries that no generic rule sees).
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def aurora_constant_terms(model: nn.Module, ledger: Ledger) -> Iterator[None]:
    """Log the relevance absorbed by Aurora's additive constant tensors.

    A constant ``c`` added to a tensor whose gradient is ``g`` absorbs ``sum(c * g)``.
    Forward hooks capture the constants and register gradient hooks on tensors whose
    gradient equals that of the sum. Models without Aurora's encoder are left alone.
    Must be entered after :func:`lrp_rules` (its hooks must see the gated outputs).
    """
    encoder = getattr(model, "encoder", None)
    decoder = getattr(model, "decoder", None)
    if encoder is None or not hasattr(encoder, "surf_level_encoding"):
        yield
        return
    handles: list[Any] = []
    captured: dict[str, torch.Tensor] = {}

    def capture(name: str):
        def hook(mod: nn.Module, args: Any, out: torch.Tensor) -> None:
            captured[name] = out.detach()

        return hook

    def on_grad(out: torch.Tensor, fn) -> None:
        if torch.is_tensor(out) and out.requires_grad:
            out.register_hook(lambda g: (fn(g), None)[1])

    for name in ("pos_embed", "scale_embed", "lead_time_embed", "absolute_time_embed"):
        handles.append(getattr(encoder, name).register_forward_hook(capture(name)))
    handles.append(encoder.atmos_levels_embed.register_forward_hook(capture("enc_levels")))

    def surf_hook(mod: nn.Module, args: Any, out: torch.Tensor) -> None:
        enc = encoder.surf_level_encoding.detach().to(out.dtype)
        on_grad(out, lambda g: ledger.add("surf_level_encoding", (g * enc).sum()))

    def atmos_hook(mod: nn.Module, args: Any, out: torch.Tensor) -> None:
        if encoder.level_condition:
            return  # level-conditioned embeddings: not accounted (shape differs)

        def fn(g: torch.Tensor) -> None:
            e = captured["enc_levels"].to(g.dtype)  # (C_A, D)
            C = e.shape[0]
            gv = g.reshape(-1, C, *g.shape[1:])  # (B, C_A, L, D)
            ledger.add("atmos_level_embedding", (gv * e[None, :, None, :]).sum())

        on_grad(out, fn)

    def latents_hook(mod: nn.Module, args: Any, out: torch.Tensor) -> None:
        lat = encoder.atmos_latents.detach()

        def fn(g: torch.Tensor) -> None:
            ledger.add("atmos_latents", (g * lat.to(g.dtype)[None]).sum())

        on_grad(out, fn)

    def encoder_out_hook(mod: nn.Module, args: Any, out: torch.Tensor) -> None:
        def fn(g: torch.Tensor) -> None:
            B, Lp, D = g.shape
            pos = captured["pos_embed"].to(g.dtype)  # (1, 1, L, D)
            scl = captured["scale_embed"].to(g.dtype)
            L = pos.shape[-2]
            gv = g.reshape(B, Lp // L, L, D)
            ledger.add("position_scale_embedding", (gv * (pos + scl)).sum())
            gs = g.sum(dim=1)  # (B, D)
            ledger.add("lead_time_embedding", (gs * captured["lead_time_embed"].to(g.dtype)).sum())
            ledger.add("absolute_time_embedding", (gs * captured["absolute_time_embed"].to(g.dtype)).sum())

        on_grad(out, fn)

    handles.append(encoder.surf_token_embeds.register_forward_hook(surf_hook))
    handles.append(encoder.atmos_token_embeds.register_forward_hook(atmos_hook))
    if encoder.level_agg.residual_latent:
        handles.append(encoder.level_agg.layers[0][2].register_forward_hook(latents_hook))
    handles.append(encoder.register_forward_hook(encoder_out_hook))

    if decoder is not None and hasattr(decoder, "level_decoder"):
        handles.append(decoder.atmos_levels_embed.register_forward_hook(capture("dec_levels")))

        def dec_hook(mod: nn.Module, args: Any, out: torch.Tensor) -> None:
            def fn(g: torch.Tensor) -> None:
                e = captured["dec_levels"].to(g.dtype)  # (C_A, D)
                ledger.add("decoder_level_queries", (g * e[None]).sum())

            on_grad(out, fn)

        if decoder.level_decoder.residual_latent:
            handles.append(decoder.level_decoder.layers[0][2].register_forward_hook(dec_hook))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


# --------------------------------------------------------------------------------------
# Model state helpers.
# --------------------------------------------------------------------------------------


def _param_dtype(model: nn.Module) -> torch.dtype:
    p = next(model.parameters(), None)
    return p.dtype if p is not None else torch.get_default_dtype()


@contextlib.contextmanager
def _computation_dtype(model: nn.Module, dtype: torch.dtype | None) -> Iterator[torch.dtype]:
    """Temporarily up-cast the model to ``dtype`` (lossless round trip only); no autocast."""
    current = _param_dtype(model)
    dtype = current if dtype is None else dtype
    cast = dtype != current
    if cast and torch.finfo(dtype).bits < torch.finfo(current).bits:
        raise ValueError(
            f"model parameters are {current}; computing in {dtype} would not be reversible. "
            f"Pass dtype={current} or None."
        )
    flags = {}
    for name in ("autocast_encoder", "autocast_backbone", "autocast_decoder"):
        if getattr(model, name, False):
            flags[name] = True
            setattr(model, name, False)
    if cast:
        model.to(dtype)
    try:
        yield dtype
    finally:
        if cast:
            model.to(current)
        for name in flags:
            setattr(model, name, True)


def _check_batch(batch: Any) -> None:
    b = next(iter(batch.surf_vars.values())).shape[0]
    if b != 1:
        raise ValueError(f"compute_relevance needs a batch of size 1, got {b}")


# --------------------------------------------------------------------------------------
# Methods.
# --------------------------------------------------------------------------------------


def lrp_relevance(
    model: nn.Module,
    inputs: NormalisedInputs,
    target: Any,
    attention_rule: str = "cp",
    epsilon: float = 1e-6,
    checkpointing: bool = False,
) -> tuple[list[torch.Tensor], float, dict[str, float]]:
    """LRP relevance of normalised inputs: ``(relevances, target value, ledger totals)``.

    Runs with gradients on also when called under ``torch.no_grad()`` or
    ``torch.inference_mode()`` (see :mod:`aurora_xai.attribution.grad_mode`).
    """
    ledger = Ledger()
    with gradients_enabled(), ordinary_parameters(model):
        leaves = _ordinary_inputs(inputs).requires_grad_()
        with lrp_rules(model, attention_rule, epsilon, checkpointing, ledger):
            with aurora_constant_terms(model, ledger):
                y = evaluate_target(model, leaves.to_batch(), target)
                grads = torch.autograd.grad(y, leaves.tensors(), allow_unused=True)
    rel = [(x * g).detach() if g is not None else torch.zeros_like(x) for x, g in zip(leaves.tensors(), grads)]
    return rel, float(y.detach()), ledger.totals()


def _ordinary_inputs(inputs: NormalisedInputs) -> NormalisedInputs:
    """``inputs`` without inference tensors (call inside :func:`gradients_enabled`)."""
    out = inputs.replace([ordinary_tensor(t) for t in inputs.tensors()])
    out.metadata = ordinary_metadata(inputs.metadata)
    return out


class PackedTarget(nn.Module):
    """Maps packed normalised inputs ``(n, N)`` to target values ``(n,)`` (for captum)."""

    def __init__(self, model: nn.Module, template: NormalisedInputs, target: Any) -> None:
        super().__init__()
        self.model = model
        self.template = template
        self.target = target

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        out = []
        for row in flat:
            inputs = self.template.unpack(row)
            out.append(evaluate_target(self.model, inputs.to_batch(), self.target))
        return torch.stack(out)


def _baseline_inputs(model: nn.Module, inputs: NormalisedInputs, baseline: Any) -> NormalisedInputs:
    if isinstance(baseline, str):
        if baseline == "zero":
            return inputs.zeros_like()
        raise ValueError(f"baseline must be 'zero' or an aurora.Batch, got {baseline!r}")
    dtype = inputs.tensors()[0].dtype
    base = normalised_inputs(model, baseline, dtype)
    if base.shapes() != inputs.shapes() or base.keys() != inputs.keys():
        raise ValueError("baseline batch must have the same variables and shapes as the batch")
    return base


def gradient_relevance(
    model: nn.Module,
    inputs: NormalisedInputs,
    target: Any,
    method: str,
    baseline: Any = "zero",
    n_steps: int = 32,
    checkpointing: bool = False,
) -> tuple[list[torch.Tensor], float, dict[str, float]]:
    """Captum InputXGradient / IntegratedGradients on the packed wrapper.

    Runs with gradients on also when called under ``torch.no_grad()`` or
    ``torch.inference_mode()`` (see :mod:`aurora_xai.attribution.grad_mode`).
    """
    from captum.attr import InputXGradient, IntegratedGradients

    extra: dict[str, float] = {}
    ctx = checkpointed_backbone(model) if checkpointing else contextlib.nullcontext()
    with gradients_enabled(), ordinary_parameters(model), ctx:
        inputs = _ordinary_inputs(inputs)
        wrapper = PackedTarget(model, inputs, target)
        flat = inputs.pack()
        with torch.no_grad():
            value = float(wrapper(flat)[0])
        if method == "input_x_gradient":
            attr = InputXGradient(wrapper).attribute(flat)
        else:
            base_flat = _baseline_inputs(model, inputs, baseline).pack()
            with torch.no_grad():
                extra["target_at_baseline"] = float(wrapper(base_flat)[0])
            attr = IntegratedGradients(wrapper).attribute(
                flat, baselines=base_flat, n_steps=n_steps, internal_batch_size=1
            )
    rel = [t.detach() for t in inputs.unpack(attr[0]).tensors()]
    return rel, value, extra


# --------------------------------------------------------------------------------------
# Public API.
# --------------------------------------------------------------------------------------


def _to_dataset(
    model: nn.Module,
    batch: Any,
    inputs: NormalisedInputs,
    rel: list[torch.Tensor],
) -> xr.Dataset:
    meta = batch.metadata
    lat = meta.lat.detach().cpu().numpy().astype(float)
    lon = meta.lon.detach().cpu().numpy().astype(float)
    levels = np.asarray([float(v) for v in meta.atmos_levels])
    T = next(iter(inputs.surf.values())).shape[1]
    dropped = cropped_rows(model, lat)
    coords = {
        "latitude": ("latitude", lat, {"units": "degrees_north"}),
        "longitude": ("longitude", lon, {"units": "degrees_east"}),
        "level": ("level", levels, {"units": "hPa", "long_name": "pressure level"}),
        "history": (
            "history",
            history_offsets(model, T),
            {"units": "hours", "long_name": "input time relative to the batch time"},
        ),
        "cropped": (
            "latitude",
            dropped,
            {"long_name": "row dropped by the model's crop (zero relevance)"},
        ),
    }
    data_vars = {}
    for (kind, name), r in zip(inputs.keys(), rel):
        a = r.detach().to(torch.float64).cpu().numpy()
        attrs = {"kind": kind, "source_variable": name, "input_space": "normalised"}
        if kind == "surface":
            data_vars[name] = (("history", "latitude", "longitude"), a[0], attrs)
        elif kind == "atmospheric":
            data_vars[name] = (("history", "level", "latitude", "longitude"), a[0], attrs)
        else:
            data_vars[f"static_{name}"] = (("latitude", "longitude"), a, attrs)
    ds = xr.Dataset(data_vars, coords=coords)
    if "lsm" in batch.static_vars:
        ds = ds.assign_coords(
            land_sea_mask=(
                ("latitude", "longitude"),
                batch.static_vars["lsm"].detach().to(torch.float64).cpu().numpy(),
            )
        )
    ds.attrs["cropped_latitudes"] = [float(v) for v in lat[dropped]]
    ds.attrs["time"] = str(meta.time[0])
    return ds


def compute_relevance(
    model: nn.Module,
    batch: Any,
    target: Any,
    method: str = "lrp",
    attention_rule: str = "cp",
    epsilon: float = 1e-6,
    baseline: str | Any = "zero",
    n_steps: int = 32,
    checkpointing: bool = False,
    dtype: torch.dtype | None = torch.float32,
) -> xr.Dataset:
    """Relevance of every input variable, level, history step and grid cell for ``target``.

    Args:
        model: An ``aurora.Aurora`` (or a module with the same ``Batch -> Batch`` interface).
        batch: An ``aurora.Batch`` of batch size 1 (raw physical units).
        target: :class:`~aurora_xai.attribution.targets.ForecastTarget` or
            :class:`~aurora_xai.attribution.targets.LatentTarget`.
        method: ``"lrp"``, ``"input_x_gradient"`` or ``"integrated_gradients"``.
        attention_rule: LRP only: ``"cp"`` (detached attention weights) or ``"attnlrp"``.
        epsilon: LRP only: epsilon of the linear layers' rule.
        baseline: Integrated gradients only: ``"zero"`` (normalised value 0, i.e. the
            climatological mean state of Aurora's statistics) or an ``aurora.Batch``.
        n_steps: Integrated gradients only: number of steps (Gauss-Legendre).
        checkpointing: Run backbone stages under activation checkpointing.
        dtype: Dtype of the computation; ``None`` keeps the model's. A wider dtype than
            the model's casts it temporarily (lossless); a narrower one is refused.
            Autocast flags of the model are switched off during the call.

    Returns:
        ``xr.Dataset``: surface variables ``(history, latitude, longitude)``, atmospheric
        variables ``(history, level, latitude, longitude)``, static variables as
        ``static_<name>`` ``(latitude, longitude)``; relevance ``R = x_n * modified
        gradient`` of the normalised inputs ``x_n``. Rows dropped by the model's crop
        carry zero relevance and are flagged by the ``cropped`` coordinate. Attributes:
        ``method``, ``attention_rule``, ``epsilon``, ``target``, ``target_value``,
        ``relevance_sum``, ``conservation_error`` (``|sum R - target| / |target|``),
        ``share_absorbed`` (``1 - sum R / target``: the share taken by constant terms),
        for LRP ``absorbed_<term>`` (share of the target absorbed by each constant
        term) and ``closure_error`` (``|sum R + absorbed - target| / |target|``); for
        integrated gradients ``target_at_baseline`` and ``completeness_error``.

    Gradients are turned on for the call: under ``torch.no_grad()`` or
    ``torch.inference_mode()`` (a batch, baseline or model created there included) the
    relevance is the same as that of a plain call
    (:mod:`aurora_xai.attribution.grad_mode`).

    Raises:
        ValueError: unknown ``method``, a batch size other than 1, a ``dtype`` narrower
            than the model's, a baseline batch whose variables or shapes differ.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    _check_batch(batch)
    extra: dict[str, float] = {}
    ledger: dict[str, float] = {}
    with gradients_enabled(), ordinary_parameters(model):
        batch = without_inference_tensors(batch)
        if not isinstance(baseline, str):
            baseline = without_inference_tensors(baseline)
        with _computation_dtype(model, dtype) as dt:
            inputs = normalised_inputs(model, batch, dt)
            if method == "lrp":
                rel, value, ledger = lrp_relevance(model, inputs, target, attention_rule, epsilon, checkpointing)
            else:
                rel, value, extra = gradient_relevance(model, inputs, target, method, baseline, n_steps, checkpointing)
    ds = _to_dataset(model, batch, inputs, rel)
    total = float(sum(float(r.double().sum()) for r in rel))
    denom = abs(value) if value != 0 else float("nan")
    attrs: dict[str, Any] = {
        "method": method,
        "target": target.describe(),
        "target_value": value,
        "relevance_sum": total,
        "conservation_error": abs(total - value) / denom,
        "share_absorbed": (value - total) / value if value != 0 else float("nan"),
        "dtype": str(dt).replace("torch.", ""),
        "input_space": "normalised: (x - location) / scale with Aurora's statistics",
        "checkpointing": int(checkpointing),
    }
    if method == "lrp":
        attrs["attention_rule"] = attention_rule
        attrs["epsilon"] = float(epsilon)
        absorbed = float(sum(ledger.values()))
        attrs["absorbed_total"] = absorbed / value if value != 0 else float("nan")
        for k in sorted(ledger):
            attrs[f"absorbed_{k}"] = ledger[k] / value if value != 0 else float("nan")
        attrs["closure_error"] = abs(total + absorbed - value) / denom
    if method == "integrated_gradients":
        attrs["n_steps"] = int(n_steps)
        attrs["baseline"] = baseline if isinstance(baseline, str) else "batch"
        base = extra["target_at_baseline"]
        attrs["target_at_baseline"] = base
        diff = value - base
        attrs["completeness_error"] = abs(total - diff) / abs(diff) if diff != 0 else float("nan")
    ds.attrs.update(attrs)
    return ds


# --------------------------------------------------------------------------------------
# Benchmark.
# --------------------------------------------------------------------------------------


class _RSSSampler:
    """Peak resident set size of the process, sampled in a thread (CPU memory)."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def rss() -> int:
        try:
            with open(f"/proc/{os.getpid()}/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:  # pragma: no cover - non-Linux
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def __enter__(self) -> _RSSSampler:
        self.start = self.rss()
        self.peak = self.start
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, self.rss())


def _time(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def _peak_memory(fn, device: torch.device) -> dict[str, int]:
    """Peak memory of one run of ``fn`` above the memory in use at its start."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return {"peak_bytes": int(torch.cuda.max_memory_allocated(device) - start)}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        storages[st.data_ptr()] = st.nbytes()
        return t

    tracemalloc.start()
    try:
        with _RSSSampler() as s, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            fn()
        _, py_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {
        "peak_bytes": int(s.peak - s.start),
        "python_heap_peak_bytes": int(py_peak),
        "saved_for_backward_bytes": int(sum(storages.values())),
    }


def benchmark_lrp(
    model: nn.Module,
    batch: Any,
    target: Any,
    attention_rule: str = "cp",
    epsilon: float = 1e-6,
    checkpointing: bool = False,
    repeats: int = 3,
) -> dict[str, Any]:
    """Time and peak memory of LRP (forward + modified backward) versus a plain forward.

    Also reported: a plain gradient (forward + ordinary backward, the cost of
    input x gradient), so that the overhead of the rules themselves is visible.

    Both run up to the target's module. GPU: ``torch.cuda.max_memory_allocated`` above
    the memory in use at the start. CPU: peak resident set size above the start,
    sampled every 2 ms (approximate: the allocator reuses freed pages, so small models
    show little), the Python-heap peak from ``tracemalloc`` (torch tensors are not on
    the Python heap) and the exact bytes of the tensors autograd saved for the backward
    pass (distinct storages), which is what LRP adds to a forward pass.
    Timings (best of ``repeats``, after one warm-up run) and the memory run are
    separate, so that the memory tracing does not slow the timed runs. Gradients are
    turned on for the call (also under ``torch.no_grad()`` / ``torch.inference_mode()``).
    """
    _check_batch(batch)
    with gradients_enabled(), ordinary_parameters(model):
        return _benchmark_lrp(
            model, without_inference_tensors(batch), target, attention_rule, epsilon, checkpointing, repeats
        )


def _benchmark_lrp(
    model: nn.Module,
    batch: Any,
    target: Any,
    attention_rule: str,
    epsilon: float,
    checkpointing: bool,
    repeats: int,
) -> dict[str, Any]:
    p = next(model.parameters())
    device = p.device
    inputs = normalised_inputs(model, batch, p.dtype)

    def forward() -> None:
        with torch.no_grad():
            evaluate_target(model, inputs.to_batch(), target)

    def lrp() -> None:
        lrp_relevance(model, inputs, target, attention_rule, epsilon, checkpointing)

    def gradient() -> None:
        leaves = inputs.requires_grad_()
        ctx = checkpointed_backbone(model) if checkpointing else contextlib.nullcontext()
        with ctx:
            y = evaluate_target(model, leaves.to_batch(), target)
            torch.autograd.grad(y, leaves.tensors(), allow_unused=True)

    results: dict[str, Any] = {
        "device": str(device),
        "dtype": str(p.dtype).replace("torch.", ""),
        "attention_rule": attention_rule,
        "checkpointing": bool(checkpointing),
        "target": target.describe(),
        "repeats": int(repeats),
    }
    for name, fn in (("forward", forward), ("gradient", gradient), ("lrp", lrp)):
        fn()  # warm-up
        results[f"{name}_time_s"] = float(min(_time(fn, device) for _ in range(max(1, repeats))))
        for key, value in _peak_memory(fn, device).items():
            results[f"{name}_{key}"] = value
    results["time_ratio"] = results["lrp_time_s"] / max(results["forward_time_s"], 1e-12)
    results["time_ratio_vs_gradient"] = results["lrp_time_s"] / max(results["gradient_time_s"], 1e-12)
    fp = results["forward_peak_bytes"]
    results["memory_ratio"] = results["lrp_peak_bytes"] / fp if fp > 0 else math.nan
    results["memory_method"] = (
        "torch.cuda.max_memory_allocated" if device.type == "cuda" else "sampled RSS (/proc statm)"
    )
    return results
