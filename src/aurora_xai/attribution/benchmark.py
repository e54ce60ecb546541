"""Time and peak memory of LRP: against a forward pass and a plain gradient
(:func:`benchmark_lrp`), and the peak resident memory of one LRP pass per
activation-checkpointing level in a child process with a memory cap
(:func:`lrp_peak_memory`)."""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import threading
import time
import tracemalloc
from typing import Any

import torch
from torch import nn

from aurora_xai.attribution.grad_mode import gradients_enabled, ordinary_parameters, without_inference_tensors
from aurora_xai.attribution.inputs import check_batch, evaluate_target, normalised_inputs
from aurora_xai.attribution.methods import LRP, MethodOptions
from aurora_xai.attribution.patching import checkpointed_model, checkpointing_level
from aurora_xai.benchmark import timed
from aurora_xai.memory import RSSSampler, peak_bytes

__all__ = ["benchmark_lrp", "lrp_peak_memory"]


def _peak_memory(fn, device: torch.device) -> dict[str, int]:
    """Peak memory of one run of ``fn`` above the memory in use at its start."""
    if device.type == "cuda":
        return {"peak_bytes": peak_bytes(fn, device)[1]}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        storages[st.data_ptr()] = st.nbytes()
        return t

    tracemalloc.start()
    try:
        with RSSSampler() as s, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
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
    checkpointing: bool | str = "none",
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
    ``checkpointing`` is a level of
    :data:`~aurora_xai.attribution.patching.CHECKPOINTING_LEVELS` (or a bool), used by
    the gradient and LRP runs; with checkpointing, ``saved_for_backward_bytes`` counts
    the tensors saved outside the checkpointed pieces (their inputs included).

    Raises:
        ValueError: an unknown checkpointing level.
    """
    checkpointing = checkpointing_level(checkpointing)
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
    checkpointing: str,
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
        ctx = checkpointed_model(model, checkpointing) if checkpointing != "none" else contextlib.nullcontext()
        with ctx:
            y = evaluate_target(model, leaves.to_batch(), target)
            torch.autograd.grad(y, leaves.tensors(), allow_unused=True)

    results: dict[str, Any] = {
        "device": str(device),
        "dtype": str(p.dtype).replace("torch.", ""),
        "attention_rule": attention_rule,
        "checkpointing": checkpointing,
        "target": target.describe(),
        "repeats": int(repeats),
    }
    for name, fn in (("forward", forward), ("gradient", gradient), ("lrp", lrp)):
        fn()  # warm-up
        results[f"{name}_time_s"] = float(min(timed(fn, device)[1] for _ in range(max(1, repeats))))
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


# ---------------------------------------------------------------------------------------
# Peak resident memory of one LRP pass, in a child process with a cap.
# ---------------------------------------------------------------------------------------

_GB = 1e9


def _status_kb(field: str, pid: int | str = "self") -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(f"/proc/{pid}/status has no {field}")


def _reset_peak_rss() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux ``clear_refs``); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:  # pragma: no cover - old kernels, restricted /proc
        return False


def _memory_target(kind: str) -> Any:
    from aurora_xai.attribution.targets import ForecastTarget, LatentTarget
    from aurora_xai.regions import Region

    europe = Region("europe", 30.0, 72.0, 348.0, 45.0)
    if kind == "msl":
        return ForecastTarget("msl", region=europe)
    if kind == "latent":
        return LatentTarget("backbone", region=europe)
    raise ValueError(f"lrp_peak_memory: target must be 'msl' or 'latent', got {kind!r}")


def _lrp_memory_child(conn: Any, job: dict[str, Any]) -> None:
    """Child process: build the model and batch, run one LRP pass, send the peak RSS."""
    try:
        torch.set_num_threads(job["threads"])
        from aurora_xai.attribution._testing import synthetic_batch
        from aurora_xai.attribution.methods import compute_relevance
        from aurora_xai.model import ModelSpec, build_model

        torch.manual_seed(0)  # the random weights of a real architecture: the same in every child
        model = build_model(ModelSpec.from_schema(name=job["model"], random_weights=job["model"] != "tiny"))
        batch = synthetic_batch(
            job["nlat"],
            job["nlon"],
            levels=(50, 100, 150, 200, 250, 300, 400, 500, 600, 700, 850, 925, 1000),
            dtype=torch.float32,
        )
        target = _memory_target(job["target"])
        hwm = _reset_peak_rss()
        t0 = time.perf_counter()
        with RSSSampler(interval_s=0.005) as sampler:
            conn.send({"started": True, "start_bytes": sampler.start})
            ds = compute_relevance(
                model, batch, target, method="lrp", attention_rule=job["attention_rule"], checkpointing=job["level"]
            )
        peak = max(sampler.peak, _status_kb("VmHWM") if hwm else 0)
        conn.send(
            {
                "start_bytes": int(sampler.start),
                "peak_bytes": int(peak),
                "sampled_peak_bytes": int(sampler.peak),
                "time_s": time.perf_counter() - t0,
                "relevance_sum": float(ds.attrs["relevance_sum"]),
                "target_value": float(ds.attrs["target_value"]),
            }
        )
    except BaseException as e:  # the parent reports it
        conn.send({"error": f"{type(e).__name__}: {e}"})
    finally:
        conn.close()


def lrp_peak_memory(
    nlat: int,
    nlon: int,
    checkpointing: bool | str,
    *,
    model: str = "small-pretrained",
    target: str = "msl",
    attention_rule: str = "cp",
    threads: int = 2,
    cap_bytes: float = 16e9,
    timeout_s: float = 7200.0,
    poll_s: float = 0.02,
) -> dict[str, Any]:
    """Peak resident memory of one LRP pass (``compute_relevance``), in a child process.

    The child (a fresh ``spawn`` interpreter) builds ``model`` (real architectures with
    random weights), a float32 :func:`~aurora_xai.attribution._testing.synthetic_batch`
    of ``nlat x nlon`` cells with the 13 pressure levels, and runs CP-LRP (or
    ``attention_rule``) of ``target`` (``"msl"``: the +6 h mean sea-level pressure over
    Europe; ``"latent"``: the backbone output's tokens over Europe) at the given
    checkpointing level, with ``threads`` torch threads. Its peak is the larger of the
    RSS sampled every 5 ms and the kernel's high-water mark ``VmHWM`` (reset after the
    set-up), so it counts the model and the batch too (``start_bytes``).

    A watchdog thread in this process reads the child's RSS every ``poll_s`` seconds and
    kills it above ``cap_bytes`` (or after ``timeout_s``).

    Returns:
        ``nlat``, ``nlon``, ``level``, ``target``, ``status`` (``"ok"``, ``"killed"``
        above the cap, ``"timeout"`` or ``"error"``), ``peak_bytes`` (for a killed run:
        the RSS it had reached, at least the cap), ``start_bytes`` (RSS before the LRP
        pass: libraries, model, batch), ``time_s``, ``relevance_sum``,
        ``target_value``, ``error``.

    Raises:
        ValueError: an unknown checkpointing level or target.
    """
    level = checkpointing_level(checkpointing)
    _memory_target(target)
    job = dict(
        nlat=nlat, nlon=nlon, level=level, model=model, target=target, attention_rule=attention_rule, threads=threads
    )
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_lrp_memory_child, args=(child, job), daemon=True)
    seen = {"rss": 0, "killed": ""}
    done = threading.Event()

    def watchdog() -> None:
        t_end = time.monotonic() + timeout_s
        while not done.is_set() and proc.is_alive():
            try:
                rss = _status_kb("VmRSS", proc.pid)
            except (OSError, KeyError):
                break
            seen["rss"] = max(seen["rss"], rss)
            reason = "killed" if rss > cap_bytes else "timeout" if time.monotonic() > t_end else ""
            if reason:
                seen["killed"] = reason
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(poll_s)

    out: dict[str, Any] = dict(job, status="error", cap_bytes=float(cap_bytes))
    proc.start()
    child.close()
    guard = threading.Thread(target=watchdog, daemon=True)
    guard.start()
    messages: list[dict[str, Any]] = []
    try:
        while True:
            try:
                messages.append(parent.recv())
            except EOFError:
                break
    finally:
        proc.join()
        done.set()
        guard.join()
        parent.close()
    result = next((m for m in messages if "peak_bytes" in m or "error" in m), None)
    if seen["killed"]:
        start = next((m["start_bytes"] for m in messages if "start_bytes" in m), None)
        out.update(status=seen["killed"], peak_bytes=int(seen["rss"]), start_bytes=start)
    elif result is None:
        out.update(error=f"child exited with code {proc.exitcode} and no result")
    elif "error" in result:
        out.update(error=result["error"])
    else:
        out.update(result, status="ok")
        out["peak_bytes"] = max(out["peak_bytes"], seen["rss"])
    return out
