"""Time and peak memory of LRP against a forward pass and a plain gradient."""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
import tracemalloc
from typing import Any

import torch
from torch import nn

from aurora_xai.attribution.grad_mode import gradients_enabled, ordinary_parameters, without_inference_tensors
from aurora_xai.attribution.inputs import check_batch, evaluate_target, normalised_inputs
from aurora_xai.attribution.methods import LRP, MethodOptions
from aurora_xai.attribution.patching import checkpointed_backbone

__all__ = ["benchmark_lrp"]


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
    check_batch(batch)
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

    options = MethodOptions(attention_rule=attention_rule, epsilon=epsilon, checkpointing=checkpointing)

    def lrp() -> None:
        LRP().relevance(model, inputs, target, options)

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
