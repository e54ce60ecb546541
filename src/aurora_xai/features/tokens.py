"""Token datasets: Aurora's unpooled tokens of a tap, sampled per date, in a chunked zarr store.

The tokens come from the extraction's own forward passes: pass a :class:`TokenSink` as
``token_sink`` to :func:`aurora_xai.latents.extract.extract_taps`, and every tap's
tokens of every batch of dates reach it before they are pooled (no second pass).

**The sample** (:class:`TokenSample`). A date's tokens are all kept when there are at
most ``max_tokens`` of them (coarse grids). Above that, ``max_tokens`` tokens are drawn
without replacement, stratified by latent level and latitude band (of the token's
centre, bands ``lat_edges``): each stratum keeps its share of ``max_tokens`` in
proportion to its size (largest remainders; ties to the lower stratum index), so every
token has the same chance of being kept (up to the rounding of each share to whole
tokens) and unweighted statistics of the sample estimate those of all the grid's
tokens, while no level or band can be missed by chance.
The draw is seeded by ``(seed, date)`` alone: a date gets the same tokens whatever the
batching, the shard or the other dates.

**Sizes** (float32, 4 bytes a value; a token's date, level, latitude and longitude add
17 bytes). The small model's backbone output at 0.25 deg has ``4 x 180 x 360 = 259,200``
tokens of 512 channels a date: ``259,200 x 512 x 4 = 530,841,600`` bytes, 531 MB a date
(265 MB in bf16). The study's 2005 dates hold ``2005 x 259,200 = 519,696,000`` tokens,
``519,696,000 x 512 x 4 = 1.064e12`` bytes: 1.06 TB. The default sample keeps
``max_tokens = 16,384`` a date (6.3 %): ``16,384 x 512 x 4 = 33.6`` MB a date, and
``2005 x 16,384 = 32,849,920`` tokens, 67.3 GB, for the study. At 1 deg the backbone
output has ``4 x 45 x 90 = 16,200`` tokens a date, all kept (33.2 MB a date); at the
embedded default's 3 deg, ``4 x 15 x 30 = 1,800`` (its channels are fewer).

**The store** (:class:`TokenWriter`, :func:`open_tokens`): a zarr group with ``tokens``
``(token, channel)`` float32 in chunks of ``(chunk_tokens, channel)``, and per token
``date`` (seconds since 1970-01-01 UTC, decoded as datetimes), ``latent_level`` (0 the
surface level) and ``latitude``, ``longitude`` (degrees north and east of the token's
centre). :class:`TokenStream` reads it back in shuffled batches, a bounded number of
chunks at a time.

Imports without torch (the sink moves tensors with their own methods).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
import zarr

from ..latents.geometry import LATENT_LEVEL_NAMES

__all__ = [
    "TokenBatch",
    "TokenSample",
    "TokenSink",
    "TokenStream",
    "TokenWriter",
    "open_tokens",
    "token_coords",
]

#: Latitude bands of the default sample (degrees north, increasing).
DEFAULT_LAT_EDGES = (-90.0, -60.0, -30.0, 0.0, 30.0, 60.0, 90.0)
_EPOCH_UNITS = "seconds since 1970-01-01 00:00:00"


def token_coords(
    res: tuple[int, int, int], lat_centres: np.ndarray, lon_centres: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latent level, latitude and longitude of every token, in Aurora's token order.

    Args:
        res: ``(C, H, W)`` token resolution.
        lat_centres: ``(H,)`` token-row centre latitudes.
        lon_centres: ``(W,)`` token-column centre longitudes.

    Returns:
        ``(level, lat, lon)``, each ``(C * H * W,)``: int8, float32, float32.

    Raises:
        ValueError: if the centres do not match the resolution.
    """
    c, h, w = res
    lat_centres, lon_centres = np.asarray(lat_centres), np.asarray(lon_centres)
    if lat_centres.shape != (h,) or lon_centres.shape != (w,):
        raise ValueError(f"centres of shapes {lat_centres.shape}, {lon_centres.shape} do not match {res}")
    level = np.broadcast_to(np.arange(c, dtype=np.int8)[:, None, None], (c, h, w)).reshape(-1)
    lat = np.broadcast_to(lat_centres.astype(np.float32)[None, :, None], (c, h, w)).reshape(-1)
    lon = np.broadcast_to(lon_centres.astype(np.float32)[None, None, :], (c, h, w)).reshape(-1)
    return level.copy(), lat.copy(), lon.copy()


