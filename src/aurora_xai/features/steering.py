"""Steering with four arms: control, reconstruction only, a feature's direction, random directions.

For each chosen date (``features.steering.dates_per_class`` storm and calm days of the
label table, :func:`~aurora_xai.interventions.directions.choose_dates`) the sample goes
through the model in four arms that share the date and the random draws:

* **control**: the model as it is;
* **reconstruction only**: the tap's tokens replaced by the SAE's reconstruction
  ``x_hat = W_dec TopK(W_enc (x - b_pre) + b_enc) + b_pre`` (:class:`~aurora_xai.features.sae.TopKSAE`)
  **everywhere** (every token of every latent level, the standard "spliced-in" SAE
  evaluation), or only in the steered region (``features.steering.reconstruct: region``);
* **feature**: the reconstruction plus ``alpha * s * d_f`` on every token of the region
  (every latent level), ``d_f`` the feature's unit decoder direction;
* **random**: the reconstruction plus ``alpha * s * r`` for ``features.steering.n_random``
  random directions ``r`` of unit norm on every latent level (:func:`random_unit_draws`).

PC1 and the storm axis of the pooled latents
(:func:`~aurora_xai.interventions.directions.build_directions`, as the interventions
build them) are steered beside the features, on top of the same reconstruction. Every
direction ``v (C, D)`` has Frobenius norm ``sqrt(C)`` (the root mean square over latent
levels of the shift added to a token is ``alpha * s``), and the dose unit ``s`` is the
same for all of them: the median over the live features of their mean activation where
they fire, the token-space norm of a typical feature's firing (a feature's decoder
direction has unit norm, so its activation is the norm it adds). So the pushes of every
direction at a dose have the same norm, doses are comparable across features and axes,
and the random pushes are one set shared by every direction: the same draws, the same
dates, computed once a date (``(directions + n_random) * alphas`` pushes a date instead
of ``directions * (1 + n_random) * alphas``). A feature's dose in units of its own mean
activation where it fires, ``m_f``, is ``alpha * s / m_f`` (``alpha_feature_units``).
The random directions have unit norm on every latent level as the features do; PC1 and
the storm axis keep their own split of the norm across levels.

The pushes reuse the interventions' machinery: the region's token columns
(:func:`~aurora_xai.interventions.push.region_token_mask`), the push hook
(:func:`~aurora_xai.interventions.push.push_tokens`, registered after the
reconstruction hook of :func:`reconstruct_tokens` on the same module, so it adds to the
reconstructed tokens), the forecast quantities and their region weights, the slopes,
the rank p-value among the random directions and the intervals that resample date
episodes and random directions together (:func:`~aurora_xai.interventions.summary.summary_table`).

Per date, the control and the reconstruction-only forecast each have a forward pass of
one copy (the same shape, so an identity reconstruction gives the control bit for bit);
the pushes run in batched passes whose first copy is the reconstruction only, and each
push is read against the first copy of its own pass (a zero push responds exactly 0).

Responses are the region means of forecast quantities
(:data:`~aurora_xai.interventions.push.QUANTITIES`) minus those of the reconstruction-only
arm; the response maps are the forecast fields' changes over the region and
:data:`MAP_MARGIN_DEG` degrees around it, averaged over the dates.

Feature choice (:func:`feature_statistics`, :func:`choose_features`): per feature, its
firing frequency and mean activation where it fires over the whole token sample of the
tap, and the correlation over labelled dates of its per-date mean activation over the
region's tokens with the storm label (1 storm, 0 calm, point-biserial). The first
``ceil(n / 2)`` features are those with the largest absolute correlation, the rest the
most frequently firing of the others.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..interventions.directions import Direction, DirectionData, build_directions, choose_dates, random_directions
from ..interventions.push import (
    QUANTITIES,
    forecast_quantity,
    push_module,
    push_tokens,
    quantity_weights,
    region_token_mask,
    repeat_sample,
)
from ..interventions.summary import bootstrap_weights, fewest_episodes, headline, slopes, summary_table
from ..regions import Region

__all__ = [
    "AXES",
    "MAP_MARGIN_DEG",
    "SteerDirection",
    "StepResult",
    "choose_features",
    "feature_statistics",
    "map_window",
    "random_unit_draws",
    "reconstruct_tokens",
    "run_steering",
    "steer_date",
    "steering_headline",
    "steering_table",
    "token_dates",
]

log = logging.getLogger(__name__)

#: Degrees around the region that the response maps cover.
MAP_MARGIN_DEG = 15.0
#: The pooled-latent axes steered beside the features.
AXES = ("pc1", "storm_axis")

#: ``reconstruct(tokens (n, D)) -> (n, D)`` in the tokens' dtype and device.
Reconstruct = Callable[[torch.Tensor], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class SteerDirection:
    """A steered direction.

    Attributes:
        name: ``feature<id>``, ``pc1`` or ``storm_axis``.
        vector: ``(C, D)`` float64 of Frobenius norm ``sqrt(C)``.
        scale: The feature's mean activation where it fires (NaN for an axis: the dose
            unit ``s`` is common, module docstring).
        feature: The SAE latent (-1 for an axis).
        description: In words.
    """

    name: str
    vector: np.ndarray
    scale: float
    feature: int
    description: str

    @property
    def level_norms(self) -> np.ndarray:
        """``(C,)`` norm of the direction on each latent level."""
        return np.linalg.norm(self.vector, axis=1)


def random_unit_draws(k: int, n_levels: int, n_channels: int, seed: int) -> np.ndarray:
    """``k`` random directions ``(k, C, D)`` of unit norm on every latent level.

    The interventions' Gaussian controls
    (:func:`~aurora_xai.interventions.directions.random_directions`) of a direction of unit
    norm on every level, seeded by ``rng_for(seed, "interventions", "steering")``: the
    same draws for every steered direction, each scaled by its per-level norms.
    """
    unit = np.ones((n_levels, n_channels)) / math.sqrt(n_channels)
    stub = Direction("steering", unit, tuple(str(i) for i in range(n_levels)), "unit on every level", 1.0)
    return random_directions(stub, k, seed)


@contextlib.contextmanager
def reconstruct_tokens(
    model: Any,
    tap: str,
    reconstruct: Reconstruct,
    token_mask: np.ndarray | None = None,
    key: str = "features.steering.tap",
) -> Iterator[dict[str, int]]:
    """Replace the tap's tokens by ``reconstruct(tokens)`` in every forward pass.

    Hooks the module :func:`~aurora_xai.interventions.push.push_tokens` hooks (enter this
    context first, so that a push adds to the reconstructed tokens).

    Args:
        model: An Aurora model.
        tap: Tap name.
        reconstruct: ``(n, D) -> (n, D)`` (e.g. an SAE's forward pass).
        token_mask: ``(H_k * W_k,)`` bool: replace only these token columns (every
            latent level); None: every token.
        key: Config key named in errors.

    Yields:
        A dict whose ``calls`` counts the modified passes.

    Raises:
        ValueError: for an unknown tap (naming ``key``).
    """
    module = push_module(model, tap, key)
    state = {"calls": 0}
    mask = None if token_mask is None else torch.as_tensor(np.asarray(token_mask, dtype=bool))

    def hook(_mod: Any, _inp: Any, out: torch.Tensor) -> torch.Tensor:
        b, n, d = out.shape
        state["calls"] += 1
        if mask is None:
            return reconstruct(out.reshape(-1, d)).to(out.dtype).reshape(b, n, d)
        hw = mask.numel()
        grid = out.reshape(b, n // hw, hw, d)
        m = mask.to(out.device)
        inside = grid[:, :, m]
        new = grid.clone()
        new[:, :, m] = reconstruct(inside.reshape(-1, d)).to(out.dtype).reshape(inside.shape)
        return new.reshape(b, n, d)

    handle = module.register_forward_hook(hook)
    try:
        yield state
    finally:
        handle.remove()


def sae_reconstruct(sae: Any) -> Reconstruct:
    """An SAE's reconstruction as a :data:`Reconstruct` (run in the SAE's dtype)."""
    dtype = next(sae.parameters()).dtype

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return sae(x.to(dtype)).to(x.dtype)

    return run


def map_window(region: Region, lat: np.ndarray, lon: np.ndarray, margin: float = MAP_MARGIN_DEG):
    """Rows and columns of the grid over ``region`` and ``margin`` degrees around it.

    Returns:
        ``(rows, cols)`` index arrays; columns ordered eastwards from the window's western
        edge (a window across the prime meridian is contiguous).
    """
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64) % 360
    rows = np.flatnonzero((lat >= region.lat_min - margin) & (lat <= region.lat_max + margin))
    if region.full_circle or (region.lon_max - region.lon_min) % 360 + 2 * margin >= 360:
        cols = np.argsort(lon, kind="stable")
    else:
        west = (region.lon_min - margin) % 360
        width = (region.lon_max - region.lon_min) % 360 + 2 * margin
        off = (lon - west) % 360
        cols = np.flatnonzero(off <= width)
        cols = cols[np.argsort(off[cols], kind="stable")]
    return rows, cols


@dataclasses.dataclass
class StepResult:
    """One date's arms.

    Attributes:
        control: ``(Q,)`` region means of the control forecast.
        reconstruction: ``(Q,)`` those of the reconstruction-only forecast.
        response: ``(K, Q)`` each push's region means minus the reconstruction-only ones
            of its own pass.
        downstream_map: ``(Q, h, w)`` reconstruction-only minus control field on the window.
    """

    control: np.ndarray
    reconstruction: np.ndarray
    response: np.ndarray
    downstream_map: np.ndarray


@torch.no_grad()
def steer_date(
    model: Any,
    batch: Any,
    tap: str,
    token_mask: np.ndarray,
    shifts: np.ndarray,
    quantities: Sequence[str],
    weights: np.ndarray,
    window: tuple[np.ndarray, np.ndarray],
    reconstruct: Reconstruct | None,
    where: str = "everywhere",
    batch_size: int = 16,
    on_fields: Callable[[np.ndarray, np.ndarray], None] | None = None,
) -> StepResult:
    """The four arms of one sample.

    Args:
        model: An Aurora model (eval mode) on the sample's device.
        batch: The sample, batch size 1 (cast to the model's dtype).
        tap: Where the tokens are reconstructed and pushed.
        token_mask: ``(H_k * W_k,)`` the region's token columns (pushed).
        shifts: ``(K, C, D)`` one push a variant (``alpha * s * v``).
        quantities: Names of :data:`~aurora_xai.interventions.push.QUANTITIES`.
        weights: ``(H, W)`` region weights of the forecast cells.
        window: ``(rows, cols)`` of the response maps (:func:`map_window`).
        reconstruct: The reconstruction (None: no replacement; then the
            reconstruction-only arm is the control).
        where: ``everywhere`` or ``region`` (which tokens are reconstructed).
        batch_size: Copies per pushed pass (the reconstruction-only copy first); 1: each
            push a pass of its own, read against the reconstruction-only pass.
        on_fields: Called with ``(push indices (b,), fields (b, Q, h, w))``: each push's
            forecast change on the window against the reconstruction-only copy.

    Returns:
        A :class:`StepResult`.

    Raises:
        ValueError: for ``where`` other than ``everywhere`` or ``region`` (naming
            ``features.steering``), ``batch_size < 1``, or an unknown quantity.
    """
    if where not in ("everywhere", "region"):
        raise ValueError(f"features.steering: reconstruction must be 'everywhere' or 'region', got {where!r}")
    if batch_size < 1:
        raise ValueError(f"steering batch_size must be at least 1, got {batch_size}")
    for q in quantities:
        if q not in QUANTITIES:
            raise ValueError(f"features.steering.quantities: unknown quantity {q!r}; known: {sorted(QUANTITIES)}")
    shifts = np.asarray(shifts, dtype=np.float64)
    k, c, d = shifts.shape
    device = next(iter(batch.surf_vars.values())).device
    w = torch.as_tensor(weights, dtype=torch.float64, device=device)
    rows, cols = (torch.as_tensor(a, device=device) for a in window)

    def read(rows_in: int, push: Any | None, shift: torch.Tensor | None) -> tuple[np.ndarray, np.ndarray]:
        if push is not None:
            push.shift = shift
        pred = model(repeat_sample(batch, rows_in))
        means = np.empty((rows_in, len(quantities)))
        fields = []
        for j, q in enumerate(quantities):
            f = forecast_quantity(pred, q)
            means[:, j] = (f * w).sum(dim=(-2, -1)).cpu().numpy()
            fields.append(f.index_select(-2, rows).index_select(-1, cols).cpu().numpy())
        return means, np.stack(fields, axis=1)  # (B, Q), (B, Q, h, w)

    control, control_field = read(1, None, None)
    mask = None if where == "everywhere" else token_mask
    rec_ctx = reconstruct_tokens(model, tap, reconstruct, mask) if reconstruct is not None else contextlib.nullcontext()
    out = np.empty((k, len(quantities)))
    zero = torch.zeros(1, c, d, dtype=torch.float64)
    with rec_ctx, push_tokens(model, tap, token_mask, key="features.steering.tap") as push:
        recon, recon_field = read(1, push, None)
        per = max(batch_size - 1, 1)
        for i in range(0, k, per):
            part = torch.as_tensor(shifts[i : i + per])
            idx = np.arange(i, i + len(part))
            if batch_size == 1:
                means, fields = read(len(part), push, part)
                out[idx] = means - recon[0]
                diff = fields - recon_field[0]
            else:
                means, fields = read(1 + len(part), push, torch.cat([zero, part]))
                out[idx] = means[1:] - means[0]
                diff = fields[1:] - fields[0]
            if on_fields is not None:
                on_fields(idx, diff)
    return StepResult(control[0], recon[0], out, recon_field[0] - control_field[0])


def feature_statistics(
    sae: Any,
    token_paths: Sequence[str | Path],
    region: Region,
    labels: pd.DataFrame,
    chunk: int = 8192,
) -> pd.DataFrame:
    """Per SAE latent: how often it fires, how strongly, and its storm correlation.

    Args:
        sae: A :class:`~aurora_xai.features.sae.TopKSAE`.
        token_paths: Token stores of the tap (:func:`~aurora_xai.features.tokens.open_tokens`).
        region: The steered region (the per-date means read its tokens).
        labels: The storm/calm label table (``date``, ``label`` storm/calm).
        chunk: Tokens encoded at once.

    Returns:
        One row per latent: ``feature``, ``frequency`` (share of the sample's tokens it
        fires on), ``mean_activation`` (mean where it fires; NaN if never),
        ``storm_corr`` (point-biserial correlation over the labelled dates of its mean
        activation over the region's tokens; NaN when undefined), ``n_labelled_dates``.

    Raises:
        ValueError: if the stores hold no token.
    """
    from .tokens import open_tokens

    n = int(sae.n_latents)
    fires = np.zeros(n)
    total = np.zeros(n)
    n_tok = 0
    per_date: dict[np.datetime64, np.ndarray] = {}
    per_date_count: dict[np.datetime64, int] = {}
    dtype = next(sae.parameters()).dtype
    for path in token_paths:
        ds = open_tokens(path)
        m = int(ds.sizes["token"])
        for a in range(0, m, chunk):
            part = ds.isel(token=slice(a, min(a + chunk, m)))
            x = torch.as_tensor(np.asarray(part["tokens"].values, dtype=np.float32)).to(dtype)
            with torch.no_grad():
                values, indices = sae.encode(x)
            v, ix = values.double().numpy(), indices.numpy()
            on = v > 0
            np.add.at(fires, ix[on], 1.0)
            np.add.at(total, ix[on], v[on])
            n_tok += len(x)
            inside = region.lat_mask(part["latitude"].values) & region.lon_mask(part["longitude"].values)
            days = pd.DatetimeIndex(part["date"].values).normalize().values
            for day in np.unique(days[inside]):
                sel = inside & (days == day)
                acc = per_date.setdefault(day, np.zeros(n))
                np.add.at(acc, ix[sel].ravel(), v[sel].ravel())
                per_date_count[day] = per_date_count.get(day, 0) + int(sel.sum())
    if n_tok == 0:
        raise ValueError("feature_statistics: the token stores hold no token")
    lab = labels.assign(day=pd.to_datetime(labels["date"]).dt.normalize())
    lab = lab[lab["label"].isin(["storm", "calm"])]
    ys, xs = [], []
    for day, y in zip(lab["day"].values, lab["label"].values):
        if day in per_date:
            ys.append(1.0 if y == "storm" else 0.0)
            xs.append(per_date[day] / per_date_count[day])
    corr = np.full(n, np.nan)
    if len(ys) >= 3 and 0 < sum(ys) < len(ys):
        y = np.asarray(ys)
        x = np.stack(xs)
        xc, yc = x - x.mean(axis=0), y - y.mean()
        den = np.sqrt((xc**2).sum(axis=0) * (yc**2).sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.where(den > 0, (xc * yc[:, None]).sum(axis=0) / np.where(den > 0, den, 1), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_act = np.where(fires > 0, total / np.maximum(fires, 1), np.nan)
    return pd.DataFrame(
        {
            "feature": np.arange(n),
            "frequency": fires / n_tok,
            "mean_activation": mean_act,
            "storm_corr": corr,
            "n_labelled_dates": len(ys),
        }
    )


def choose_features(stats: pd.DataFrame, n: int) -> pd.DataFrame:
    """The steered features: ``ceil(n / 2)`` of the largest ``|storm_corr|``, then the most
    frequently firing of the others (live features only; ties to the lower index).

    Returns:
        The chosen rows of ``stats`` with a ``reason`` column (``storm correlation`` or
        ``frequency``), in that order.

    Raises:
        ValueError: if no feature fires (naming ``features.steering.features``).
    """
    live = stats[stats["frequency"] > 0]
    if live.empty:
        raise ValueError("features.steering.features: no SAE feature fires on the token sample")
    by_corr = live[np.isfinite(live["storm_corr"])]
    by_corr = by_corr.assign(key=-by_corr["storm_corr"].abs()).sort_values(["key", "feature"], kind="stable")
    first = by_corr.head(math.ceil(n / 2)).drop(columns="key").assign(reason="storm correlation")
    rest = live[~live["feature"].isin(first["feature"])]
    rest = rest.assign(key=-rest["frequency"]).sort_values(["key", "feature"], kind="stable")
    second = rest.head(n - len(first)).drop(columns="key").assign(reason="frequency")
    return pd.concat([first, second], ignore_index=True)


def _feature_direction(sae: Any, row: Any, n_levels: int) -> SteerDirection:
    f = int(row.feature)
    d = sae.decoder.detach().double().cpu().numpy()[f]
    d = d / np.linalg.norm(d)
    corr = "" if not np.isfinite(row.storm_corr) else f", storm correlation {row.storm_corr:+.2f}"
    desc = (
        f"SAE feature {f}'s decoder direction on every latent level (chosen by {row.reason}; fires on "
        f"{100 * row.frequency:.1f} % of the sample's tokens, mean activation {row.mean_activation:.3g}{corr})"
    )
    return SteerDirection(f"feature{f}", np.tile(d, (n_levels, 1)), float(row.mean_activation), f, desc)


def run_steering(
    cfg: Any,
    region: Region,
    spec: Any,
    source: Any,
    seed: int,
    sae: Any,
    token_paths: Sequence[str | Path],
    labels: pd.DataFrame,
    pooled: xr.Dataset | None = None,
    direction_data: Callable[[xr.Dataset, pd.DataFrame], DirectionData] | None = None,
    device: str | torch.device = "cpu",
    batch_size: int | str = 16,
    model: Any = None,
) -> xr.Dataset:
    """Steer every chosen date along the chosen features, PC1 and the storm axis.

    Args:
        cfg: ``features.steering`` (:class:`~aurora_xai.features.settings.SteeringSettings`;
            ``cfg.reconstruct`` says which tokens are reconstructed).
        region: The region steered and read (``interventions.region``, empty: ``pca.region``).
        spec: The model (``model``; ignored when ``model`` is given).
        source: The opened store (``.lat``, ``.lon``, ``.batch(time)``).
        seed: ``seed`` (the random draws).
        sae: The tap's SAE (:func:`~aurora_xai.features.sae.load_sae`).
        token_paths: The tap's token stores (the feature choice).
        labels: The storm/calm label table.
        pooled: Pooled latents of the tap (PC1, the storm axis; None: features only).
        direction_data: Builds the interventions' :class:`DirectionData` from ``pooled``
            and ``labels`` (the ``pca`` settings).
        device: Where the model runs.
        batch_size: Copies per pushed pass (1: a pass a push), or ``"auto"``: as many as
            fit in memory (:func:`~aurora_xai.perturbation.forward.memory_batch_size`),
            measured from the first date's control pass (``interventions.batch_size``).
        model: An already built model (tests); None: built from ``spec``.

    Returns:
        Dataset with ``response (date, direction, member, alpha, quantity)`` (member 0 the
        direction, 1..K the random directions; against the reconstruction-only arm),
        ``slope (date, direction, member, quantity)``, ``control``, ``reconstruction``,
        ``downstream (date, quantity)``, ``label (date)``, ``units``, ``long_name
        (quantity)``, ``scale`` (the common dose unit), ``mean_activation``, ``feature``
        and ``description (direction)``, ``alpha_feature_units (direction, alpha)``,
        ``vector (direction, latent_level, channel)``, the maps ``map`` and
        ``random_rms_map (direction, alpha, quantity, lat, lon)`` (mean over dates of the
        direction's field change; root mean square over dates and random directions of
        theirs) and ``downstream_map (quantity, lat, lon)``, and ``feature_stats``.

    Raises:
        ValueError: for an SAE of other channels than the tap's tokens, or as the parts.
    """
    from ..latents.geometry import cropped_grid
    from ..logs import Progress
    from ..memory import peak_bytes
    from ..model import build_model, checkpoint_id, model_dtype
    from ..perturbation.forward import AUTO, copy_input_bytes, memory_batch_size

    stats = feature_statistics(sae, token_paths, region, labels)
    chosen = choose_features(stats, cfg.features)
    for r in chosen.itertuples():
        log.info(
            "feature %d (%s): storm correlation %.3f, frequency %.4f, mean activation %.4g",
            r.feature,
            r.reason,
            r.storm_corr,
            r.frequency,
            r.mean_activation,
        )
    if model is None:
        model = build_model(spec, device=device)
    model.eval()
    lat, lon = np.asarray(source.lat), np.asarray(source.lon)
    token_mask, res = region_token_mask(model, cfg.tap, lat, lon, region, key="features.steering.tap")
    n_levels = int(res[0])
    dirs = [_feature_direction(sae, r, n_levels) for r in chosen.itertuples()]
    typical = float(np.nanmedian(stats["mean_activation"]))
    if pooled is not None and direction_data is not None:
        data = direction_data(pooled, labels)
        for name, ax in build_directions(list(AXES), data).items():
            if ax.vector.shape[0] != n_levels:
                raise ValueError(f"{name}: {ax.vector.shape[0]} latent levels, tap {cfg.tap!r} has {n_levels}")
            dirs.append(SteerDirection(name, ax.vector * math.sqrt(n_levels), np.nan, -1, ax.description))
    n_ch = dirs[0].vector.shape[1]
    if int(sae.d_in) != n_ch:
        raise ValueError(f"the SAE reads {sae.d_in} channels, the tap's tokens have {n_ch}")
    draws = random_unit_draws(cfg.n_random, n_levels, n_ch, seed)
    alphas = np.asarray(cfg.alphas, dtype=np.float64)
    nd, nk, na, nq = len(dirs), int(cfg.n_random), len(alphas), len(cfg.quantities)
    nm = nk + 1
    # one dose unit for every direction, so the random pushes are shared: the directions'
    # pushes (direction, alpha), then the random ones (draw, alpha), alpha fastest
    vectors = np.concatenate([np.stack([d.vector for d in dirs]), draws])
    shifts = (vectors[:, None] * (typical * alphas)[None, :, None, None]).reshape(-1, n_levels, n_ch)
    sample_times = pooled["date"].values if pooled is not None else token_dates(token_paths)
    dates = choose_dates(labels, sample_times, cfg.dates_per_class)
    lat_kept, dropped = cropped_grid(lat, model.encoder.patch_size)
    weights = quantity_weights(region, lat_kept, lon)
    window = map_window(region, lat_kept, lon)
    h, w = len(window[0]), len(window[1])
    own = np.zeros((nd * na, nq, h, w))
    rand_sq = np.zeros((na, nq, h, w))

    def on_fields(idx: np.ndarray, fields: np.ndarray) -> None:
        for i, f in zip(idx, fields):
            if i < nd * na:
                own[i] += f
            else:
                rand_sq[(i - nd * na) % na] += f * f

    reconstruct = sae_reconstruct(sae.to(device))
    nt = len(dates)
    response = np.empty((nt, nd, nm, na, nq))
    control = np.empty((nt, nq))
    recon = np.empty((nt, nq))
    down_map = np.zeros((nq, h, w))
    dt = model_dtype(model)
    progress = Progress(nt, unit="date", every=1)
    for i, t in enumerate(dates["time"]):
        batch = source.batch(pd.Timestamp(t)).type(dt).to(device)
        if i == 0:
            lsm = batch.static_vars["lsm"].double().cpu().numpy().reshape(len(lat), len(lon))[~dropped]
            lsm = lsm[window[0]][:, window[1]]
        if batch_size == AUTO:  # the control pass is one copy's forward pass: measure it
            with torch.no_grad():
                _, peak = peak_bytes(functools.partial(model.forward, batch), device)
            batch_size = memory_batch_size(
                peak + copy_input_bytes(batch), 1 + len(shifts), device, "interventions.batch_size", logger=log
            )
        step = steer_date(
            model,
            batch,
            cfg.tap,
            token_mask,
            shifts,
            cfg.quantities,
            weights,
            window,
            reconstruct,
            cfg.reconstruct,
            int(batch_size),
            on_fields,
        )
        response[i, :, 0] = step.response[: nd * na].reshape(nd, na, nq)
        response[i, :, 1:] = step.response[nd * na :].reshape(nk, na, nq)[None]
        control[i], recon[i] = step.control, step.reconstruction
        down_map += step.downstream_map
        if progress.update(i + 1):
            log.info(
                "[%d/%d] %s: %d pushes (%s)",
                i + 1,
                nt,
                f"{pd.Timestamp(t):%Y-%m-%d %H:%M}",
                len(shifts),
                progress.rate(),
            )
    units = [QUANTITIES[q][0] for q in cfg.quantities]
    ds = xr.Dataset(
        {
            "response": (("date", "direction", "member", "alpha", "quantity"), response),
            "slope": (("date", "direction", "member", "quantity"), slopes(response, alphas, axis=3)),
            "control": (("date", "quantity"), control),
            "reconstruction": (("date", "quantity"), recon),
            "downstream": (("date", "quantity"), recon - control),
            "label": (("date",), dates["label"].to_numpy(dtype=np.int64)),
            "units": (("quantity",), units),
            "long_name": (("quantity",), [QUANTITIES[q][1] for q in cfg.quantities]),
            "scale": (("direction",), np.full(nd, typical)),
            "mean_activation": (("direction",), np.array([d.scale for d in dirs])),
            "alpha_feature_units": (
                ("direction", "alpha"),
                np.array([alphas * (typical / d.scale if d.feature >= 0 else 1.0) for d in dirs]),
            ),
            "vector": (("direction", "latent_level", "channel"), np.stack([d.vector for d in dirs])),
            "feature": (("direction",), np.array([d.feature for d in dirs], dtype=np.int64)),
            "description": (("direction",), [d.description for d in dirs]),
            "map": (("direction", "alpha", "quantity", "lat", "lon"), own.reshape(nd, na, nq, h, w) / nt),
            "random_rms_map": (
                ("direction", "alpha", "quantity", "lat", "lon"),
                np.broadcast_to(np.sqrt(rand_sq / (nt * nk)), (nd, na, nq, h, w)).copy(),
            ),
            "downstream_map": (("quantity", "lat", "lon"), down_map / nt),
            "feature_stats": (
                ("feature", "stat"),
                stats[["frequency", "mean_activation", "storm_corr"]].to_numpy(dtype=np.float64),
            ),
        },
        coords={
            "date": pd.DatetimeIndex(dates["time"]).values,
            "direction": [d.name for d in dirs],
            "member": np.arange(nm),
            "alpha": alphas,
            "quantity": list(cfg.quantities),
            "lat": lat_kept[window[0]],
            "lon": np.asarray(lon)[window[1]],
            "land_sea_mask": (("lat", "lon"), lsm),
            "feature_id": (("feature",), stats["feature"].to_numpy()),
            "stat": ["frequency", "mean_activation", "storm_corr"],
        },
    )
    ds["response"].attrs["long_name"] = "region mean of the steered forecast minus the reconstruction-only one"
    ds["downstream"].attrs["long_name"] = "region mean of the reconstruction-only forecast minus the control"
    ds["member"].attrs["long_name"] = "0: the direction; 1..K: random directions of its per-level norms"
    ds["alpha"].attrs["long_name"] = "dose in units of the direction's scale (a feature's mean activation)"
    ds["map"].attrs["long_name"] = "forecast change against the reconstruction-only arm, mean over dates"
    ds["random_rms_map"].attrs["long_name"] = "root mean square over dates and random directions of their change"
    ds["downstream_map"].attrs["long_name"] = "reconstruction-only minus control forecast, mean over dates"
    ds["label"].attrs["flag_meanings"] = "0 calm, 1 storm"
    ds.attrs.update(
        {
            "tap": cfg.tap,
            "region": region.name,
            "reconstruction": cfg.reconstruct,
            "n_random": int(cfg.n_random),
            "typical_activation": typical,
            "map_margin_deg": MAP_MARGIN_DEG,
            "checkpoint": checkpoint_id(spec) if spec is not None else "",
            "pushes_per_date": len(shifts),
            "forward_passes_per_date": int(
                2 + (len(shifts) if int(batch_size) == 1 else math.ceil(len(shifts) / (int(batch_size) - 1)))
            ),
            "seconds": round(progress.elapsed, 2),
        }
    )
    return ds


def token_dates(token_paths: Sequence[str | Path]) -> pd.DatetimeIndex:
    """The dates of the token stores (the extraction's sample times), sorted."""
    from .tokens import open_tokens

    times = [np.unique(open_tokens(p)["date"].values) for p in token_paths]
    return pd.DatetimeIndex(np.unique(np.concatenate(times))) if times else pd.DatetimeIndex([])


def steering_table(ds: xr.Dataset, n_boot: int, seed: int, ci_level: float = 0.95) -> pd.DataFrame:
    """The steering table: slopes, rank p and dose-response per direction, and the downstream effect.

    Rows (columns ``direction, feature, quantity, units, statistic, alpha, value, ci_low,
    ci_high, n_dates, n_groups, n_random``):

    * per direction and quantity, the interventions' statistics
      (:func:`~aurora_xai.interventions.summary.summary_table`: ``slope``,
      ``random_rms_slope``, ``ratio``, ``rank_p``), per unit alpha;
    * per direction, quantity and alpha, ``response`` (mean over dates, interval over
      date episodes) and ``random_response_rms`` (root mean square over the random
      directions of their mean response; interval resampling date episodes and random
      directions together);
    * direction ``reconstruction``: ``downstream`` (reconstruction-only minus control,
      mean over dates, interval over date episodes) and ``downstream_relative`` (the same
      over the standard deviation across the steered dates of the control's region mean).
    """
    from ..interventions.summary import control_weights

    table = summary_table(ds, n_boot, seed, ci_level).assign(alpha=np.nan)
    counts, n_groups = bootstrap_weights(ds["date"].values, ds["label"].values, n_boot, seed)
    cw = control_weights(int(ds.sizes["member"]) - 1, n_boot, seed)
    few = fewest_episodes(ds["date"].values, ds["label"].values) < 2
    wd = counts / counts.sum(axis=1, keepdims=True)
    wc = cw / cw.sum(axis=1, keepdims=True)
    lo, hi = 50 * (1 - ci_level), 50 * (1 + ci_level)
    nt, k = int(ds.sizes["date"]), int(ds.sizes["member"]) - 1

    def ci(boot: np.ndarray) -> tuple[float, float]:
        return (np.nan, np.nan) if few else (float(np.percentile(boot, lo)), float(np.percentile(boot, hi)))

    rows = []
    for d in ds["direction"].values:
        for q in ds["quantity"].values:
            units = str(ds["units"].sel(quantity=q).item())
            for a in ds["alpha"].values:
                r = ds["response"].sel(direction=d, quantity=q, alpha=a).transpose("date", "member").values
                base = {"direction": str(d), "quantity": str(q), "units": units, "alpha": float(a)}
                base.update(n_dates=nt, n_groups=n_groups, n_random=k)
                own = wd @ r[:, 0]
                rows.append(
                    {
                        **base,
                        "statistic": "response",
                        "value": float(r[:, 0].mean()),
                        **dict(zip(("ci_low", "ci_high"), ci(own))),
                    }
                )
                mr = wd @ r[:, 1:]  # (B, K)
                rms = np.sqrt(np.sum(wc * mr**2, axis=1))
                rows.append(
                    {
                        **base,
                        "statistic": "random_response_rms",
                        "value": float(np.sqrt(np.mean(r[:, 1:].mean(axis=0) ** 2))),
                        **dict(zip(("ci_low", "ci_high"), ci(rms))),
                    }
                )
    for q in ds["quantity"].values:
        units = str(ds["units"].sel(quantity=q).item())
        x = ds["downstream"].sel(quantity=q).values
        sd = float(np.std(ds["control"].sel(quantity=q).values, ddof=1)) if nt > 1 else np.nan
        base = {
            "direction": "reconstruction",
            "quantity": str(q),
            "alpha": np.nan,
            "n_dates": nt,
            "n_groups": n_groups,
            "n_random": k,
        }
        lo_, hi_ = ci(wd @ x)
        rows.append(
            {**base, "units": units, "statistic": "downstream", "value": float(x.mean()), "ci_low": lo_, "ci_high": hi_}
        )
        rel = (
            {"value": float(x.mean()) / sd, "ci_low": lo_ / sd, "ci_high": hi_ / sd}
            if sd > 0
            else {"value": np.nan, "ci_low": np.nan, "ci_high": np.nan}
        )
        rows.append({**base, "units": "1", "statistic": "downstream_relative", **rel, "sd": sd})
    table = pd.concat([table, pd.DataFrame(rows)], ignore_index=True)
    feat = {str(d): int(f) for d, f in zip(ds["direction"].values, ds["feature"].values)}
    table.insert(1, "feature", table["direction"].map(feat).fillna(-1).astype(int))
    cols = ["direction", "feature", "quantity", "units", "statistic", "alpha", "value", "ci_low", "ci_high"]
    cols += ["n_dates", "n_groups", "n_random", "sd"]
    return table.reindex(columns=cols)


def steering_headline(
    table: pd.DataFrame, tap: str, n_boot: int | None = None, reconstruct: str = "everywhere"
) -> list[dict[str, Any]]:
    """Headline rows (for :func:`aurora_xai.tables.headline_rows`): ``steer_<direction>_<quantity>_rank_p`` (the interventions' rank-p rows,
    :func:`~aurora_xai.interventions.summary.headline`) and ``sae_downstream_<quantity>@<tap>``
    (reconstruction-only minus control in the quantity's units; the method states it
    relative to the quantity's standard deviation over the steered dates)."""
    ranks = table[table["statistic"] == "rank_p"]
    rows = [r for r in headline(ranks, n_boot, prefix="steer")]
    for r in rows:
        r["method"] = (
            r["method"].replace(
                "of the same norms", "of the same norm (one set for every direction, unit norm on every latent level)"
            )
            + "; slopes against the reconstruction-only arm"
        )
    down = table[table["statistic"] == "downstream"].set_index("quantity")
    rel = table[table["statistic"] == "downstream_relative"].set_index("quantity")
    for q, r in down.iterrows():
        rr = rel.loc[q]
        has_ci = np.isfinite(r["ci_low"]) and np.isfinite(r["ci_high"])
        interval = (
            f"percentile bootstrap of the date groups (episodes of a label whole){'' if n_boot is None else f', {int(n_boot)} resamples'}"
            if has_ci
            else "no interval: a label has fewer than two episodes among the dates"
        )
        rows.append(
            {
                "metric": f"sae_downstream_{q}@{tap}",
                "value": float(r["value"]),
                "ci_low": float(r["ci_low"]),
                "ci_high": float(r["ci_high"]),
                "n": int(r["n_dates"]),
                "n_unit": "dates",
                "unit": str(r["units"]),
                "method": (
                    f"region mean of the forecast with the tap's tokens replaced by the SAE's reconstruction "
                    f"({'every token' if reconstruct == 'everywhere' else 'the region only'}) minus the "
                    f"control forecast, mean over {int(r['n_dates'])} storm and calm dates; {interval}; relative to the "
                    f"standard deviation of the control's region mean over those dates ({float(rr['sd']):.4g} {r['units']}): "
                    f"{float(rr['value']):.3g} [{float(rr['ci_low']):.3g}, {float(rr['ci_high']):.3g}]"
                ),
            }
        )
    return rows
