"""Reading samples for extraction in worker processes, ahead of the model (needs torch).

Dates are grouped into model batches of ``batch_size`` dates; a
:class:`torch.utils.data.DataLoader` reads and decodes each group in a worker process
(:meth:`aurora_xai.data.era5.ERA5Source.batches`: one indexed read per variable for
the group) while the model runs on the previous one, and stacks the group's samples
along Aurora's batch dimension (one time per element, :func:`stack_batches`). On CUDA
the loader copies each group into pinned (page-locked) host memory, so that the copy to
the GPU (:func:`batch_to`) can run asynchronously.

Memory: each worker holds at most one group in flight (``prefetch_factor=1``), and one
more waits in the queue per worker, so the host holds about
``(2 * num_workers + 1) * batch_size`` samples (a 0.25 degree sample is ~0.57 GB).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import torch

from ..data.era5 import ERA5Source

__all__ = ["LoadedSamples", "SampleGroups", "batch_to", "sample_loader", "stack_batches"]


def stack_batches(batches: Sequence[Any]) -> Any:
    """Stack single-sample ``aurora.Batch`` objects along the batch dimension.

    Surface variables become ``(n, t, lat, lon)``, atmospheric ``(n, t, level, lat,
    lon)``; static variables, coordinates and levels are those of the first batch, and
    ``metadata.time`` holds one time per element, in order. A single batch is returned
    as it is.

    Raises:
        ValueError: if no batches are given, or their grids, levels or variables differ.
    """
    from aurora import Batch, Metadata

    if not batches:
        raise ValueError("no batches to stack")
    if len(batches) == 1:
        return batches[0]
    first = batches[0]
    for b in batches[1:]:
        if (
            b.surf_vars.keys() != first.surf_vars.keys()
            or b.atmos_vars.keys() != first.atmos_vars.keys()
            or tuple(b.metadata.atmos_levels) != tuple(first.metadata.atmos_levels)
            or not torch.equal(b.metadata.lat, first.metadata.lat)
            or not torch.equal(b.metadata.lon, first.metadata.lon)
        ):
            raise ValueError(
                f"samples at {first.metadata.time[0]} and {b.metadata.time[0]} differ in variables, levels or grid"
            )
    return Batch(
        surf_vars={k: torch.cat([b.surf_vars[k] for b in batches]) for k in first.surf_vars},
        static_vars=dict(first.static_vars),
        atmos_vars={k: torch.cat([b.atmos_vars[k] for b in batches]) for k in first.atmos_vars},
        metadata=Metadata(
            lat=first.metadata.lat,
            lon=first.metadata.lon,
            time=tuple(t for b in batches for t in b.metadata.time),
            atmos_levels=first.metadata.atmos_levels,
            rollout_step=first.metadata.rollout_step,
        ),
    )


def _map_tensors(batch: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    meta = dataclasses.replace(batch.metadata, lat=fn(batch.metadata.lat), lon=fn(batch.metadata.lon))
    return dataclasses.replace(
        batch,
        surf_vars={k: fn(v) for k, v in batch.surf_vars.items()},
        static_vars={k: fn(v) for k, v in batch.static_vars.items()},
        atmos_vars={k: fn(v) for k, v in batch.atmos_vars.items()},
        metadata=meta,
    )


def batch_to(batch: Any, device: torch.device | str) -> Any:
    """The batch with its tensors on ``device`` (asynchronous copies from pinned memory).

    Coordinates go too, so that Aurora's own ``batch.to`` is a no-op and normalising
    and cropping run on the device. On the CPU the batch is returned as it is.
    """
    device = torch.device(device)
    if device.type == "cpu":
        return batch
    return _map_tensors(batch, lambda t: t.to(device, non_blocking=True))


@dataclasses.dataclass
class LoadedSamples:
    """The samples of one model batch, as a reader worker returns them.

    Attributes:
        times: Current times of the samples in ``batch``, in order (naive UTC).
        batch: ``aurora.Batch`` with one element per time, or None if every sample of
            the group was skipped.
        skipped: Time -> why its sample was skipped (a step stored as NaN).
    """

    times: list[pd.Timestamp]
    batch: Any
    skipped: dict[pd.Timestamp, str]

    def pin_memory(self) -> LoadedSamples:
        """A copy in pinned host memory (called by the loader's pinning thread on CUDA)."""
        if self.batch is None:
            return self
        return dataclasses.replace(self, batch=_map_tensors(self.batch, lambda t: t.pin_memory()))


class SampleGroups(torch.utils.data.Dataset):
    """Groups of dates read as one model batch each (a map-style dataset).

    Args:
        source: The opened store.
        groups: Current times per group (all in the store, see
            :meth:`~aurora_xai.data.era5.ERA5Source.has_time`).
        skip_empty: Skip samples with a step stored as NaN (recorded with the reason)
            instead of raising :class:`~aurora_xai.data.era5.MissingTimeError`.
        reopen: Opens the store again; when given, each worker process reads through
            its own store, opened on its first read (stores read through fsspec, e.g.
            ``gs://``, cannot be used across a fork). None: workers read through
            ``source`` as inherited.
    """

    def __init__(
        self,
        source: ERA5Source,
        groups: Sequence[Sequence[pd.Timestamp]],
        skip_empty: bool = False,
        reopen: Callable[[], ERA5Source] | None = None,
    ) -> None:
        self.source = source
        self.groups = [list(g) for g in groups]
        self.skip_empty = skip_empty
        self.reopen = reopen
        self._worker_source: ERA5Source | None = None

    def __len__(self) -> int:
        return len(self.groups)

    def _source(self) -> ERA5Source:
        if self.reopen is None or torch.utils.data.get_worker_info() is None:
            return self.source
        if self._worker_source is None:  # this worker's copy of the dataset
            self._worker_source = self.reopen()
        return self._worker_source

    def __getitem__(self, i: int) -> LoadedSamples:
        src = self._source()
        group = self.groups[i]
        batches = src.batches(group, skip_empty=self.skip_empty)
        kept = [(t, b) for t, b in zip(group, batches) if b is not None]
        skipped = {
            pd.Timestamp(t): src.missing_reason(t) or "stored as NaN" for t, b in zip(group, batches) if b is None
        }
        batch = stack_batches([b for _, b in kept]) if kept else None
        return LoadedSamples([pd.Timestamp(t) for t, _ in kept], batch, skipped)


def _as_is(item: LoadedSamples) -> LoadedSamples:
    return item


def sample_loader(
    source: ERA5Source,
    times: Sequence[pd.Timestamp],
    batch_size: int = 1,
    num_workers: int = 0,
    pin_memory: bool = False,
    skip_empty: bool = False,
    reopen: Callable[[], ERA5Source] | None = None,
) -> torch.utils.data.DataLoader:
    """A loader of :class:`LoadedSamples`, ``batch_size`` dates each, in the order of ``times``.

    Args:
        source: The opened store.
        times: Current times of the samples (all in the store).
        batch_size: Dates per model batch (the last group may be smaller).
        num_workers: Reader processes (0: read in this process, before each batch).
        pin_memory: Copy each group into pinned memory (for CUDA).
        skip_empty: See :class:`SampleGroups`.
        reopen: See :class:`SampleGroups`.

    Raises:
        ValueError: for ``batch_size < 1`` (naming ``latents.batch_size``) or
            ``num_workers < 0``.
    """
    if int(batch_size) < 1:
        raise ValueError(f"latents.batch_size: must be at least 1, got {batch_size}")
    if int(num_workers) < 0:
        raise ValueError(f"reader workers must be at least 0, got {num_workers}")
    times = list(times)
    groups = [times[i : i + int(batch_size)] for i in range(0, len(times), int(batch_size))]
    num_workers = min(int(num_workers), len(groups))
    extra: dict[str, Any] = {"prefetch_factor": 1, "persistent_workers": False} if num_workers else {}
    return torch.utils.data.DataLoader(
        SampleGroups(source, groups, skip_empty, reopen),
        batch_size=None,
        shuffle=False,
        num_workers=int(num_workers),
        collate_fn=_as_is,
        pin_memory=pin_memory,
        **extra,
    )
