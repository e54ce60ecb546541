"""The feature atlas: what each SAE feature fires on, in statistics and in words.

One encoding pass (:func:`encode_tokens`, needs torch) runs an SAE over the token stores
of a tap in batches (memory bounded by the batch and the accumulators, never the whole
store) and sums, per feature ``f`` with activation ``a_f >= 0`` on a token:

* how often it fires (``a_f > 0``) and ``sum a_f``, ``sum a_f^2`` over all tokens;
* ``sum a_f`` per date (divided by the date's tokens: the **per-date mean activation**);
* ``sum a_f`` per token position ``(latent_level, latitude, longitude)`` (divided by the
  position's tokens: the **map**, the mean activation at each position over the dates);
  positions are the stores' token centres, pooled in blocks of ``factor x factor`` rows
  and columns when ``positions x features`` would exceed ``max_map_values``;
* optionally, for fields given per token (the planted structures of the synthetic
  store), ``sum a_f s``, ``sum s``, ``sum s^2``: the Pearson correlation over tokens of
  each feature's activation with each field.

:func:`atlas_dataset` turns the sums into the atlas (numpy and xarray only): firing
rate, per-date mean activation ``(date, feature)`` (float32), the top-activating dates,
the map, the seasonal profile (monthly mean of the per-date mean), the correlation of
the per-date mean with the storm labels (point-biserial: storm days 1, calm days 0,
the labelled days of the storm/calm table matched by calendar day) and with each probe
quantity (Pearson, over the dates both have), and a description in words
(:func:`describe_feature`) derived from these statistics alone.

The planted-structure match (:func:`planted_match`) takes, per structure, the feature
whose activation correlates most (largest signed Pearson r over tokens) with the field:
the atlas's claim that some feature fires where and when the structure is. Run on the
random-model SAE (the control), the same number says how much of such a match any
dictionary of these tokens' geometry gets by chance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..latents.geometry import LATENT_LEVEL_NAMES
from ..regions import Region
from .split import holdout_dates, holdout_weeks, week_counts

__all__ = [
    "MODELS",
    "SEASON_MONTHS",
    "FeatureSums",
    "atlas_dataset",
    "atlas_table",
    "describe_feature",
    "encode_tokens",
    "feature_atlas",
    "feature_centre",
    "heldout_planted_match",
    "pearson_from_sums",
    "peak_season",
    "planted_headline",
    "planted_match",
    "planted_table",
    "top_features",
]

#: Meteorological seasons and their months.
SEASON_MONTHS: Mapping[str, tuple[int, int, int]] = {
    "DJF": (12, 1, 2),
    "MAM": (3, 4, 5),
    "JJA": (6, 7, 8),
    "SON": (9, 10, 11),
}
_SEASON_WORDS = {
    1: {"DJF": "winter", "MAM": "spring", "JJA": "summer", "SON": "autumn"},
    -1: {"DJF": "summer", "MAM": "autumn", "JJA": "winter", "SON": "spring"},
}
#: A season is named when its mean activation above the lowest month's is at least this
#: multiple of the other three seasons' mean (else "all year") ...
SEASON_CONTRAST = 2.0
#: ... and the monthly profile's range is at least this share of its mean.
SEASON_RANGE = 0.2
#: A map is "widespread" when half its activation above the median needs more than this
#: share of the level's positions (a region of an eighth of the globe needs 1/16).
SPREAD_SHARE = 0.1
#: |r| with the storm labels at or above which a feature "fires on storm (calm) days",
#: raised to ``STORM_Z / sqrt(labelled days)`` when that is larger (about a two-sided
#: 1 % level for independent days; days close in time are not, so it is a floor only).
STORM_R = 0.3
STORM_Z = 2.6
#: |r| with a probe quantity at or above which the description names it.
PROBE_R = 0.5


@dataclasses.dataclass
class FeatureSums:
    """The sums of one encoding pass (:func:`encode_tokens`); ``n`` features.

    Attributes:
        n_tokens: Tokens encoded.
        fired: ``(n,)`` tokens on which each feature fired (``a > 0``).
        sum_a, sum_a2: ``(n,)`` sums of the activation and its square over all tokens.
        dates: ``(D,)`` the dates, ascending (naive UTC).
        date_tokens: ``(D,)`` tokens of each date.
        date_sum: ``(D, n)`` sum of the activation over each date's tokens.
        latitude, longitude: ``(H,)``, ``(W,)`` the map's latitudes and longitudes
            (degrees; the token centres, or the mean of each block of them).
        map_tokens: ``(L, H, W)`` tokens at each map position.
        map_sum: ``(L, H, W, n)`` sum of the activation at each map position.
        map_factor: Rows and columns of token centres pooled per map cell (1: none).
        fields: Field names of the correlation sums (``()`` without fields).
        field_sum, field_sum2: ``(F,)`` sums of each field and its square over tokens.
        field_cross: ``(F, n)`` sums of ``a_f s`` over tokens.
        date_sum2: ``(D, n)`` sum of the squared activation over each date's tokens
            (with fields; ``(0, n)`` without).
        date_field_sum, date_field_sum2: ``(D, F)`` sums of each field and its square
            over each date's tokens.
        date_field_cross: ``(D, F, n)`` sums of ``a_f s`` over each date's tokens (the
            per-date sums let :func:`heldout_planted_match` select on some dates, score on
            others and resample weeks without a second pass).
    """

    n_tokens: int
    fired: np.ndarray
    sum_a: np.ndarray
    sum_a2: np.ndarray
    dates: pd.DatetimeIndex
    date_tokens: np.ndarray
    date_sum: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    map_tokens: np.ndarray
    map_sum: np.ndarray
    map_factor: int
    fields: tuple[str, ...] = ()
    field_sum: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    field_sum2: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    field_cross: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))
    date_sum2: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))
    date_field_sum: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))
    date_field_sum2: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0)))
    date_field_cross: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0, 0)))

    @property
    def n_features(self) -> int:
        return len(self.fired)

    @classmethod
    def from_activations(
        cls, activations: np.ndarray, fields: Mapping[str, np.ndarray], dates: Sequence[Any]
    ) -> FeatureSums:
        """The sums of dense activations, without an SAE or a store (simulations, tests).

        Args:
            activations: ``(D, m, n)``: ``m`` tokens a date, ``n`` features.
            fields: name -> ``(D, m)`` field at each token.
            dates: ``(D,)`` dates (naive UTC).

        Returns:
            The totals, per-date and field sums of :func:`encode_tokens` (no map: one
            position, ``map_sum`` ``(0, 0, 0, n)``).
        """
        a = np.asarray(activations, dtype=np.float64)
        n_dates, m, n = a.shape
        names = tuple(fields)
        s = (
            np.stack([np.asarray(fields[k], dtype=np.float64) for k in names], axis=1)
            if names
            else np.zeros((n_dates, 0, m))
        )
        return cls(
            n_tokens=n_dates * m, fired=(a > 0).sum((0, 1)), sum_a=a.sum((0, 1)), sum_a2=(a**2).sum((0, 1)),
            dates=pd.DatetimeIndex(dates), date_tokens=np.full(n_dates, m, dtype=np.int64), date_sum=a.sum(1),
            latitude=np.zeros(1), longitude=np.zeros(1), map_tokens=np.full((1, 1, 1), n_dates * m),
            map_sum=np.zeros((0, 0, 0, n)), map_factor=1, fields=names, field_sum=s.sum((0, 2)),
            field_sum2=(s**2).sum((0, 2)), field_cross=np.einsum("dmn,dfm->fn", a, s), date_sum2=(a**2).sum(1),
            date_field_sum=s.sum(2), date_field_sum2=(s**2).sum(2), date_field_cross=np.einsum("dmn,dfm->dfn", a, s),
        )  # fmt: skip

    def field_corr(self) -> np.ndarray:
        """``(F, n)`` Pearson correlation over tokens of each feature's activation with
        each field (NaN where either is constant)."""
        return pearson_from_sums(
            float(self.n_tokens),
            self.sum_a[None, :],
            self.sum_a2[None, :],
            self.field_sum[:, None],
            self.field_sum2[:, None],
            self.field_cross,
        )


def pearson_from_sums(
    n: Any, sum_a: np.ndarray, sum_a2: np.ndarray, sum_s: np.ndarray, sum_s2: np.ndarray, cross: np.ndarray
) -> np.ndarray:
    """Pearson r of activations ``a`` with a field ``s`` from their sums over tokens.

    ``r = (n Σas - Σa Σs) / sqrt((n Σa² - (Σa)²)(n Σs² - (Σs)²))``; the arguments
    broadcast (e.g. ``n`` ``(B,)``, ``sum_a`` ``(B, 1, n)``, ``sum_s`` ``(B, F, 1)``, ``cross``
    ``(B, F, n)`` for ``B`` resamples). NaN where either variance is (numerically) zero;
    clipped to ``[-1, 1]``.
    """
    n = np.asarray(n, dtype=np.float64)
    cov = n * cross - sum_s * sum_a
    var_a = n * sum_a2 - sum_a**2
    var_s = n * sum_s2 - sum_s**2
    den = np.sqrt(np.clip(var_s, 0, None) * np.clip(var_a, 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 1e-12 * np.maximum(n, 1.0) ** 2, cov / den, np.nan)
    return np.clip(r, -1.0, 1.0)


#: ``fields(times, lat, lon) -> {name: (T, H, W) array}``: fields per token position and
#: date (e.g. :func:`aurora_xai.data.synthetic.planted_structures` bound to a spec).
FieldSource = Callable[[pd.DatetimeIndex, np.ndarray, np.ndarray], Mapping[str, np.ndarray]]


def _store_coords(path: str | Path) -> dict[str, np.ndarray]:
    import zarr

    group = zarr.open_group(str(path), mode="r")
    return {k: np.asarray(group[k][:]) for k in ("date", "latent_level", "latitude", "longitude")}


def _map_factor(n_levels: int, n_lat: int, n_lon: int, n_features: int, max_values: int) -> int:
    f = 1
    while n_levels * -(-n_lat // f) * -(-n_lon // f) * n_features > max_values and f < max(n_lat, n_lon):
        f += 1
    return f


def encode_tokens(
    sae: Any,
    stores: Sequence[str | Path],
    batch_size: int = 8192,
    fields: FieldSource | None = None,
    max_map_values: int = 20_000_000,
    where: bool = True,
) -> FeatureSums:
    """Encode every token of ``stores`` with ``sae`` and sum the atlas's statistics.

    Two reads of each store: its per-token coordinates first (dates, levels, latitudes,
    longitudes: 17 bytes a token), then its tokens in batches of ``batch_size``. Sums
    are float64. Memory: one store's coordinates, one batch, and the accumulators
    (``D x n`` per date, ``L x H x W x n`` for the map, bounded by ``max_map_values``).

    Args:
        sae: A :class:`~aurora_xai.features.sae.TopKSAE` (its ``encode`` gives the ``k``
            active latents of each token).
        stores: Token stores (:class:`~aurora_xai.features.tokens.TokenWriter` format),
            e.g. one per shard; a date in two stores counts all its tokens.
        batch_size: Tokens encoded at once.
        fields: Fields to correlate with each feature's activation over tokens,
            evaluated per store on its dates and the token grid; None: none.
        max_map_values: The most map accumulators (positions x features); above it,
            blocks of token rows and columns are pooled.
        where: Also sum per position (and per date without fields); False: only the
            totals and, with fields, the per-date sums the planted match needs
            (``map_sum`` ``(0, 0, 0, n)``, and ``date_sum`` ``(0, n)`` without fields;
            what the planted match of a control needs, at a fraction of the cost).

    Returns:
        The sums.

    Raises:
        ValueError: for no stores, stores without tokens, or channels that do not match
            the SAE's.
    """
    import torch
    import zarr

    if not stores:
        raise ValueError("no token stores to encode")
    coords = [_store_coords(p) for p in stores]
    if not sum(len(c["date"]) for c in coords):
        raise ValueError(f"the token stores {list(map(str, stores))} hold no tokens")
    seconds = np.unique(np.concatenate([np.unique(c["date"]) for c in coords]))
    dates = pd.DatetimeIndex(pd.to_datetime(seconds, unit="s"))
    lats = np.unique(np.concatenate([np.unique(c["latitude"]) for c in coords]))[::-1]  # north first
    lons = np.unique(np.concatenate([np.unique(c["longitude"]) for c in coords]))
    n_levels = int(max(int(c["latent_level"].max()) for c in coords if len(c["latent_level"])) + 1)
    n = int(sae.n_latents)
    factor = _map_factor(n_levels, len(lats), len(lons), n, max_map_values)
    rows_c, cols_c = -(-len(lats) // factor), -(-len(lons) // factor)
    map_lat = np.array([lats[i * factor : (i + 1) * factor].mean() for i in range(rows_c)])
    map_lon = np.array([lons[j * factor : (j + 1) * factor].mean() for j in range(cols_c)])
    n_pos = n_levels * rows_c * cols_c

    f64 = torch.float64
    per_feature = None  # (3 + F, n): fired, sum a, sum a^2, sum a s_i
    per_date = where or fields is not None
    date_sum = torch.zeros(len(seconds) * n if per_date else 0, dtype=f64)
    date_sum2 = torch.zeros(len(seconds) * n if fields is not None else 0, dtype=f64)
    date_cross: torch.Tensor | None = None  # (F, D * n) with fields
    date_field_sum = date_field_sum2 = None
    map_sum = torch.zeros(n_pos * n if where else 0, dtype=f64)
    date_tokens = np.zeros(len(seconds), dtype=np.int64)
    map_tokens = np.zeros(n_pos, dtype=np.int64)
    names: tuple[str, ...] = ()
    field_sum = field_sum2 = None
    n_tokens = 0
    sae = sae.eval()
    for path, c in zip(stores, coords):
        m = len(c["date"])
        if not m:
            continue
        tokens = zarr.open_group(str(path), mode="r")["tokens"]
        if int(tokens.shape[1]) != int(sae.d_in):
            raise ValueError(f"{path}: tokens of {tokens.shape[1]} channels, the SAE takes {sae.d_in}")
        d_idx = np.searchsorted(seconds, c["date"])
        r_idx = np.searchsorted(-lats, -c["latitude"].astype(lats.dtype))
        c_idx = np.searchsorted(lons, c["longitude"].astype(lons.dtype))
        pos = (c["latent_level"].astype(np.int64) * rows_c + r_idx // factor) * cols_c + c_idx // factor
        date_tokens += np.bincount(d_idx, minlength=len(seconds))
        map_tokens += np.bincount(pos, minlength=n_pos)
        per_token = None
        if fields is not None:
            store_days = np.unique(d_idx)
            cube = fields(pd.DatetimeIndex(dates[store_days]), lats, lons)
            if not names:
                names = tuple(cube)
                field_sum = np.zeros(len(names))
                field_sum2 = np.zeros(len(names))
                date_field_sum = np.zeros((len(seconds), len(names)))
                date_field_sum2 = np.zeros((len(seconds), len(names)))
                date_cross = torch.zeros(len(names), len(seconds) * n, dtype=f64)
            local = np.searchsorted(store_days, d_idx)
            per_token = np.stack([np.asarray(cube[k], dtype=np.float64)[local, r_idx, c_idx] for k in names])
            field_sum += per_token.sum(1)
            field_sum2 += (per_token**2).sum(1)
            for i in range(len(names)):
                date_field_sum[:, i] += np.bincount(d_idx, per_token[i], minlength=len(seconds))
                date_field_sum2[:, i] += np.bincount(d_idx, per_token[i] ** 2, minlength=len(seconds))
        if per_feature is None:
            per_feature = torch.zeros(3 + len(names), n, dtype=f64)
        for a in range(0, m, batch_size):
            b = min(a + batch_size, m)
            x = torch.from_numpy(np.ascontiguousarray(tokens[a:b], dtype=np.float32))
            with torch.inference_mode():
                values, indices = sae.encode(x)
                v = values.to(f64)  # (b, k)
                flat = indices.reshape(-1)
                vf = v.reshape(-1)
                cols = [(vf > 0).to(f64), vf, vf * vf]
                if per_token is not None:
                    s = torch.from_numpy(per_token[:, a:b])  # (F, b)
                    cols += [(v * s[i][:, None]).reshape(-1) for i in range(len(names))]
                for j, col in enumerate(cols):
                    per_feature[j].index_add_(0, flat, col)
                if per_date:
                    d_flat = (torch.from_numpy(d_idx[a:b])[:, None] * n + indices).reshape(-1)
                    date_sum.index_add_(0, d_flat, vf)
                if date_cross is not None:
                    date_sum2.index_add_(0, d_flat, vf * vf)
                    for i in range(len(names)):
                        date_cross[i].index_add_(0, d_flat, cols[3 + i])
                if where:
                    p = torch.from_numpy(pos[a:b])[:, None] * n
                    map_sum.index_add_(0, (p + indices).reshape(-1), vf)
        n_tokens += m
    acc = per_feature.numpy().T if per_feature is not None else np.zeros((n, 3))
    return FeatureSums(
        n_tokens=n_tokens,
        fired=np.rint(acc[:, 0]).astype(np.int64),
        sum_a=acc[:, 1].copy(),
        sum_a2=acc[:, 2].copy(),
        dates=dates,
        date_tokens=date_tokens,
        date_sum=date_sum.reshape(-1, n).numpy(),
        latitude=map_lat,
        longitude=map_lon,
        map_tokens=map_tokens.reshape(n_levels, rows_c, cols_c),
        map_sum=map_sum.reshape(n_levels, rows_c, cols_c, n).numpy() if where else np.zeros((0, 0, 0, n)),
        map_factor=factor,
        fields=names,
        field_sum=np.zeros(0) if field_sum is None else field_sum,
        field_sum2=np.zeros(0) if field_sum2 is None else field_sum2,
        field_cross=acc[:, 3:].T.copy(),
        date_sum2=date_sum2.reshape(-1, n).numpy(),
        date_field_sum=np.zeros((0, 0)) if date_field_sum is None else date_field_sum,
        date_field_sum2=np.zeros((0, 0)) if date_field_sum2 is None else date_field_sum2,
        date_field_cross=(
            np.zeros((0, 0, 0))
            if date_cross is None
            else date_cross.reshape(len(names), -1, n).numpy().transpose(1, 0, 2)
        ),
    )


def _pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each column of ``x (m, n)`` with ``y (m,)`` (NaN where constant)."""
    x = x - x.mean(0)
    y = y - y.mean()
    den = np.sqrt((x**2).sum(0) * (y**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, (x * y[:, None]).sum(0) / np.where(den > 0, den, 1), np.nan)
    return np.clip(r, -1, 1)


def peak_season(profile: np.ndarray) -> str | None:
    """The season (``DJF`` ...) of one feature's monthly profile ``(12,)``, or None when
    no season stands out.

    Measured above the profile's lowest month (a feature's floor of weak firing on every
    date says nothing of the season): a season is named when its mean excess over that
    floor is at least :data:`SEASON_CONTRAST` times the mean excess of the other seasons
    and the profile's range is at least :data:`SEASON_RANGE` of its mean. Months without
    dates are left out.
    """
    profile = np.asarray(profile, dtype=np.float64)
    finite = profile[np.isfinite(profile)]
    if len(finite) < 2 or finite.mean() <= 0 or np.ptp(finite) < SEASON_RANGE * finite.mean():
        return None
    excess = profile - finite.min()
    means = {s: np.nanmean(excess[[m - 1 for m in ms]]) for s, ms in SEASON_MONTHS.items()}
    means = {s: v for s, v in means.items() if np.isfinite(v)}
    if len(means) < 2:
        return None
    best = max(means, key=lambda s: means[s])
    rest = np.mean([v for s, v in means.items() if s != best])
    return best if means[best] >= SEASON_CONTRAST * rest else None


def feature_centre(level_map: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> tuple[float, float, float]:
    """Centre of mass of one level's map ``(H, W)`` and how concentrated it is.

    Weighted by the activation above the map's median (a floor of weak firing everywhere
    would pull every centre to the middle of the grid): the weighted mean latitude and
    circular mean longitude (degrees), and the share of the positions that hold half of
    that excess (small: concentrated). NaNs for a map without excess (empty or uniform).
    """
    w = np.nan_to_num(np.asarray(level_map, dtype=np.float64))
    w = np.clip(w - np.median(w), 0.0, None)
    total = w.sum()
    if total <= 0:
        return float("nan"), float("nan"), float("nan")
    lat2, lon2 = np.meshgrid(lat, lon, indexing="ij")
    c_lat = float((w * lat2).sum() / total)
    rad = np.radians(lon2)
    c_lon = float(np.degrees(np.arctan2((w * np.sin(rad)).sum(), (w * np.cos(rad)).sum())) % 360)
    ordered = np.sort(w.ravel())[::-1]
    half = int(np.searchsorted(np.cumsum(ordered), 0.5 * total)) + 1
    return c_lat, c_lon, half / w.size


def _region_words(c_lat: float, c_lon: float, spread: float, regions: Mapping[str, Region]) -> str:
    if not np.isfinite(c_lat) or spread > SPREAD_SHARE:
        return "widespread"
    inside = [r for name, r in regions.items() if name != "globe" and r.contains(c_lat, c_lon)]
    if inside:
        r = min(inside, key=lambda r: (r.lat_max - r.lat_min) * ((r.lon_max - r.lon_min) % 360 or 360))
        return r.name.upper() if len(r.name) <= 3 else r.name.replace("_", " ").title()
    hemi = "northern" if c_lat >= 0 else "southern"
    if abs(c_lat) < 23.5:
        return "tropics"
    if abs(c_lat) < 60:
        return f"{hemi} mid-latitudes"
    return f"{hemi} polar latitudes"


def describe_feature(
    profile: np.ndarray,
    maps: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    storm_r: float,
    probe_r: Mapping[str, float],
    regions: Mapping[str, Region],
    firing_rate: float,
    storm_threshold: float = STORM_R,
) -> str:
    """A short description of one feature derived from its statistics.

    Parts, in order (each left out when it does not apply): the season of its monthly
    profile (:func:`peak_season`, named for the hemisphere of the map's centre, DJF is
    "winter" in the north); the region of its map's centre of mass at the latent level
    with the most activation (the smallest named region holding it, else its latitude
    band; "widespread" when half the activation above the map's median needs more than
    :data:`SPREAD_SHARE` of the positions, or the map is uniform: :func:`feature_centre`);
    that level; "fires on storm days" (calm days) when the correlation
    with the storm labels is at least ``storm_threshold`` (at most its negative); the probe
    quantity it follows most, when ``|r| >= PROBE_R``. A feature that never fires is
    "never fires".

    Args:
        profile: ``(12,)`` monthly mean activation.
        maps: ``(L, H, W)`` mean activation per position.
        lat, lon: ``(H,)``, ``(W,)`` the map's coordinates.
        storm_r: Correlation with the storm labels (NaN: none).
        probe_r: Quantity -> correlation with it.
        regions: The named regions.
        firing_rate: Share of tokens it fires on.
        storm_threshold: The storm correlation's bar (:data:`STORM_R`, raised for few
            labelled days by :func:`atlas_dataset`).
    """
    if not firing_rate > 0:
        return "never fires"
    maps = np.nan_to_num(np.asarray(maps, dtype=np.float64))
    level = int(np.argmax(maps.reshape(len(maps), -1).mean(1)))
    c_lat, c_lon, spread = feature_centre(maps[level], lat, lon)
    parts = []
    season = peak_season(np.asarray(profile, dtype=np.float64))
    if season is not None:
        hemi = -1 if np.isfinite(c_lat) and c_lat < 0 and spread <= SPREAD_SHARE else 1
        parts.append(_SEASON_WORDS[hemi][season])
    else:
        parts.append("all year")
    region = _region_words(c_lat, c_lon, spread, regions)
    if region:
        parts.append(region)
    parts.append(f"latent level {level}")
    if np.isfinite(storm_r) and storm_r >= storm_threshold:
        parts.append("fires on storm days")
    elif np.isfinite(storm_r) and storm_r <= -storm_threshold:
        parts.append("fires on calm days")
    finite = {q: r for q, r in probe_r.items() if np.isfinite(r)}
    if finite:
        q = max(finite, key=lambda q: abs(finite[q]))
        if abs(finite[q]) >= PROBE_R:
            parts.append(f"{'follows' if finite[q] > 0 else 'opposes'} {q} (r {finite[q]:.2f})")
    return ", ".join(parts)


def _day_index(times: Sequence[Any]) -> pd.DatetimeIndex:
    t = pd.DatetimeIndex(pd.to_datetime(list(times)) if not isinstance(times, pd.DatetimeIndex) else times)
    if t.tz is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return t.normalize()


def atlas_dataset(
    sums: FeatureSums,
    regions: Mapping[str, Region],
    labels: pd.DataFrame | None = None,
    probes: xr.DataArray | None = None,
    top_dates: int = 5,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """The atlas of one SAE from its sums.

    Args:
        sums: The encoding pass's sums (:func:`encode_tokens`).
        regions: The named regions (for the descriptions).
        labels: The storm/calm table (columns ``date`` ``YYYY-MM-DD`` and ``label``
            ``storm``/``calm``; :func:`aurora_xai.storms.table.read_storm_days`); None:
            no storm correlation (NaN).
        probes: ``(date, quantity)`` probe targets; None: no probe correlations.
        top_dates: Top-activating dates kept per feature.
        attrs: Attributes of the dataset (tap, SAE id, provenance).

    Returns:
        A dataset over ``feature``, ``date``, ``month``, ``rank``, ``latent_level``,
        ``latitude``, ``longitude`` and ``quantity``: ``firing_rate``,
        ``mean_activation``, ``date_activation`` ``(date, feature)`` float32,
        ``date_std``, ``top_date`` ``(feature, rank)``, ``map`` ``(latent_level,
        latitude, longitude, feature)`` float32, ``seasonal`` ``(month, feature)``,
        ``storm_corr``, ``probe_corr`` ``(quantity, feature)``, ``peak_level``,
        ``centre_lat``, ``centre_lon``, ``description``; with fields, ``field_corr``
        ``(structure, feature)``.
    """
    n = sums.n_features
    with np.errstate(invalid="ignore", divide="ignore"):
        per_date = sums.date_sum / np.maximum(sums.date_tokens, 1)[:, None]
        maps = np.where(sums.map_tokens[..., None] > 0, sums.map_sum / np.maximum(sums.map_tokens, 1)[..., None], 0.0)
    days = _day_index(sums.dates)
    months = sums.dates.month.to_numpy()
    seasonal = np.full((12, n), np.nan)
    for mth in range(1, 13):
        sel = months == mth
        if sel.any():
            seasonal[mth - 1] = per_date[sel].mean(0)
    k = min(top_dates, len(sums.dates))
    order = np.argsort(-per_date, axis=0, kind="stable")[:k].T  # (n, k)
    top = sums.dates.values[order]

    storm_r = np.full(n, np.nan)
    n_storm = n_calm = 0
    if labels is not None and len(labels):
        lab = labels.assign(day=pd.to_datetime(labels["date"]).dt.normalize()).drop_duplicates("day")
        kind = pd.Series(lab["label"].to_numpy(), index=pd.DatetimeIndex(lab["day"]))
        y = kind.reindex(days).to_numpy()
        sel = pd.notna(y)
        is_storm = (y[sel] == "storm").astype(float)
        n_storm, n_calm = int(is_storm.sum()), int((1 - is_storm).sum())
        if n_storm >= 2 and n_calm >= 2:
            storm_r = _pearson(per_date[sel], is_storm)

    quantities: list[str] = []
    probe_r = np.zeros((0, n))
    if probes is not None:
        quantities = [str(q) for q in probes["quantity"].values]
        pdays = _day_index(probes["date"].values)
        frame = pd.DataFrame(np.asarray(probes.transpose("date", "quantity").values, float), index=pdays)
        frame = frame[~frame.index.duplicated()].reindex(days)
        probe_r = np.full((len(quantities), n), np.nan)
        for i in range(len(quantities)):
            y = frame.iloc[:, i].to_numpy()
            sel = np.isfinite(y)
            if sel.sum() >= 3:
                probe_r[i] = _pearson(per_date[sel], y[sel])

    rate = sums.fired / max(sums.n_tokens, 1)
    storm_bar = max(STORM_R, STORM_Z / np.sqrt(max(n_storm + n_calm, 1)))
    peak_level = np.argmax(maps.reshape(maps.shape[0], -1, n).mean(1), axis=0)
    centres = np.array(
        [feature_centre(maps[peak_level[f], :, :, f], sums.latitude, sums.longitude)[:2] for f in range(n)]
    )
    descriptions = [
        describe_feature(
            seasonal[:, f],
            maps[..., f],
            sums.latitude,
            sums.longitude,
            float(storm_r[f]),
            {q: float(probe_r[i, f]) for i, q in enumerate(quantities)},
            regions,
            float(rate[f]),
            storm_bar,
        )
        for f in range(n)
    ]
    feature = np.arange(n)
    ds = xr.Dataset(
        {
            "firing_rate": ("feature", rate, {"long_name": "share of tokens the feature fires on", "units": "1"}),
            "mean_activation": (
                "feature",
                sums.sum_a / max(sums.n_tokens, 1),
                {"long_name": "mean activation over all tokens"},
            ),
            "date_activation": (
                ("date", "feature"),
                per_date.astype(np.float32),
                {"long_name": "mean activation over the date's tokens"},
            ),
            "date_std": (
                "feature",
                per_date.std(0),
                {"long_name": "standard deviation across dates of the per-date mean activation"},
            ),
            "top_date": (("feature", "rank"), top, {"long_name": "dates of the largest per-date mean activation"}),
            "map": (
                ("latent_level", "latitude", "longitude", "feature"),
                maps.astype(np.float32),
                {"long_name": "mean activation at each token position over the dates"},
            ),
            "map_tokens": (
                ("latent_level", "latitude", "longitude"),
                sums.map_tokens,
                {"long_name": "tokens at each position"},
            ),
            "seasonal": (("month", "feature"), seasonal, {"long_name": "monthly mean of the per-date mean activation"}),
            "storm_corr": (
                "feature",
                storm_r,
                {"long_name": "point-biserial correlation of the per-date mean with storm (1) vs calm (0) days"},
            ),
            "probe_corr": (
                ("quantity", "feature"),
                probe_r,
                {"long_name": "Pearson correlation of the per-date mean with the probe quantity"},
            ),
            "peak_level": ("feature", peak_level, {"long_name": "latent level with the most activation"}),
            "centre_lat": ("feature", centres[:, 0], {"long_name": "map's centre of mass at the peak level"}),
            "centre_lon": ("feature", centres[:, 1], {"long_name": "map's centre of mass at the peak level"}),
            "description": ("feature", np.array(descriptions, dtype=object), {"long_name": "derived description"}),
        },
        coords={
            "feature": feature,
            "date": sums.dates.values,
            "rank": np.arange(1, k + 1),
            "month": np.arange(1, 13),
            "latent_level": np.arange(maps.shape[0]),
            "latitude": ("latitude", sums.latitude, {"units": "degrees_north"}),
            "longitude": ("longitude", sums.longitude, {"units": "degrees_east"}),
            "quantity": np.array(quantities, dtype=object),
        },
        attrs={
            "n_tokens": int(sums.n_tokens),
            "map_factor": int(sums.map_factor),
            "n_storm_days": n_storm,
            "n_calm_days": n_calm,
            "storm_corr_threshold": float(storm_bar),
            "latent_level_names": ",".join(LATENT_LEVEL_NAMES[: maps.shape[0]]),
            **dict(attrs or {}),
        },
    )
    if sums.fields:
        ds["field_corr"] = (
            ("structure", "feature"),
            sums.field_corr(),
            {"long_name": "Pearson correlation over tokens of the activation with the planted field"},
        )
        ds = ds.assign_coords(structure=np.array(sums.fields, dtype=object))
    return ds


def top_features(ds: xr.Dataset, n: int) -> np.ndarray:
    """The ``n`` features whose per-date mean activation varies most across dates
    (``date_std``, descending; ties by index): the atlas's shown features."""
    std = np.nan_to_num(ds["date_std"].values, nan=-1.0)
    order = np.lexsort((np.arange(len(std)), -std))
    return order[: min(n, len(std))]


def planted_match(field_corr: np.ndarray, structures: Sequence[str]) -> pd.DataFrame:
    """Per structure, the feature with the largest correlation and that correlation.

    Args:
        field_corr: ``(F, n)`` correlations (:meth:`FeatureSums.field_corr`).
        structures: ``(F,)`` names.

    Returns:
        Columns ``structure``, ``feature`` (-1 when every correlation is NaN), ``corr``.
    """
    rows = []
    for i, name in enumerate(structures):
        r = np.asarray(field_corr[i], dtype=float)
        if not np.isfinite(r).any():
            rows.append({"structure": name, "feature": -1, "corr": float("nan")})
            continue
        f = int(np.nanargmax(r))
        rows.append({"structure": name, "feature": f, "corr": float(r[f])})
    return pd.DataFrame(rows)


#: The two SAEs of the planted match: the trained model's and the random model's (control).
MODELS = ("trained", "random")

#: Columns of :func:`heldout_planted_match`.
PLANTED_COLUMNS = (
    "structure", "model", "feature", "corr", "ci_low", "ci_high", "corr_selection",
    "n_tokens", "n_dates", "n_weeks",
)  # fmt: skip


def _date_sums(sums: FeatureSums, i: int, f: int) -> np.ndarray:
    """``(6, D)``: per date, the rows ``n, Σa, Σa², Σs, Σs², Σas`` of feature ``f`` and field ``i``."""
    return np.stack(
        [
            sums.date_tokens.astype(np.float64),
            sums.date_sum[:, f],
            sums.date_sum2[:, f],
            sums.date_field_sum[:, i],
            sums.date_field_sum2[:, i],
            sums.date_field_cross[:, i, f],
        ]
    )


def _select(sums: FeatureSums, i: int, on: np.ndarray) -> tuple[int, float]:
    """The feature with the largest r with field ``i`` over the dates ``on`` ``(D,)`` bool, and that r."""
    r = pearson_from_sums(
        float(sums.date_tokens[on].sum()),
        sums.date_sum[on].sum(0),
        sums.date_sum2[on].sum(0),
        sums.date_field_sum[on, i].sum(),
        sums.date_field_sum2[on, i].sum(),
        sums.date_field_cross[on, i].sum(0),
    )
    if not np.isfinite(r).any():
        return -1, float("nan")
    f = int(np.nanargmax(r))
    return f, float(r[f])


def _away_from(dates: pd.DatetimeIndex, holdout: np.ndarray, gap_days: int) -> np.ndarray:
    """``(D,)`` bool: dates not held out and more than ``gap_days`` days from every held-out date."""
    days = np.asarray(dates.values.astype("datetime64[D]").astype(np.int64))
    held = np.sort(days[holdout])
    if not len(held) or gap_days <= 0:
        return ~holdout
    idx = np.searchsorted(held, days)
    left = held[np.clip(idx - 1, 0, len(held) - 1)]
    right = held[np.clip(idx, 0, len(held) - 1)]
    nearest = np.minimum(np.abs(days - left), np.abs(days - right))
    return ~holdout & (nearest > gap_days)


def heldout_planted_match(
    trained: FeatureSums,
    control: FeatureSums | None,
    holdout: np.ndarray,
    weeks: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    ci_level: float = 0.95,
    gap_days: int = 0,
) -> pd.DataFrame:
    """The planted match selected on the SAE's training dates and scored on held-out weeks.

    Per structure and SAE (the trained model's and the control's): the feature with the
    largest Pearson r over the tokens of the dates not held out (the dates the SAEs were
    trained on) and more than ``gap_days`` days from every held-out date (that r, a
    maximum over all features, is ``corr_selection`` and biased upward), then that one
    feature's r over the held-out dates' tokens (``corr``: no selection left in it, so a
    dictionary with nothing of the structure scores about 0). The gap matters: two
    unrelated series that each persist from day to day have correlated sample
    correlations on adjacent days, so a feature selected on the days next to a held-out
    week keeps part of its chance correlation there (tests/test_feature_atlas.py: a null
    with day-to-day autocorrelation 0.8 gives a held-out r of 0.05 without a gap, about 0
    with 7 days).
    The row ``model = 'excess'`` is the trained SAE's held-out r minus the control's.

    Intervals: ``n_boot`` resamples of the held-out ISO weeks with replacement (a block
    bootstrap: a week's tokens are correlated), the same resamples for the trained SAE,
    the control and their difference (paired); the selected features stay fixed. With
    ``m`` weeks (10 in a year with ``holdout_every = 5``) a percentile interval is too
    narrow (10 % false positives in the calibration suite's ``planted_match_null``
    cases), so the interval is ``estimate ± t(m-1) x sd x sqrt(m / (m - 1))``, with ``sd``
    the resamples' standard deviation, on Fisher's ``z = atanh r`` for a correlation
    (back-transformed) and directly for the difference. NaN without held-out dates, and
    intervals NaN with fewer than two held-out weeks.

    Args:
        trained: The trained model's SAE's sums, with fields (:func:`encode_tokens`).
        control: The control's (the random model's SAE on the random model's tokens),
            over the same dates; None: its rows and the excess are NaN.
        holdout: ``(D,)`` bool, True for a held-out date of ``trained.dates``
            (:func:`aurora_xai.features.split.holdout_dates`).
        weeks: ``(D,)`` the dates' week labels (:func:`~aurora_xai.features.split.holdout_weeks`).
        n_boot: Resamples.
        seed: Seed of the resamples.
        ci_level: Level of the intervals.
        gap_days: Days left out of the selection on each side of the held-out dates.

    Returns:
        :data:`PLANTED_COLUMNS`, one row per structure and model (``trained``,
        ``random``, ``excess``); ``n_tokens``/``n_dates``/``n_weeks`` count the held-out
        tokens, dates and weeks; ``feature`` is -1 where none was selected (and for the
        excess).

    Raises:
        ValueError: for sums without per-date field sums, a control over other dates, or
            masks of another length than the dates, or ``n_boot < 1``.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not trained.fields or trained.date_field_cross.shape[:2] != (len(trained.dates), len(trained.fields)):
        raise ValueError("the planted match needs encode_tokens' per-date field sums (encode with fields)")
    holdout = np.asarray(holdout, dtype=bool)
    weeks = np.asarray(weeks)
    if holdout.shape != (len(trained.dates),) or weeks.shape != holdout.shape:
        raise ValueError(
            f"holdout and weeks must have one entry per date ({len(trained.dates)}), got {holdout.shape} and {weeks.shape}"
        )
    if control is not None and (
        not trained.dates.equals(control.dates) or tuple(control.fields) != tuple(trained.fields)
    ):
        raise ValueError(
            "the control's token stores hold other dates or fields than the trained model's: "
            f"{len(control.dates)} dates {tuple(control.fields)} against {len(trained.dates)} {tuple(trained.fields)}"
        )
    ho = np.flatnonzero(holdout)
    select_on = _away_from(trained.dates, holdout, gap_days)
    week_ids, week_of = np.unique(weeks[ho], return_inverse=True)
    m = len(week_ids)
    counts = week_counts(m, n_boot, seed)
    # rows: the estimate (every held-out date once), then the resamples
    weights = np.vstack([np.ones((1, len(ho))), counts[:, week_of] if m else np.zeros((n_boot, 0))])
    from scipy.stats import t as student_t

    # few weeks (10 in a year): a percentile interval is too narrow (10 % false positives
    # in the calibration suite); the bootstrap's standard error, scaled by sqrt(m / (m - 1)),
    # with Student's t on m - 1 degrees of freedom, on Fisher's z for a correlation
    t_crit = float(student_t.ppf(0.5 + ci_level / 2, max(m - 1, 1)))

    def ci(estimate: float, v: np.ndarray, fisher: bool) -> tuple[float, float]:
        v = v[np.isfinite(v)]
        if m < 2 or len(v) < 2 or not np.isfinite(estimate):
            return float("nan"), float("nan")
        if fisher:
            z = np.arctanh(np.clip(v, -0.999999, 0.999999))
            half = t_crit * float(np.std(z, ddof=1)) * np.sqrt(m / (m - 1))
            centre = float(np.arctanh(np.clip(estimate, -0.999999, 0.999999)))
            return float(np.tanh(centre - half)), float(np.tanh(centre + half))
        half = t_crit * float(np.std(v, ddof=1)) * np.sqrt(m / (m - 1))
        return estimate - half, estimate + half

    n_tokens = int(trained.date_tokens[ho].sum())
    rows = []
    for i, name in enumerate(trained.fields):
        scored = {}
        for model, sums in zip(MODELS, (trained, control)):
            f, r_sel = (-1, float("nan")) if sums is None else _select(sums, i, select_on)
            if f < 0 or not len(ho):
                r = np.full(n_boot + 1, np.nan)
            else:
                n, sa, saa, ss, sss, sas = (weights @ _date_sums(sums, i, f)[:, ho].T).T
                r = pearson_from_sums(n, sa, saa, ss, sss, sas)
            scored[model] = r
            rows.append((name, model, f, float(r[0]), *ci(float(r[0]), r[1:], True), r_sel))
        diff = scored["trained"] - scored["random"]
        rows.append((name, "excess", -1, float(diff[0]), *ci(float(diff[0]), diff[1:], False), float("nan")))
    return pd.DataFrame([(*row, n_tokens, len(ho), m) for row in rows], columns=list(PLANTED_COLUMNS)).astype(
        {"feature": np.int64}
    )


def feature_atlas(
    sae: Any,
    stores: Sequence[str | Path],
    regions: Mapping[str, Region],
    labels: pd.DataFrame | None,
    probes: xr.DataArray | None,
    top_dates: int,
    fields: FieldSource | None = None,
    control_sae: Any = None,
    control_stores: Sequence[str | Path] = (),
    not_applicable: str = "",
    batch_size: int = 8192,
    attrs: Mapping[str, Any] | None = None,
    holdout_every: int = 5,
    n_boot: int = 1000,
    seed: int = 0,
    gap_days: int = 7,
) -> xr.Dataset:
    """The atlas of one tap's SAE with the planted-structure match beside its control.

    The trained SAE's tokens are encoded once (:func:`encode_tokens`) with ``fields``;
    the control SAE's tokens (the random model's SAE on the random model's tokens) only
    when there are fields, since the planted match is all it is used for. The match is
    :func:`heldout_planted_match`: selected on the SAEs' training dates, scored on the
    held-out weeks (``features.evaluation.holdout_every``, the weeks the SAEs never saw).

    Args:
        sae: The analysed SAE (the trained model's tokens, first seed).
        stores: Its token stores (one per shard).
        regions, labels, probes, top_dates: As :func:`atlas_dataset`.
        fields: The planted structures (None: no planted match).
        control_sae: The random model's SAE; with ``control_stores`` its tokens.
        not_applicable: Why there is no planted match (recorded when ``fields`` is None).
        batch_size: Tokens encoded at once.
        attrs: Attributes of the dataset.
        holdout_every: The held-out ISO weeks (:func:`aurora_xai.features.split.holdout_dates`).
        n_boot, seed: The week bootstrap of the match's intervals.
        gap_days: Days between the selection's dates and the held-out ones
            (:func:`heldout_planted_match`).

    Returns:
        :func:`atlas_dataset`'s dataset plus, with fields, ``planted_feature``,
        ``planted_corr`` (held-out r), ``planted_ci_low``/``planted_ci_high`` and
        ``planted_corr_selection`` ``(model, structure)`` (:data:`MODELS`),
        ``planted_excess`` and its ``planted_excess_ci_low``/``_high`` ``(structure,)``,
        ``planted_tokens`` ``(model,)`` (held-out tokens) and the attributes
        ``planted_dates``/``planted_weeks`` (held out); without, the attribute
        ``planted_not_applicable``.
    """
    sums = encode_tokens(sae, stores, batch_size=batch_size, fields=fields)
    ds = atlas_dataset(sums, regions, labels, probes, top_dates, attrs)
    if fields is None:
        ds.attrs["planted_not_applicable"] = not_applicable or "no planted structures"
        return ds
    control = None
    if control_sae is not None and control_stores:
        control = encode_tokens(control_sae, control_stores, batch_size=batch_size, fields=fields, where=False)
    holdout = holdout_dates(sums.dates, holdout_every)
    match = heldout_planted_match(
        sums, control, holdout, holdout_weeks(sums.dates), n_boot=n_boot, seed=seed, gap_days=gap_days
    ).set_index(["model", "structure"])
    structures = list(sums.fields)

    def grid(column: str, models: Sequence[str] = MODELS) -> np.ndarray:
        return np.array([[match.loc[(m, st), column] for st in structures] for m in models])

    ds["planted_feature"] = (
        ("model", "structure"),
        grid("feature").astype(np.int64),
        {
            "long_name": "feature whose activation correlates most with the planted field on the training dates (-1: none)"
        },
    )
    long_names = {
        "corr": "the feature's Pearson r over the held-out weeks' tokens",
        "ci_low": "lower end of its week-bootstrap interval",
        "ci_high": "upper end of its week-bootstrap interval",
        "corr_selection": "its Pearson r over the training dates' tokens (where it was selected; biased upward)",
    }
    for column, long_name in long_names.items():
        name = "planted_corr" if column == "corr" else f"planted_{column}"
        ds[name] = (("model", "structure"), grid(column).astype(np.float64), {"long_name": long_name})
    for column, name in (
        ("corr", "planted_excess"),
        ("ci_low", "planted_excess_ci_low"),
        ("ci_high", "planted_excess_ci_high"),
    ):
        ds[name] = (
            ("structure",),
            grid(column, ("excess",))[0].astype(np.float64),
            {
                "long_name": "trained SAE's held-out r minus the control's"
                + ("" if column == "corr" else f" ({column})")
            },
        )
    held = [int(sums.date_tokens[holdout].sum()), 0 if control is None else int(control.date_tokens[holdout].sum())]
    ds["planted_tokens"] = ("model", np.array(held), {"long_name": "held-out tokens correlated"})
    ds.attrs["planted_dates"] = int(holdout.sum())
    ds.attrs["planted_weeks"] = int(match["n_weeks"].iloc[0])
    ds.attrs["planted_holdout_every"] = int(holdout_every)
    ds.attrs["planted_gap_days"] = int(gap_days)
    return ds.assign_coords(model=np.array(MODELS, dtype=object))


def atlas_table(ds: xr.Dataset, tap: str, n_top: int) -> pd.DataFrame:
    """The top features of one tap's atlas (:func:`top_features`), one row each.

    Columns: ``tap, rank, feature, description, firing_rate, mean_activation, date_std,
    peak_level, centre_lat, centre_lon, storm_corr, probe (the quantity of the largest
    |r|), probe_corr, top_dates`` (``;``-separated ``YYYY-MM-DD``).
    """
    rows = []
    quantities = [str(q) for q in ds["quantity"].values]
    for rank, f in enumerate(top_features(ds, n_top), start=1):
        d = ds.sel(feature=int(f))
        pr = d["probe_corr"].values if quantities else np.zeros(0)
        best = int(np.nanargmax(np.abs(pr))) if np.isfinite(pr).any() else -1
        rows.append(
            {
                "tap": tap,
                "rank": rank,
                "feature": int(f),
                "description": str(d["description"].values),
                "firing_rate": float(d["firing_rate"]),
                "mean_activation": float(d["mean_activation"]),
                "date_std": float(d["date_std"]),
                "peak_level": int(d["peak_level"]),
                "centre_lat": float(d["centre_lat"]),
                "centre_lon": float(d["centre_lon"]),
                "storm_corr": float(d["storm_corr"]),
                "probe": quantities[best] if best >= 0 else "",
                "probe_corr": float(pr[best]) if best >= 0 else float("nan"),
                "top_dates": ";".join(f"{t:%Y-%m-%d}" for t in pd.DatetimeIndex(d["top_date"].values)),
            }
        )
    return pd.DataFrame(rows)


def planted_table(atlases: Mapping[str, xr.Dataset], structures: Sequence[str]) -> pd.DataFrame:
    """The planted match of every tap (:func:`feature_atlas`'s, held-out): ``tap, model,
    structure, feature, corr, ci_low, ci_high, corr_selection, n_tokens, description,
    note``, with ``model`` in :data:`MODELS` and ``excess`` (the trained SAE's r minus the
    control's). ``note`` says why a row is not applicable (e.g. a store without planted
    structures: one row per model and ``structures`` then); empty otherwise."""
    rows = []
    nan = float("nan")
    for tap, ds in atlases.items():
        if "planted_corr" not in ds:
            reason = str(ds.attrs.get("planted_not_applicable", "no planted structures"))
            for model in (*MODELS, "excess"):
                for structure in structures:
                    rows.append({"tap": tap, "model": model, "structure": structure, "feature": -1, "corr": nan,
                                 "ci_low": nan, "ci_high": nan, "corr_selection": nan, "n_tokens": 0,
                                 "description": "", "note": reason})  # fmt: skip
            continue
        for structure in ds["structure"].values:
            for model in ds["model"].values:
                sel = {"model": model, "structure": structure}
                f = int(ds["planted_feature"].sel(sel))
                r = float(ds["planted_corr"].sel(sel))
                n = int(ds["planted_tokens"].sel(model=model))
                if np.isfinite(r):
                    note = ""
                elif n == 0:
                    note = "no control SAE" if model == "random" else "no held-out tokens"
                else:
                    note = "no feature varies with the field"
                desc = str(ds["description"].sel(feature=f).values) if model == "trained" and f >= 0 else ""
                rows.append({"tap": tap, "model": str(model), "structure": str(structure), "feature": f, "corr": r,
                             "ci_low": float(ds["planted_ci_low"].sel(sel)),
                             "ci_high": float(ds["planted_ci_high"].sel(sel)),
                             "corr_selection": float(ds["planted_corr_selection"].sel(sel)),
                             "n_tokens": n, "description": desc, "note": note})  # fmt: skip
            d = float(ds["planted_excess"].sel(structure=structure))
            rows.append({"tap": tap, "model": "excess", "structure": str(structure), "feature": -1, "corr": d,
                         "ci_low": float(ds["planted_excess_ci_low"].sel(structure=structure)),
                         "ci_high": float(ds["planted_excess_ci_high"].sel(structure=structure)),
                         "corr_selection": nan, "n_tokens": int(ds["planted_tokens"].sel(model="trained")),
                         "description": "", "note": "" if np.isfinite(d) else "no control SAE"})  # fmt: skip
    return pd.DataFrame(rows)


#: Headline suffix of each row of the planted match.
_PLANTED_SUFFIX = {"trained": "", "random": "_random", "excess": "_excess"}


def planted_headline(table: pd.DataFrame, tap: str, structures: Sequence[str]) -> list[dict[str, Any]]:
    """Headline rows ``sae_planted_match_<structure>`` (the trained SAE at ``tap``),
    ``..._random`` (its control) and ``..._excess`` (the difference), for
    :func:`aurora_xai.tables.headline_rows`, with the week-bootstrap intervals;
    not-applicable rows with the table's note."""
    from ..tables import not_applicable

    rows: list[dict[str, Any]] = []
    sub = table[table["tap"] == tap]
    for structure in structures:
        for model, suffix in _PLANTED_SUFFIX.items():
            metric = f"sae_planted_match_{structure}{suffix}"
            if model == "excess":
                method = (
                    f"held-out Pearson r of the trained model's SAE's best {structure} feature minus the random "
                    f"model's SAE's (rows sae_planted_match_{structure} and ..._random) at {tap}; paired "
                    "bootstrap of the held-out ISO weeks"
                )
            else:
                method = (
                    f"Pearson r over the held-out weeks' tokens between the planted {structure} field (at the "
                    f"token's date and position) and the one feature of the {model} model's SAE at {tap} with the "
                    "largest r on the training dates; percentile interval of a bootstrap of the held-out ISO weeks"
                    + ("" if suffix else " (control: the random model's SAE, row ..._random)")
                )
            hit = sub[(sub["model"] == model) & (sub["structure"] == structure)]
            if hit.empty or not np.isfinite(hit["corr"].iloc[0]):
                note = hit["note"].iloc[0] if not hit.empty and hit["note"].iloc[0] else f"no atlas of tap {tap}"
                rows.append(not_applicable(metric, note, method=method, n_unit="held-out tokens"))
                continue
            row = hit.iloc[0]
            rows.append(
                {
                    "metric": metric,
                    "value": float(row["corr"]),
                    "ci_low": float(row["ci_low"]),
                    "ci_high": float(row["ci_high"]),
                    "n": int(row["n_tokens"]),
                    "method": method + ("" if model == "excess" else f"; feature {int(row['feature'])}"),
                    "n_unit": "held-out tokens",
                }
            )
    return rows
