"""Rule feature_atlas: the atlas of one tap's SAE and the planted-structure match beside its control."""

import functools
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from aurora_xai.data.synthetic import planted_structures
from aurora_xai.features.atlas import feature_atlas
from aurora_xai.features.sae import load_sae
from aurora_xai.features.settings import AtlasSettings
from aurora_xai.io import write_netcdf
from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance
from aurora_xai.settings import Settings
from aurora_xai.storms.table import read_storm_days

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
torch.set_num_threads(max(1, int(sm.threads)))
settings = Settings(sm.params.settings)
atlas = settings.view(AtlasSettings)
tap = sm.wildcards.tap
sae, _, meta = load_sae(sm.input.sae)
control, _, _ = load_sae(sm.input.random_sae)
fields, reason = None, ""
if settings.data.source == "synthetic":
    fields = functools.partial(planted_structures, settings.synthetic)
else:
    reason = f"not applicable: data.source is {settings.data.source!r}, a store without planted structures"
with xr.open_dataset(sm.input.targets) as t:
    probes = t["target"].load()
ds = feature_atlas(
    sae,
    [Path(d) / f"{tap}.zarr" for d in sm.input.tokens],
    settings.regions,
    read_storm_days(sm.input.labels),
    probes,
    atlas.top_dates,
    fields=fields,
    control_sae=control,
    control_stores=[Path(d) / f"{tap}.zarr" for d in sm.input.random_tokens],
    not_applicable=reason,
    holdout_every=int(sm.params.settings["features"]["evaluation"]["holdout_every"]),
    n_boot=int(sm.params.settings["features"]["evaluation"]["n_boot"]),
    seed=settings.seed,
    gap_days=atlas.gap_days,
    attrs={"tap": tap, "sae_seed": int(meta.get("seed", -1)), "checkpoint_id": str(meta.get("checkpoint_id", ""))},
)
source = settings.data.open(settings.history_hours)
ds["land_sea_mask"] = (
    ("lsm_latitude", "lsm_longitude"),
    np.asarray(source.static_arrays["lsm"], dtype=np.float32),
    {"long_name": "land-sea mask of the store (the maps' coastlines)"},
)
ds = ds.assign_coords(lsm_latitude=np.asarray(source.lat), lsm_longitude=np.asarray(source.lon))
ds.attrs.update(provenance(sm.params.settings))
write_netcdf(ds, sm.output[0])
log.info("atlas of %s: %d features, %d tokens", tap, ds.sizes["feature"], ds.attrs["n_tokens"])
if "planted_corr" in ds:
    log.info(
        "planted match: features selected on the training dates, scored on %d held-out dates (%d weeks)",
        ds.attrs["planted_dates"],
        ds.attrs["planted_weeks"],
    )
    for s in ds["structure"].values:
        for model in ds["model"].values:
            sel = {"model": model, "structure": s}
            log.info(
                "planted %s, %s SAE: feature %d, held-out r = %.3f [%.3f, %.3f] (%.3f where selected)",
                s,
                model,
                int(ds["planted_feature"].sel(sel)),
                float(ds["planted_corr"].sel(sel)),
                float(ds["planted_ci_low"].sel(sel)),
                float(ds["planted_ci_high"].sel(sel)),
                float(ds["planted_corr_selection"].sel(sel)),
            )
        log.info(
            "planted %s, trained minus random: %.3f [%.3f, %.3f]",
            s,
            float(ds["planted_excess"].sel(structure=s)),
            float(ds["planted_excess_ci_low"].sel(structure=s)),
            float(ds["planted_excess_ci_high"].sel(structure=s)),
        )
