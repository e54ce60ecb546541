"""Pooling latent token grids over named regions, on the host or on the model's device.

The study's pooling: per date, the mean, standard deviation and root-mean-square of the
tokens inside a region, per latent level and channel; optionally weighted by the exact
area of each token's patch (:func:`aurora_xai.grid.band_weights` of its latitude edges),
so that each token counts by the area it covers.

A region is a latitude/longitude box, so the tokens it selects are the product of a set
of token rows and a set of token columns (two runs of columns for a box across the prime
meridian), and a token's weight depends on its row only. :class:`RegionBox` holds those
runs and the weight of a token in each row; pooling reads only the rows and columns a
box covers, in float64, in chunks of bounded size. :func:`pool_grid` pools a NumPy grid
(the reference); :class:`RegionPooler` pools torch tensors where they are (the GPU
during extraction) and returns only the pooled ``(region, latent level, stat, channel)``
numbers. This module imports without torch (torch is imported when a
:class:`RegionPooler` is built).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..grid import band_weights, lat_cell_edges
from ..regions import Region

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["STATS", "RegionBox", "RegionPooler", "pool_grid", "region_box", "region_weights"]

STATS = ("mean", "std", "rms")

#: Elements of one float64 chunk of a region's tokens (the float64 copy and its square
#: are held at once: 2 x 8 bytes each, 512 MB at this size).
CHUNK_ELEMENTS = 2**25


def _runs(mask: np.ndarray) -> tuple[slice, ...]:
    """Slices of the contiguous runs of ``True`` in a 1-D boolean mask, in order."""
    idx = np.flatnonzero(mask)
    if not idx.size:
        return ()
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.r_[idx[0], idx[breaks + 1]]
    stops = np.r_[idx[breaks] + 1, idx[-1] + 1]
    return tuple(slice(int(a), int(b)) for a, b in zip(starts, stops))


@dataclasses.dataclass(frozen=True, eq=False)
class RegionBox:
    """The token rows and columns a region covers, and the weight of a token in each row.

    Attributes:
        name: The region's name.
        rows: Runs of token rows inside the region (slices into ``H``).
        cols: Runs of token columns inside the region (slices into ``W``; two runs for
            a box across the prime meridian on a grid starting at 0 degrees east).
        row_weights: ``(H,)`` float64 weight of one token of each row (zero outside
            ``rows``); the weights of the tokens in the box sum to 1.
        shape: ``(H, W)`` of the token grid.
    """

    name: str
    rows: tuple[slice, ...]
    cols: tuple[slice, ...]
    row_weights: np.ndarray
    shape: tuple[int, int]

    @property
    def n_cols(self) -> int:
        return sum(s.stop - s.start for s in self.cols)

    def weights(self) -> np.ndarray:
        """Weights ``(H, W)`` of every token (zero outside the box), summing to 1."""
        out = np.zeros(self.shape)
        for cs in self.cols:
            out[:, cs] = self.row_weights[:, None]
        return out

    def chunks(self, row_elements: int, budget: int | None = None) -> Iterator[tuple[slice, slice]]:
        """``(row slice, column slice)`` pieces covering the box, each of at most ``budget``
        elements (default :data:`CHUNK_ELEMENTS`; at least one token row) when a token
        holds ``row_elements`` elements."""
        budget = CHUNK_ELEMENTS if budget is None else int(budget)
        for cs in self.cols:
            per_row = max(1, row_elements * (cs.stop - cs.start))
            step = max(1, budget // per_row)
            for rs in self.rows:
                for a in range(rs.start, rs.stop, step):
                    yield slice(a, min(a + step, rs.stop)), cs


def region_box(
    region: Region,
    lat: np.ndarray,
    lon: np.ndarray,
    area_weighted: bool,
    lat_edges: np.ndarray | None = None,
) -> RegionBox:
    """The rows, columns and row weights of the tokens whose centre lies in ``region``.

    Args:
        region: Box selecting tokens by their centre.
        lat: ``(H,)`` token-row centre latitudes.
        lon: ``(W,)`` token-column centre longitudes.
        area_weighted: Weight each token by the exact area of its row's latitude band
            (else equal weights).
        lat_edges: ``(H + 1,)`` latitude edges of the token rows
            (:func:`~aurora_xai.latents.geometry.patch_lat_edges`); default halfway
            between the centres (:func:`aurora_xai.grid.lat_cell_edges`).

    Raises:
        ValueError: if no token centre lies in the region, or ``lat_edges`` does not
            have ``H + 1`` values.
    """
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    row_in = region.lat_mask(lat)
    col_in = region.lon_mask(lon)
    row_w = row_in.astype(np.float64)
    if area_weighted:
        edges = lat_cell_edges(lat) if lat_edges is None else np.asarray(lat_edges, dtype=np.float64)
        if edges.shape != (len(lat) + 1,):
            raise ValueError(f"{edges.size} latitude edges for {len(lat)} patch rows (need {len(lat) + 1})")
        row_w = row_w * band_weights(edges)
    total = row_w.sum() * col_in.sum()
    if total <= 0:
        raise ValueError(
            f"region {region.name!r} contains no latent patch centre "
            f"(patch spacing {abs(lat[1] - lat[0]) if len(lat) > 1 else 'n/a'} deg); enlarge the box"
        )
    return RegionBox(region.name, _runs(row_in), _runs(col_in), row_w / total, (len(lat), len(lon)))


def region_weights(
    region: Region,
    lat: np.ndarray,
    lon: np.ndarray,
    area_weighted: bool,
    lat_edges: np.ndarray | None = None,
) -> np.ndarray:
    """Weights ``(H, W)`` of the tokens in ``region`` (zero outside), summing to 1.

    The dense form of :func:`region_box` (same arguments and errors).
    """
    return region_box(region, lat, lon, area_weighted, lat_edges).weights()


def _check_stats(stats: Sequence[str]) -> None:
    unknown = set(stats) - set(STATS)
    if unknown:
        raise ValueError(f"latents.stats: unknown statistics {sorted(unknown)}; choose from {STATS}")


def pool_grid(
    values: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    regions: Mapping[str, Region],
    area_weighted: bool = True,
    stats: Sequence[str] = STATS,
    lat_edges: np.ndarray | None = None,
) -> np.ndarray:
    """Pool a token grid over each region (the NumPy reference of :class:`RegionPooler`).

    Only the rows and columns a region covers are read, converted to float64 a chunk
    at a time.

    Args:
        values: ``(C, H, W, D)`` tokens (latent level, lat patch, lon patch, channel).
        lat: ``(H,)`` patch-centre latitudes.
        lon: ``(W,)`` patch-centre longitudes.
        regions: Regions to pool over, in output order.
        area_weighted: Weight tokens by the exact area of their patch.
        stats: Any of ``mean``, ``std``, ``rms``.
        lat_edges: ``(H + 1,)`` latitude edges of the patch rows (see
            :func:`region_box`).

    Returns:
        ``(region, C, stat, D)`` float64 array.

    Raises:
        ValueError: if the grid does not match the coordinates, for an unknown
            statistic (naming ``latents.stats``), or a region without a patch centre.
    """
    c, h, w, d = values.shape
    if (h, w) != (len(lat), len(lon)):
        raise ValueError(f"grid {(h, w)} does not match coordinates {(len(lat), len(lon))}")
    _check_stats(stats)
    out = np.empty((len(regions), c, len(stats), d))
    for r, region in enumerate(regions.values()):
        box = region_box(region, lat, lon, area_weighted, lat_edges)
        s1 = np.zeros((c, d))
        s2 = np.zeros((c, d))
        for rs, cs in box.chunks(c * d):
            part = values[:, rs, cs].astype(np.float64)  # (C, h, w, D)
            wr = box.row_weights[rs]
            s1 += np.einsum("h,chd->cd", wr, part.sum(axis=2))
            s2 += np.einsum("h,chd->cd", wr, (part * part).sum(axis=2))
        out[r] = np.stack([_stat(name, s1, s2, np) for name in stats], axis=1)
    return out


def _stat(name: str, s1: Any, s2: Any, xp: Any) -> Any:
    """A statistic from the weighted first and second moments (NumPy or torch arrays)."""
    if name == "mean":
        return s1
    if name == "rms":
        return xp.sqrt(s2)
    var = s2 - s1 * s1
    return xp.sqrt(xp.clip(var, 0.0, None)) if xp is np else xp.sqrt(var.clamp(min=0.0))


class RegionPooler:
    """Pools token grids over regions where the tokens are (CPU or GPU), in float64.

    The row weights of each region live as float64 tensors on ``device``; the first and
    second weighted moments of the tokens inside each region accumulate there in
    float64, a chunk of rows at a time (at most :data:`CHUNK_ELEMENTS` tokens x channels
    per chunk), so only the pooled numbers leave the device.

    Args:
        boxes: The regions' boxes (:func:`region_box`), in output order.
        stats: Any of ``mean``, ``std``, ``rms``, in output order.
        device: Where the tokens will be.

    Raises:
        ValueError: for an unknown statistic (naming ``latents.stats``), or boxes on
            different grids.
    """

    def __init__(self, boxes: Sequence[RegionBox], stats: Sequence[str] = STATS, device: Any = "cpu") -> None:
        import torch

        _check_stats(stats)
        if len({b.shape for b in boxes}) > 1:
            raise ValueError(f"region boxes on different token grids: {sorted({b.shape for b in boxes})}")
        self.boxes = list(boxes)
        self.stats = tuple(stats)
        self.shape = self.boxes[0].shape if self.boxes else None
        self._row_weights = [torch.as_tensor(b.row_weights, dtype=torch.float64, device=device) for b in self.boxes]

    def __call__(self, grid: torch.Tensor) -> torch.Tensor:
        """Pool ``grid`` ``(B, C, H, W, D)`` (any float dtype, on the pooler's device).

        Returns:
            ``(B, region, C, stat, D)`` float64 tensor on the same device.

        Raises:
            ValueError: if ``(H, W)`` is not the boxes' grid.
        """
        import torch

        b, c, h, w, d = grid.shape
        if (h, w) != self.shape:
            raise ValueError(f"token grid {(h, w)} does not match the region boxes' grid {self.shape}")
        out = []
        for box, row_w in zip(self.boxes, self._row_weights):
            s1 = torch.zeros((b, c, d), dtype=torch.float64, device=grid.device)
            s2 = torch.zeros_like(s1)
            for rs, cs in box.chunks(b * c * d):
                part = grid[:, :, rs, cs].to(torch.float64)  # (B, C, h, w, D)
                wr = row_w[rs]
                s1 += torch.einsum("h,bchd->bcd", wr, part.sum(dim=3))
                s2 += torch.einsum("h,bchd->bcd", wr, part.square().sum(dim=3))
                del part
            out.append(torch.stack([_stat(name, s1, s2, torch) for name in self.stats], dim=2))
        return torch.stack(out, dim=1)
