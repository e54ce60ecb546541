"""Which grid cells to mask: relevance maps, top-p masks and two random controls.

All masks are boolean arrays over the input grid ``(latitude, longitude)`` and lie
inside a *sector* (a :class:`~aurora_xai.regions.Region`, possibly crossing 0 E) minus
the rows Aurora's crop drops (masking those would change nothing).

Sizes. ``p`` is a percentage of the sector's cells: a mask of ``p`` holds
``max(1, round(p / 100 * n_sector))`` cells (:func:`n_cells`). On a coarse grid small
``p`` can round to the same size; the table reports ``n_cells``.

Controls.

* **Scattered** (:func:`random_scattered_masks`, the published control): ``n`` cells
  drawn uniformly without replacement from the sector.
* **Blobs** (:func:`random_blob_masks`, the fairer control): the top mask is split into
  its 4-connected components (edge neighbours; longitude wraps on a global grid). For
  each component, largest first, a seed cell is drawn uniformly among the free sector
  cells and a blob is grown from it by random region growing (Eden growth: each step adds
  a cell drawn uniformly from the blob's free edge neighbours inside the sector) until it
  has the component's size. Cells of a blob may not touch (share an edge with) earlier
  blobs, so the random mask has exactly as many 4-connected components as the top mask,
  with exactly the same sizes. A blob that gets stuck (no free neighbour before reaching
  its size) is redrawn from a new seed; a draw that cannot place all blobs is restarted.
  Only the count and the sizes are matched, not the shapes (Eden blobs are compact with
  rough edges) nor the positions (uniform over the sector).

Randomness. Every draw uses a ``numpy.random.Generator`` built from a seed sequence of
integers (:func:`rng_for`), so draws reproduce exactly across runs and platforms.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence

import numpy as np
import xarray as xr
from scipy import ndimage

from aurora_xai.regions import Region

__all__ = [
    "connected_components",
    "is_global_longitude",
    "n_cells",
    "random_blob_masks",
    "random_relevance_map",
    "random_scattered_masks",
    "relevance_map",
    "rng_for",
    "sector_cells",
    "top_mask",
]


def rng_for(seed: int, *keys: object) -> np.random.Generator:
    """A generator seeded from ``seed`` and labels (strings hashed with CRC-32, numbers as is).

    ``rng_for(0, "scattered", 1.0)`` always gives the same stream; different labels give
    independent streams.
    """
    entropy = [int(seed)]
    for k in keys:
        if isinstance(k, (int, np.integer)):
            entropy.append(int(k))
        else:
            entropy.append(zlib.crc32(repr(k).encode()))
    return np.random.default_rng(np.random.SeedSequence(entropy))


def is_global_longitude(lon: np.ndarray) -> bool:
    """Whether equally spaced longitudes cover the full circle (so that columns wrap)."""
    lon = np.asarray(lon, dtype=float)
    if len(lon) < 2:
        return False
    step = np.diff(lon) % 360
    return bool(np.allclose(step, step[0]) and np.isclose(step[0] * len(lon), 360.0))


# --------------------------------------------------------------------------------------
# Relevance maps.
# --------------------------------------------------------------------------------------


def relevance_map(
    ds: xr.Dataset,
    variables: Sequence[str] | None = None,
    levels: Sequence[float] | None = None,
    history: Sequence[float] | None = None,
) -> np.ndarray:
    """``sum |R|`` over the chosen variables, levels and history steps: ``(lat, lon)``.

    Args:
        ds: A relevance dataset from :func:`aurora_xai.attribution.methods.compute_relevance`.
        variables: Data variables to include (surface and atmospheric names, static ones
            as ``static_<name>``); ``None``: every surface and atmospheric variable (the
            study's choice; static fields are left out).
        levels: Pressure levels (hPa) of the atmospheric variables; ``None``: all.
        history: History steps in hours relative to the batch time (``-6``, ``0``);
            ``None``: all.
    """
    if variables is None:
        variables = [v for v in ds.data_vars if not str(v).startswith("static_")]
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        raise KeyError(f"relevance_map: variables {missing} not in the relevance dataset {list(ds.data_vars)}")
    total = np.zeros((ds.sizes["latitude"], ds.sizes["longitude"]), dtype=np.float64)
    for name in variables:
        da = abs(ds[name])
        if "level" in da.dims and levels is not None:
            da = da.sel(level=[float(v) for v in levels])
        if "history" in da.dims and history is not None:
            da = da.sel(history=[float(h) for h in history])
        other = [d for d in da.dims if d not in ("latitude", "longitude")]
        total += da.sum(other).transpose("latitude", "longitude").values.astype(np.float64)
    return total


def random_relevance_map(shape: tuple[int, int], seed: int) -> np.ndarray:
    """A seeded uniform random relevance map (the control method ``random``)."""
    return rng_for(seed, "random_relevance").random(shape)


# --------------------------------------------------------------------------------------
# Sector and sizes.
# --------------------------------------------------------------------------------------


def sector_cells(
    region: Region,
    lat: np.ndarray,
    lon: np.ndarray,
    exclude_rows: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean ``(lat, lon)`` mask of the cells of ``region``, minus excluded rows."""
    cells = region.mask(lat, lon)
    if exclude_rows is not None:
        cells = cells & ~np.asarray(exclude_rows, dtype=bool)[:, None]
    if not cells.any():
        raise ValueError(f"sector {region.name!r} contains no grid cell")
    return cells


def n_cells(n_sector: int, p: float) -> int:
    """Cells in a mask of ``p`` percent of ``n_sector`` cells: ``max(1, round(p n / 100))``."""
    if not 0 < p <= 100:
        raise ValueError(f"mask fraction p must be in (0, 100] percent, got {p}")
    return int(min(n_sector, max(1, int(np.floor(p / 100.0 * n_sector + 0.5)))))


def top_mask(score: np.ndarray, sector: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` sector cells of highest ``score`` (ties: lower flat index first)."""
    score = np.asarray(score, dtype=np.float64)
    idx = np.flatnonzero(sector.reshape(-1))
    if n > len(idx):
        raise ValueError(f"top_mask: {n} cells requested, the sector has {len(idx)}")
    vals = score.reshape(-1)[idx]
    if not np.all(np.isfinite(vals)):
        raise ValueError("top_mask: the relevance map has non-finite values in the sector")
    order = np.lexsort((idx, -vals))  # primary key: -score, secondary: index
    mask = np.zeros(score.size, dtype=bool)
    mask[idx[order[:n]]] = True
    return mask.reshape(score.shape)


def random_scattered_masks(
    sector: np.ndarray,
    n: int,
    n_draws: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``n_draws`` masks of ``n`` cells drawn uniformly without replacement: ``(draws, lat, lon)``."""
    idx = np.flatnonzero(sector.reshape(-1))
    if n > len(idx):
        raise ValueError(f"random_scattered_masks: {n} cells requested, the sector has {len(idx)}")
    out = np.zeros((n_draws, sector.size), dtype=bool)
    for d in range(n_draws):
        out[d, rng.choice(idx, size=n, replace=False)] = True
    return out.reshape(n_draws, *sector.shape)


# --------------------------------------------------------------------------------------
# Connected components and blobs.
# --------------------------------------------------------------------------------------


def connected_components(mask: np.ndarray, wrap_lon: bool = True) -> tuple[np.ndarray, list[int]]:
    """4-connected components of ``mask``; columns wrap when ``wrap_lon``.

    Returns:
        ``(labels, sizes)``: labels ``1..K`` (0 outside the mask), numbered in order of
        first appearance in row-major order, and the size of each component.
    """
    mask = np.asarray(mask, dtype=bool)
    labels, k = ndimage.label(mask)  # default structure: edge neighbours
    if wrap_lon and k > 1 and mask.shape[1] > 1:
        parent = list(range(k + 1))

        def find(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        left, right = labels[:, 0], labels[:, -1]
        for a, b in zip(left, right):
            if a and b:
                ra, rb = find(int(a)), find(int(b))
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
        roots = np.array([find(i) for i in range(k + 1)])
        labels = roots[labels]
    # Renumber in order of first appearance.
    flat = labels.reshape(-1)
    _, first = np.unique(flat, return_index=True)
    order = [int(flat[i]) for i in sorted(first) if flat[i] != 0]
    remap = np.zeros(int(flat.max()) + 1, dtype=np.int64)
    for new, old in enumerate(order, start=1):
        remap[old] = new
    labels = remap[labels]
    sizes = [int(s) for s in np.bincount(labels.reshape(-1), minlength=len(order) + 1)[1:]]
    return labels, sizes


def _neighbours(cell: int, shape: tuple[int, int], wrap_lon: bool) -> Iterable[int]:
    h, w = shape
    i, j = divmod(cell, w)
    if i > 0:
        yield cell - w
    if i < h - 1:
        yield cell + w
    if j > 0:
        yield cell - 1
    elif wrap_lon and w > 1:
        yield cell + w - 1
    if j < w - 1:
        yield cell + 1
    elif wrap_lon and w > 1:
        yield cell - (w - 1)


def _grow_blob(
    seed: int,
    size: int,
    allowed: np.ndarray,
    shape: tuple[int, int],
    wrap_lon: bool,
    rng: np.random.Generator,
) -> list[int] | None:
    """Eden growth from ``seed`` over ``allowed`` (flat) cells; None if it gets stuck."""
    blob = [seed]
    in_blob = {seed}
    frontier: list[int] = []
    in_front: set[int] = set()

    def push(c: int) -> None:
        for nb in _neighbours(c, shape, wrap_lon):
            if allowed[nb] and nb not in in_blob and nb not in in_front:
                frontier.append(nb)
                in_front.add(nb)

    push(seed)
    while len(blob) < size:
        if not frontier:
            return None
        k = int(rng.integers(len(frontier)))
        frontier[k], frontier[-1] = frontier[-1], frontier[k]
        c = frontier.pop()
        in_front.discard(c)
        blob.append(c)
        in_blob.add(c)
        push(c)
    return blob


def random_blob_masks(
    sector: np.ndarray,
    template: np.ndarray,
    n_draws: int,
    rng: np.random.Generator,
    wrap_lon: bool = True,
    max_seed_tries: int = 200,
    max_restarts: int = 100,
) -> np.ndarray:
    """Random contiguous masks matching the component count and sizes of ``template``.

    See the module docstring for the procedure. Returns ``(draws, lat, lon)`` booleans.

    Raises:
        RuntimeError: If the components cannot be placed in the sector (e.g. the
            template fills most of it).
    """
    sector = np.asarray(sector, dtype=bool)
    template = np.asarray(template, dtype=bool)
    if (template & ~sector).any():
        raise ValueError("random_blob_masks: the template mask leaves the sector")
    _, sizes = connected_components(template, wrap_lon)
    sizes = sorted(sizes, reverse=True)
    shape = sector.shape
    sector_flat = sector.reshape(-1)
    out = np.zeros((n_draws, sector.size), dtype=bool)
    for d in range(n_draws):
        for _restart in range(max_restarts):
            free = sector_flat.copy()  # sector cells neither in nor next to a placed blob
            placed: list[list[int]] = []
            for size in sizes:
                blob = None
                for _try in range(max_seed_tries):
                    cand = np.flatnonzero(free)
                    if len(cand) < size:
                        break
                    seed = int(cand[rng.integers(len(cand))])
                    blob = _grow_blob(seed, size, free, shape, wrap_lon, rng)
                    if blob is not None:
                        break
                if blob is None:
                    break
                placed.append(blob)
                for c in blob:
                    free[c] = False
                    for nb in _neighbours(c, shape, wrap_lon):
                        free[nb] = False
            if len(placed) == len(sizes):
                for blob in placed:
                    out[d, blob] = True
                break
        else:
            raise RuntimeError(
                f"random_blob_masks: could not place components of sizes {sizes} in a sector of "
                f"{int(sector.sum())} cells after {max_restarts} restarts"
            )
    return out.reshape(n_draws, *shape)
