"""Measuring a call, for the benchmarks: its wall time on a device, its peak memory, and
the one ratio convention of every comparison the tools print.

``tools/benchmark.py`` (side by side on this machine) and ``tools/gpu_check.py`` (the
model rules on a GPU) measure with these, and report every comparison as
:func:`ratio` ``= new / reference`` of the same quantity, times in seconds: below 1 the
new way takes less time than the reference, above 1 more (the extraction against the
bare forward pass, the reader against the storage library, bytes read against bytes
needed). A *speed-up* is the reverse, reference time / new time, and is always named so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import torch

from .memory import peak_bytes

__all__ = ["measure", "ratio", "sync", "timed"]

T = TypeVar("T")


def sync(device: torch.device | str | None) -> None:
    """Wait for the work queued on a CUDA ``device`` (nothing elsewhere)."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], T], device: torch.device | str | None = None) -> tuple[T, float]:
    """``(fn(), seconds)``: wall time of one call, queued CUDA work on ``device`` included."""
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t0


def measure(fn: Callable[[], T], device: torch.device | str = "cpu") -> tuple[T, float, int]:
    """``(fn(), seconds, peak bytes)`` of one call on ``device`` (the peak above the memory
    in use before the call: :func:`aurora_xai.memory.peak_bytes`)."""
    (out, peak), seconds = timed(lambda: peak_bytes(fn, device), device)
    return out, seconds, peak


def ratio(new: float, reference: float) -> float:
    """``new / reference``: the benchmarks' one ratio (of times: below 1 the new way is faster)."""
    return float(new) / float(reference)