@dataclasses.dataclass(frozen=True)
class TokenSample:
    """The seeded per-date token sample (see the module docstring).

    Attributes:
        max_tokens: Tokens kept a date; a date with at most this many keeps all.
        lat_edges: Increasing latitude band edges (degrees north), covering [-90, 90].
        seed: Seed of the draw (with the date).

    Raises:
        ValueError: for ``max_tokens < 1`` or edges that are not increasing.
    """

    max_tokens: int = 16_384
    lat_edges: tuple[float, ...] = DEFAULT_LAT_EDGES
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        edges = np.asarray(self.lat_edges, dtype=float)
        if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError(f"lat_edges must increase, got {self.lat_edges}")

    def strata(self, level: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Stratum of each token, ``level * n_bands + band`` ``(n,)`` int64 (latitudes
        outside the edges join the first or last band; the top edge joins the last)."""
        n_bands = len(self.lat_edges) - 1
        band = np.clip(np.searchsorted(np.asarray(self.lat_edges), lat, side="right") - 1, 0, n_bands - 1)
        return np.asarray(level, dtype=np.int64) * n_bands + band

    def rng(self, date: Any) -> np.random.Generator:
        """The generator of one date: seeded by ``(seed, date)`` (naive UTC, ns)."""
        ns = pd.Timestamp(date).value % 2**64
        return np.random.default_rng(np.random.SeedSequence([self.seed % 2**64, ns]))

    def indices(self, level: np.ndarray, lat: np.ndarray, date: Any) -> np.ndarray:
        """Sorted indices ``(m,)`` of the tokens kept on ``date``, ``m = min(n, max_tokens)``.

        Args:
            level: ``(n,)`` latent level of each token.
            lat: ``(n,)`` centre latitude of each token.
            date: The date (anything :class:`pandas.Timestamp` takes).
        """
        n = len(level)
        if n <= self.max_tokens:
            return np.arange(n, dtype=np.int64)
        strata = self.strata(level, lat)
        ids, sizes = np.unique(strata, return_counts=True)
        exact = self.max_tokens * sizes / n
        quota = np.floor(exact).astype(np.int64)
        rest = self.max_tokens - int(quota.sum())
        order = np.lexsort((np.arange(len(ids)), -(exact - quota)))  # largest remainder, then index
        quota[order[:rest]] += 1
        rng = self.rng(date)
        kept = []
        for s, q in zip(ids, quota):
            members = np.flatnonzero(strata == s)
            kept.append(rng.choice(members, size=int(q), replace=False))
        return np.sort(np.concatenate(kept)).astype(np.int64)


class TokenWriter:
    """Appends sampled tokens to a chunked zarr store (see the module docstring).

    Tokens are buffered and written in whole chunks; :meth:`close` writes the rest.
    Memory: at most ``chunk_tokens`` tokens plus the last appended date.

    Args:
        path: The store (created; an existing one is replaced).
        n_channels: Channels ``D`` of the tap.
        chunk_tokens: Tokens per chunk.
        attrs: Attributes of the store (e.g. ``tap``, the sample's settings).

    Raises:
        ValueError: for ``chunk_tokens < 1``; :meth:`append` for shapes that disagree.
    """

    def __init__(
        self, path: str | Path, n_channels: int, chunk_tokens: int = 4096, attrs: Mapping[str, Any] | None = None
    ) -> None:
        if chunk_tokens < 1:
            raise ValueError(f"chunk_tokens must be >= 1, got {chunk_tokens}")
        self.path, self.n_channels, self.chunk_tokens = Path(path), int(n_channels), int(chunk_tokens)
        self.group = zarr.open_group(str(self.path), mode="w")
        self.group.attrs.update(
            {**dict(attrs or {}), "latent_level_names": list(LATENT_LEVEL_NAMES), "chunk_tokens": chunk_tokens}
        )
        per_token = {  # name: (dtype, attributes)
            "date": ("int64", {"units": _EPOCH_UNITS, "calendar": "proleptic_gregorian", "long_name": "date (UTC)"}),
            "latent_level": ("int8", {"long_name": "latent level (0 the surface level)"}),
            "latitude": ("float32", {"units": "degrees_north", "long_name": "token centre latitude"}),
            "longitude": ("float32", {"units": "degrees_east", "long_name": "token centre longitude"}),
        }
        c = self.chunk_tokens
        self.arrays = {
            "tokens": self.group.create_array(
                "tokens",
                shape=(0, n_channels),
                chunks=(c, n_channels),
                dtype="float32",
                dimension_names=("token", "channel"),
            ),
            **{
                name: self.group.create_array(
                    name, shape=(0,), chunks=(c,), dtype=dtype, dimension_names=("token",), attributes=attrs
                )
                for name, (dtype, attrs) in per_token.items()
            },
        }
        self._buffer: dict[str, list[np.ndarray]] = {k: [] for k in self.arrays}
        self._buffered = 0
        self.n_tokens = 0
        self.dates: list[pd.Timestamp] = []

    def append(self, tokens: np.ndarray, date: Any, level: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> None:
        """Append one date's tokens ``(n, D)`` with their levels, latitudes, longitudes ``(n,)``."""
        tokens = np.asarray(tokens, dtype=np.float32)
        n = len(tokens)
        if tokens.ndim != 2 or tokens.shape[1] != self.n_channels:
            raise ValueError(f"tokens of shape {tokens.shape}, expected (n, {self.n_channels})")
        if not len(level) == len(lat) == len(lon) == n:
            raise ValueError(f"{n} tokens but {len(level)}, {len(lat)}, {len(lon)} levels, latitudes, longitudes")
        t = pd.Timestamp(date)
        t = t.tz_convert("UTC").tz_localize(None) if t.tzinfo is not None else t
        seconds = (t - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
        parts = {
            "tokens": tokens,
            "date": np.full(n, seconds, dtype=np.int64),
            "latent_level": np.asarray(level, dtype=np.int8),
            "latitude": np.asarray(lat, dtype=np.float32),
            "longitude": np.asarray(lon, dtype=np.float32),
        }
        for k, v in parts.items():
            self._buffer[k].append(v)
        self._buffered += n
        self.dates.append(t)
        if self._buffered >= self.chunk_tokens:
            self._flush(whole_chunks=True)

    def _flush(self, whole_chunks: bool) -> None:
        if not self._buffered:
            return
        joined = {k: np.concatenate(v) for k, v in self._buffer.items()}
        m = self._buffered - self._buffered % self.chunk_tokens if whole_chunks else self._buffered
        for k, arr in self.arrays.items():
            arr.append(joined[k][:m], axis=0)
            self._buffer[k] = [joined[k][m:]]
        self._buffered -= m
        self.n_tokens += m

    def close(self) -> None:
        """Write the buffered tokens and the totals (``n_tokens``, ``n_dates``)."""
        self._flush(whole_chunks=False)
        self.group.attrs.update({"n_tokens": self.n_tokens, "n_dates": len(set(self.dates))})

    def __enter__(self) -> TokenWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_tokens(path: str | Path) -> xr.Dataset:
    """The token store as a lazy dataset: ``tokens (token, channel)`` and the per-token
    coordinates ``date`` (datetime64, UTC), ``latent_level``, ``latitude``, ``longitude``."""
    ds = xr.open_zarr(str(path), consolidated=False)
    return ds.set_coords(["date", "latent_level", "latitude", "longitude"])


class TokenSink:
    """Receives each tap's tokens of each batch of dates from the extraction and writes
    the sampled ones to one :class:`TokenWriter` per tap.

    Pass it as ``token_sink`` to :func:`aurora_xai.latents.extract.extract_taps`; close
    it (or use it as a context manager) after the extraction.

    Args:
        paths: Tap -> store path; taps not named are not written.
        sample: The per-date sample.
        chunk_tokens: Tokens per chunk of each store.
        attrs: Attributes of every store (``tap`` and the sample's settings are added).
    """

    def __init__(
        self,
        paths: Mapping[str, str | Path],
        sample: TokenSample,
        chunk_tokens: int = 4096,
        attrs: Mapping[str, Any] | None = None,
    ) -> None:
        self.paths, self.sample, self.chunk_tokens = dict(paths), sample, chunk_tokens
        self.attrs = dict(attrs or {})
        self.writers: dict[str, TokenWriter] = {}
        self._coords: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __call__(self, tap: str, times: Sequence[pd.Timestamp], tokens: Any, geometry: Any) -> None:
        """Write the sampled tokens of one batch.

        Args:
            tap: The tap.
            times: ``(B,)`` dates of the batch.
            tokens: ``(B, C*H*W, D)`` tokens (a torch tensor on any device, or an array).
            geometry: The tap's :class:`~aurora_xai.latents.extract.TapGeometry` (its
                ``res``, ``lat_centres`` and ``lon``: the true token geometry).
        """
        if tap not in self.paths:
            return
        if tap not in self.writers:
            self._coords[tap] = token_coords(geometry.res, geometry.lat_centres, geometry.lon)
            self.writers[tap] = TokenWriter(
                self.paths[tap],
                int(tokens.shape[-1]),
                self.chunk_tokens,
                {
                    **self.attrs,
                    "tap": tap,
                    "sample_max_tokens": self.sample.max_tokens,
                    "sample_lat_edges": list(self.sample.lat_edges),
                    "sample_seed": self.sample.seed,
                    "token_resolution": list(geometry.res),
                },
            )
        level, lat, lon = self._coords[tap]
        for b, t in enumerate(times):
            idx = self.sample.indices(level, lat, t)
            if hasattr(tokens, "detach"):  # select on the device, move only the sample
                import torch

                kept = tokens[b].index_select(0, torch.as_tensor(idx, device=tokens.device)).float().cpu().numpy()
            else:
                kept = np.asarray(tokens[b])[idx]
            self.writers[tap].append(kept, t, level[idx], lat[idx], lon[idx])

    def close(self) -> None:
        """Close every store."""
        for w in self.writers.values():
            w.close()

    def __enter__(self) -> TokenSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclasses.dataclass(frozen=True)
class TokenBatch:
    """A batch of the stream: ``tokens (b, D)`` float32, their indices ``(b,)`` (in the
    stores laid end to end, in the order given) and per token ``date`` (seconds since
    1970-01-01 UTC, int64), ``latent_level`` (int8), ``latitude``, ``longitude`` (float32)."""

    tokens: np.ndarray
    index: np.ndarray
    date: np.ndarray | None = None
    latent_level: np.ndarray | None = None
    latitude: np.ndarray | None = None
    longitude: np.ndarray | None = None


#: A date filter: ``keep(dates)`` maps ``(m,)`` datetime64 dates to ``(m,)`` bools.
DateFilter = Callable[[np.ndarray], np.ndarray]
_COORDS = ("date", "latent_level", "latitude", "longitude")


class TokenStream:
    """Shuffled batches of one or several token stores (e.g. the shards), in bounded memory.

    The stores are laid end to end (in the order given); a token's index is its row in
    that concatenation. With ``keep``, only the tokens whose date passes the filter
    (e.g. the dates not held out, :func:`aurora_xai.features.split.holdout_dates`) are
    streamed; the filter is applied to each chunk's dates as the chunk is read (the
    count of kept tokens is taken once, reading the dates chunk by chunk).

    An epoch visits the chunks of all stores in a seeded random order,
    ``buffer_chunks`` at a time; the kept tokens of those chunks (and the fewer than
    ``batch_size`` left over from the previous group) are shuffled and cut into
    batches; the last batch of an epoch may be short. Every kept token appears exactly
    once an epoch; at most :attr:`max_rows` tokens are held. The order depends on
    ``(seed, epoch)`` and the stores only.

    Args:
        path: A store written by :class:`TokenWriter`, or a sequence of them, all with
            the same channels.
        batch_size: Tokens a batch.
        seed: Seed of the order.
        buffer_chunks: Chunks read and shuffled together.
        shuffle: False: the stores' order, in batches.
        keep: Date filter (None: every token).

    Raises:
        ValueError: for ``batch_size < 1``, ``buffer_chunks < 1``, no stores, or
            stores whose channels differ (naming them).
    """

    def __init__(
        self,
        path: str | Path | Sequence[str | Path],
        batch_size: int = 4096,
        seed: int = 0,
        buffer_chunks: int = 4,
        shuffle: bool = True,
        keep: DateFilter | None = None,
    ) -> None:
        if batch_size < 1 or buffer_chunks < 1:
            raise ValueError(f"batch_size and buffer_chunks must be >= 1, got {batch_size}, {buffer_chunks}")
        paths = [path] if isinstance(path, (str, Path)) else list(path)
        if not paths:
            raise ValueError("TokenStream needs at least one store")
        self.paths = [Path(p) for p in paths]
        self.groups = [zarr.open_group(str(p), mode="r") for p in self.paths]
        channels = {str(p): int(g["tokens"].shape[1]) for p, g in zip(self.paths, self.groups)}
        if len(set(channels.values())) != 1:
            raise ValueError(f"token stores with different channels: {channels}")
        self.batch_size, self.seed, self.buffer_chunks, self.shuffle = batch_size, seed, buffer_chunks, shuffle
        self.keep = keep
        self.n_channels = next(iter(channels.values()))
        self.chunk_tokens = max(int(g["tokens"].chunks[0]) for g in self.groups)
        # chunks of all stores: (store, start, stop, offset of the store)
        self._chunks: list[tuple[int, int, int, int]] = []
        offset = 0
        for s, g in enumerate(self.groups):
            n, c = int(g["tokens"].shape[0]), int(g["tokens"].chunks[0])
            self._chunks += [(s, a, min(a + c, n), offset) for a in range(0, n, c)]
            offset += n
        self.n_stored = offset
        self.n_tokens = self.n_stored if keep is None else sum(int(self._kept(*c[:3]).sum()) for c in self._chunks)

    @property
    def array(self) -> Any:
        """The first store's ``tokens`` array."""
        return self.groups[0]["tokens"]

    @property
    def max_rows(self) -> int:
        """The most tokens held at once: ``buffer_chunks * chunk_tokens + batch_size``."""
        return self.buffer_chunks * self.chunk_tokens + self.batch_size

    def _kept(self, store: int, a: int, b: int, dates: np.ndarray | None = None) -> np.ndarray:
        """``(b - a,)`` bool: the chunk's tokens that pass the filter."""
        if self.keep is None:
            return np.ones(b - a, dtype=bool)
        if dates is None:
            dates = np.asarray(self.groups[store]["date"][a:b])
        values, inverse = np.unique(dates, return_inverse=True)
        ok = np.asarray(self.keep(values.astype("datetime64[s]")), dtype=bool)
        if ok.shape != values.shape:
            raise ValueError(f"the date filter returned shape {ok.shape} for {values.shape} dates")
        return ok[inverse.reshape(-1)]

    def _read(self, store: int, a: int, b: int, offset: int) -> dict[str, np.ndarray]:
        g = self.groups[store]
        parts = {name: np.asarray(g[name][a:b]) for name in _COORDS}
        kept = self._kept(store, a, b, parts["date"])
        tokens = np.asarray(g["tokens"][a:b], dtype=np.float32)
        out = {name: v[kept] for name, v in parts.items()}
        out["tokens"] = tokens[kept] if not kept.all() else tokens
        out["index"] = np.arange(offset + a, offset + b, dtype=np.int64)[kept]
        return out

    def batches(self, epoch: int = 0) -> Iterator[TokenBatch]:
        """The batches of one ``epoch`` with their token indices and coordinates."""
        n_chunks = len(self._chunks)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed % 2**64, epoch]))
        order = rng.permutation(n_chunks) if self.shuffle else np.arange(n_chunks)
        names = ("tokens", "index", *_COORDS)
        left: dict[str, np.ndarray] | None = None
        for g in range(0, n_chunks, self.buffer_chunks):
            parts = [left] if left is not None else []
            parts += [self._read(*self._chunks[int(c)]) for c in order[g : g + self.buffer_chunks]]
            joined = {k: np.concatenate([p[k] for p in parts]) for k in names}
            del parts
            m = len(joined["index"])
            if self.shuffle:
                p = rng.permutation(m)
                joined = {k: v[p] for k, v in joined.items()}
            full = m - m % self.batch_size
            for s in range(0, full, self.batch_size):
                yield TokenBatch(**{k: v[s : s + self.batch_size] for k, v in joined.items()})
            left = {k: v[full:].copy() for k, v in joined.items()}
            del joined
        if left is not None and len(left["index"]):
            yield TokenBatch(**left)

    def __call__(self, epoch: int = 0) -> Iterator[np.ndarray]:
        """The token arrays ``(b, D)`` of one ``epoch`` (what SAE training reads)."""
        for batch in self.batches(epoch):
            yield batch.tokens
