"""Small models and batches for checking the attribution code (tests, benchmarks).

Aurora's initialisation zeroes the modulation of every adaptive layer norm, so in a
freshly initialised model each Swin block adds ``0 * ln(x) + 0`` to its residual
stream: the backbone attention and MLPs do nothing. :func:`tiny_lrp_model`
randomises that modulation (scale around 1) so that the checks exercise them, and
optionally draws non-zero biases.
"""

from __future__ import annotations

import datetime
from typing import Any

import torch

from aurora_xai.dates import utc_datetime
from aurora_xai.model import activate_modulation

__all__ = ["synthetic_batch", "tiny_lrp_model"]


def tiny_lrp_model(
    seed: int = 0,
    depths: tuple[int, int, int] = (2, 2, 2),
    dtype: torch.dtype = torch.float64,
    bias_std: float = 0.05,
) -> torch.nn.Module:
    """The tiny architecture with ``depths`` blocks per stage (2: shifted windows too)."""
    import aurora

    from aurora_xai.model import TINY_ARCH

    arch = dict(TINY_ARCH)
    arch.update(encoder_depths=depths, decoder_depths=tuple(reversed(depths)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = aurora.Aurora(**arch)
    activate_modulation(model, seed + 1, bias_std)
    return model.to(dtype).eval()


def synthetic_batch(
    nlat: int = 33,
    nlon: int = 64,
    levels: tuple[int, ...] = (100, 250, 500, 850),
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    time: datetime.datetime = datetime.datetime(2020, 1, 1, 12, tzinfo=datetime.UTC),
) -> Any:
    """A batch of size 1 whose normalised values are standard normal noise.

    Latitudes run from 90 to -90 (``nlat`` rows), longitudes from 0 in steps of
    ``360 / nlon``. The land-sea mask is a 0/1 pattern of two blobs. ``time`` is taken
    as UTC when naive (Aurora gets it timezone-aware).
    """
    import aurora
    from aurora.normalisation import locations, scales

    g = torch.Generator().manual_seed(seed)

    def noise(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    lat = torch.linspace(90, -90, nlat, dtype=torch.float64)
    lon = torch.arange(nlon, dtype=torch.float64) * (360.0 / nlon)
    surf = {k: locations[k] + scales[k] * noise(1, 2, nlat, nlon) for k in ("2t", "10u", "10v", "msl")}
    la, lo = torch.meshgrid(lat, lon, indexing="ij")
    blob1 = ((la - 45) / 20) ** 2 + ((lo - 20) / 40) ** 2 < 1
    blob2 = ((la + 20) / 25) ** 2 + ((lo - 250) / 30) ** 2 < 1
    lsm = (blob1 | blob2).to(torch.float64)
    static = {
        "lsm": lsm,
        "z": locations["z"] + scales["z"] * noise(nlat, nlon),
        "slt": locations["slt"] + scales["slt"] * noise(nlat, nlon),
    }
    atmos = {}
    for k in ("z", "u", "v", "t", "q"):
        loc = torch.tensor([locations[f"{k}_{lev}"] for lev in levels], dtype=torch.float64)
        sc = torch.tensor([scales[f"{k}_{lev}"] for lev in levels], dtype=torch.float64)
        atmos[k] = loc[:, None, None] + sc[:, None, None] * noise(1, 2, len(levels), nlat, nlon)
    batch = aurora.Batch(
        surf_vars={k: v.to(dtype) for k, v in surf.items()},
        static_vars={k: v.to(dtype) for k, v in static.items()},
        atmos_vars={k: v.to(dtype) for k, v in atmos.items()},
        metadata=aurora.Metadata(lat=lat, lon=lon, time=(utc_datetime(time),), atmos_levels=tuple(levels)),
    )
    return batch
