"""Device memory: how much is free, and how much one call takes at its peak.

Used to size batches from a measurement instead of a fixed number
(``perturbation.batch_size: auto``). On CUDA both come from torch's caching allocator
(``torch.cuda.mem_get_info``, ``torch.cuda.max_memory_allocated``). On the CPU the free
memory is ``MemAvailable`` (``psutil.virtual_memory().available``), bounded by the
process's cgroup memory limit when one is set (as Slurm sets one per job), and a call's
peak is the growth of the process's resident set size above its value before the call,
sampled every few milliseconds on a background thread after returning freed heap memory
to the system (``malloc_trim``), so that memory freed by earlier work and reused by the
call is counted.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psutil
import torch

__all__ = ["RSSSampler", "available_bytes", "cgroup_available_bytes", "peak_bytes", "release_heap"]

T = TypeVar("T")


def release_heap() -> None:
    """Return freed heap memory to the system (glibc ``malloc_trim(0)``; a no-op elsewhere)."""
    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return
    trim.argtypes = [ctypes.c_size_t]
    trim(0)


def cgroup_available_bytes() -> int | None:
    """Bytes left under this process's cgroup memory limit (v2 or v1), ``None`` without a limit."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        if controllers == "":  # cgroup v2
            base = Path("/sys/fs/cgroup") / rel.lstrip("/")
            limit_file, usage_file = base / "memory.max", base / "memory.current"
        elif "memory" in controllers.split(","):  # cgroup v1
            base = Path("/sys/fs/cgroup/memory") / rel.lstrip("/")
            limit_file, usage_file = base / "memory.limit_in_bytes", base / "memory.usage_in_bytes"
        else:
            continue
        try:
            limit = limit_file.read_text().strip()
            usage = int(usage_file.read_text().strip())
        except (OSError, ValueError):
            continue
        if limit == "max" or int(limit) >= 1 << 60:
            continue
        return max(0, int(limit) - usage)
    return None


def available_bytes(device: torch.device | str = "cpu") -> int:
    """Bytes this process can still allocate on ``device``.

    CUDA: free device memory plus what torch's caching allocator holds unused. CPU:
    ``MemAvailable``, or less where the cgroup limit leaves less.
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + max(0, cached))
    avail = int(psutil.virtual_memory().available)
    limit = cgroup_available_bytes()
    return avail if limit is None else min(avail, limit)


class RSSSampler:
    """Resident set size of this process while a ``with`` block runs, sampled every
    ``interval_s`` seconds on a background thread: ``start`` on entering, ``peak`` the
    largest sample (the size on leaving included)."""

    def __init__(self, interval_s: float = 0.002) -> None:
        self.interval_s = interval_s
        self.start = self.peak = 0
        self._process = psutil.Process()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def rss(self) -> int:
        """The process's resident set size now, in bytes."""
        return int(self._process.memory_info().rss)

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval_s)

    def __enter__(self) -> RSSSampler:
        self.start = self.peak = self.rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, self.rss())  # after the thread's last sample, never under it


def peak_bytes(fn: Callable[[], T], device: torch.device | str = "cpu", interval_s: float = 0.002) -> tuple[T, int]:
    """Call ``fn()`` and measure the memory it takes at its peak on ``device``.

    Returns:
        ``(result, bytes)``: ``fn``'s result and the peak memory above the memory in use
        before the call (CUDA: ``max_memory_allocated`` growth; CPU: resident set size
        growth, sampled every ``interval_s`` seconds, so a peak shorter than that may be
        missed).
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        out = fn()
        torch.cuda.synchronize(device)
        return out, int(max(0, torch.cuda.max_memory_allocated(device) - base))
    release_heap()
    with RSSSampler(interval_s) as sampler:
        out = fn()
    return out, int(max(0, sampler.peak - sampler.start))
