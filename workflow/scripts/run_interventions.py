"""Rule run_interventions: push a region's tokens along each direction and random controls."""

import pandas as pd
import torch
import xarray as xr

from aurora_xai.interventions.study import run_interventions
from aurora_xai.interventions.summary import headline, sign_rows, summary_table
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
with xr.open_dataset(sm.input.pooled) as ds:
    pooled = ds.load()
labels = pd.read_csv(sm.input.labels, sep="\t")
targets = None
if "targets" in sm.input.keys():
    with xr.open_dataset(sm.input.targets) as ds:
        targets = ds.load()
batch_size = sm.resources.intervention_batch_size
cfg = settings.interventions
result = run_interventions(
    cfg,
    settings.pca,
    settings.regions[cfg.region],
    settings.model,
    settings.data.open(settings.history_hours),
    settings.seed,
    pooled,
    labels,
    device=device,
    batch_size=batch_size if batch_size == "auto" else int(batch_size),
    targets=targets,
)
table = summary_table(result, cfg.n_boot, settings.seed)
result.attrs.update(provenance(sm.params.settings, checkpoint=result.attrs.get("checkpoint")))
write_netcdf(result, sm.output.dataset)
write_csv(table, sm.output.table)
rows = headline_rows(headline(table, cfg.n_boot) + sign_rows(table))
write_csv(rows, sm.output.headline)
log_headline(log, rows)
