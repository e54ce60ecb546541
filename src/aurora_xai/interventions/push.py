"""Pushing a region's latent tokens along directions, and the forecast's response.

:func:`push_tokens` hooks the module of a tap (:mod:`aurora_xai.latents.taps`) and adds a
per-row shift ``(B, C, D)`` (latent level, channel) to the tokens ``(B, C*H*W, D)``
whose patch centre lies in a region (:func:`region_token_mask`; longitudes wrap as in
pooling, by :class:`~aurora_xai.regions.Region`); every other token, and the rest of the
forward pass, is unchanged. At the taps ``backbone.encoder.<k>`` (and ``bottleneck``) the
hook sits on the last block of stage ``k``, so that the pushed tokens feed both the
down-sampling and the skip connection (the tap's own module returns them only after
the down-sampled copy is computed); at ``encoder`` and ``backbone`` it sits on the tap's
module.

:func:`responses` runs many pushes of one sample in batched forward passes and returns
the region mean of forecast quantities minus that of the unpushed forecast, computed in
the same pass (each pass holds the unpushed copy first, so batch composition cannot
enter the difference).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from ..grid import region_cell_weights
from ..latents.geometry import patch_centres, token_resolution
from ..latents.taps import resolve_tap
from ..regions import Region

__all__ = [
    "QUANTITIES",
    "TokenPush",
    "forecast_quantity",
    "push_module",
    "push_tokens",
    "quantity_weights",
    "region_token_mask",
    "repeat_sample",
    "responses",
]

#: Forecast quantities (``interventions.quantities``) -> (units, long name).
QUANTITIES: dict[str, tuple[str, str]] = {
    "2t": ("K", "2 m temperature"),
    "msl": ("hPa", "mean sea-level pressure"),
    "10m_wind_speed": ("m s-1", "10 m wind speed"),
    "10v": ("m s-1", "10 m meridional wind"),
}


def _check_quantity(name: str) -> None:
    if name not in QUANTITIES:
        raise ValueError(f"interventions.quantities: unknown quantity {name!r}; known: {sorted(QUANTITIES)}")


def forecast_quantity(pred: Any, name: str) -> torch.Tensor:
    """A forecast quantity ``(B, H, W)`` (float64, units of :data:`QUANTITIES`) of a prediction.

    ``2t`` in K, ``msl`` in hPa (the model's Pa / 100), ``10m_wind_speed`` the speed of
    ``(10u, 10v)`` in m/s, ``10v`` the 10 m meridional wind in m/s.

    Raises:
        ValueError: naming ``interventions.quantities`` for an unknown quantity.
    """
    _check_quantity(name)
    surf = pred.surf_vars
    if name == "10m_wind_speed":
        u, v = surf["10u"][:, -1].double(), surf["10v"][:, -1].double()
        return torch.sqrt(u * u + v * v)
    x = surf[name][:, -1].double()
    return x / 100.0 if name == "msl" else x


def quantity_weights(region: Region, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Weights ``(H, W)`` of the forecast cells in ``region`` (exact cell areas, sum 1).

    Raises:
        ValueError: if no grid cell lies in the region (naming ``interventions.region``).
    """
    return region_cell_weights(region, lat, lon, grid="forecast grid", key="interventions.region")


def region_token_mask(
    model: Any, tap: str, lat: np.ndarray, lon: np.ndarray, region: Region, key: str = "interventions.tap"
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Which token columns of ``tap`` lie in ``region``: ``(H_k * W_k,)`` bool and ``(C, H_k, W_k)``.

    Args:
        model: An Aurora model.
        tap: Tap name.
        lat, lon: The input grid (before Aurora's crop).
        region: Selects tokens by their patch centre.
        key: Config key named in errors.

    Raises:
        ValueError: for an unknown tap (naming ``key``) or a region without a token
            centre (naming ``interventions.region``).
    """
    point = resolve_tap(model, tap, key)
    patch = model.encoder.patch_size
    lat_c, lon_c = patch_centres(lat, lon, patch, point.stage)
    res = token_resolution(
        lat, lon, patch, model.encoder.latent_levels, len(model.backbone.encoder_layers), point.stage
    )
    mask = region.mask(lat_c, lon_c)
    if not mask.any():
        raise ValueError(f"interventions.region: region {region.name!r} contains no token centre at tap {tap!r}")
    return mask.reshape(-1), tuple(res)  # type: ignore[return-value]


def push_module(model: Any, tap: str, key: str = "interventions.tap") -> Any:
    """The module whose output :func:`push_tokens` modifies for ``tap`` (module docstring):
    the tap's module at ``encoder`` and ``backbone``, else the last block of the tap's stage.

    Raises:
        ValueError: for an unknown tap (naming ``key``).
    """
    point = resolve_tap(model, tap, key)
    if tap in ("encoder", "backbone"):
        return point.module
    return model.backbone.encoder_layers[point.stage].blocks[-1]


_push_module = push_module


@dataclasses.dataclass
class TokenPush:
    """The shift a :func:`push_tokens` hook adds; set :attr:`shift` before each pass.

    Attributes:
        shift: ``(B, C, D)`` tensor (one row per sample of the next pass) or None (no push).
        calls: Forward passes the hook has modified.
    """

    mask: torch.Tensor
    shift: torch.Tensor | None = None
    calls: int = 0


@contextlib.contextmanager
def push_tokens(model: Any, tap: str, token_mask: np.ndarray, key: str = "interventions.tap") -> Iterator[TokenPush]:
    """Add ``push.shift[b, c]`` to the tokens of latent level ``c`` in the region, row ``b``.

    Args:
        model: An Aurora model.
        tap: Tap name (:mod:`aurora_xai.latents.taps`).
        token_mask: ``(H_k * W_k,)`` bool (:func:`region_token_mask`).
        key: Config key named in errors.

    Yields:
        A :class:`TokenPush`; tokens outside the mask are passed on untouched (the same
        values), and nothing is added while ``shift`` is None.

    Raises:
        ValueError: for an unknown tap (naming ``key``).
        RuntimeError: in the forward pass, if the shift does not match the tokens.
    """
    module = push_module(model, tap, key)
    push = TokenPush(torch.as_tensor(np.asarray(token_mask, dtype=bool)))

    def hook(_mod: Any, _inp: Any, out: torch.Tensor) -> torch.Tensor | None:
        if push.shift is None:
            return None
        b, n, d = out.shape
        s = push.shift
        hw = push.mask.numel()
        if s.shape[0] != b or s.shape[2] != d or s.shape[1] * hw != n:
            raise RuntimeError(
                f"shift {tuple(s.shape)} does not match tokens {tuple(out.shape)} with {hw} token columns"
            )
        grid = out.reshape(b, s.shape[1], hw, d)
        inside = push.mask.to(out.device)[None, None, :, None]
        new = torch.where(inside, grid + s.to(device=out.device, dtype=out.dtype)[:, :, None, :], grid)
        push.calls += 1
        return new.reshape(b, n, d)

    handle = module.register_forward_hook(hook)
    try:
        yield push
    finally:
        handle.remove()


def repeat_sample(batch: Any, k: int) -> Any:
    """``k`` copies of a sample of batch size 1, as one ``aurora.Batch`` of batch size ``k``."""
    some = next(iter(batch.surf_vars.values()))
    if some.shape[0] != 1:
        raise ValueError(f"repeat_sample needs a sample of batch size 1, got {some.shape[0]}")

    def rep(x: torch.Tensor) -> torch.Tensor:
        return x.expand(k, *x.shape[1:]).contiguous()

    meta = dataclasses.replace(batch.metadata, time=tuple(batch.metadata.time) * k)
    return dataclasses.replace(
        batch,
        surf_vars={n: rep(v) for n, v in batch.surf_vars.items()},
        atmos_vars={n: rep(v) for n, v in batch.atmos_vars.items()},
        metadata=meta,
    )


@torch.no_grad()
def responses(
    model: Any,
    batch: Any,
    tap: str,
    token_mask: np.ndarray,
    shifts: np.ndarray,
    quantities: Sequence[str],
    weights: np.ndarray,
    batch_size: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """Region-mean responses of forecast quantities to pushes of one sample's tokens.

    Args:
        model: An Aurora model (eval mode) on the sample's device.
        batch: The sample, batch size 1 (cast to the model's dtype).
        tap: Where to push.
        token_mask: ``(H_k * W_k,)`` tokens pushed (:func:`region_token_mask`).
        shifts: ``(K, C, D)`` one push ``alpha * u`` per variant.
        quantities: Names of :data:`QUANTITIES`.
        weights: ``(H, W)`` weights of the forecast cells (:func:`quantity_weights`).
        batch_size: Copies per forward pass. At least 2: the unpushed copy first, then
            ``batch_size - 1`` pushes, and each push is read against the unpushed copy of
            its own pass. 1 (when two copies do not fit in memory, as at 0.25 deg on 24 GB):
            the unpushed sample has a pass of its own, each push one pass, every pass of
            the same shape.

    Returns:
        ``(response (K, Q), reference (Q,))``: the pushed forecasts' region means minus
        the unpushed one's, and the unpushed region means (float64). A zero push gives a
        response of exactly 0 either way.

    Raises:
        ValueError: for an unknown quantity (naming ``interventions.quantities``) or
            ``batch_size`` < 1 (naming ``interventions.batch_size``).
    """
    for q in quantities:
        _check_quantity(q)
    if batch_size < 1:
        raise ValueError(f"interventions.batch_size must be at least 1, got {batch_size}")
    shifts = np.asarray(shifts, dtype=np.float64)
    k, c, d = shifts.shape
    per = max(batch_size - 1, 1)
    device = next(iter(batch.surf_vars.values())).device
    w = torch.as_tensor(weights, dtype=torch.float64, device=device)
    zero = torch.zeros(1, c, d, dtype=torch.float64)

    def region_means(rows: torch.Tensor) -> np.ndarray:  # (B, Q) for the pushes ``rows``
        push.shift = rows.to(device)
        pred = model(repeat_sample(batch, len(rows)))
        means = np.empty((len(rows), len(quantities)))
        for j, q in enumerate(quantities):
            f = forecast_quantity(pred, q)
            if f.shape[-2:] != w.shape:
                raise ValueError(f"forecast grid {tuple(f.shape[-2:])} does not match the weights {tuple(w.shape)}")
            means[:, j] = (f * w).sum(dim=(-2, -1)).cpu().numpy()
        return means

    out = np.empty((k, len(quantities)))
    with push_tokens(model, tap, token_mask) as push:
        ref = region_means(zero)[0] if batch_size == 1 else np.zeros(len(quantities))
        for i in range(0, k, per):
            part = torch.as_tensor(shifts[i : i + per])
            if batch_size == 1:
                out[i : i + len(part)] = region_means(part) - ref
            else:
                means = region_means(torch.cat([zero, part]))
                out[i : i + len(part)] = means[1:] - means[0]
                ref = means[0]
    return out, ref
