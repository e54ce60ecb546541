"""Rule steer_features: steer the tap's tokens along SAE features, PC1 and the storm axis."""

from pathlib import Path

import pandas as pd
import torch
import xarray as xr

from aurora_xai.features.sae import load_sae
from aurora_xai.features.steering import run_steering, steering_headline, steering_table
from aurora_xai.interventions.directions import DirectionData
from aurora_xai.io import write_csv, write_netcdf
from aurora_xai.logs import setup_logging
from aurora_xai.model import resolve_device
from aurora_xai.provenance import provenance
from aurora_xai.settings import Settings
from aurora_xai.tables import headline_rows, log_headline

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
torch.set_num_threads(max(1, int(sm.threads)))
device = resolve_device(sm.resources.model_device)
cfg = settings.steering
pca = settings.pca
sae, _, meta = load_sae(sm.input.sae)
if meta.get("tap", cfg.tap) != cfg.tap:
    raise ValueError(f"features.steering.tap: {cfg.tap!r} but the SAE {sm.input.sae} is of tap {meta['tap']!r}")
tokens = [Path(d) / f"{cfg.tap}.zarr" for d in sm.input.tokens]
with xr.open_dataset(sm.input.pooled) as ds:
    pooled = ds.load()
labels = pd.read_csv(sm.input.labels, sep="\t")
batch_size = sm.resources.intervention_batch_size
result = run_steering(
    cfg,
    settings.regions[settings.steering_region],
    settings.model,
    settings.data.open(settings.history_hours),
    settings.seed,
    sae,
    tokens,
    labels,
    pooled=pooled,
    direction_data=lambda p, lab: DirectionData(p, lab, pca.region, pca.levels, pca.standardize),
    device=device,
    batch_size=batch_size if batch_size == "auto" else int(batch_size),
)
table = steering_table(result, cfg.n_boot, settings.seed)
result.attrs.update(provenance(sm.params.settings, checkpoint=result.attrs.get("checkpoint")))
result.attrs["sae"] = str(sm.input.sae)
write_netcdf(result, sm.output.dataset)
write_csv(table, sm.output.table)
rows = headline_rows(steering_headline(table, cfg.tap, cfg.n_boot, cfg.reconstruct))
write_csv(rows, sm.output.headline)
log_headline(log, rows)
log.info("steering: %d forward passes a date, %.1f s", result.attrs["forward_passes_per_date"], result.attrs["seconds"])
