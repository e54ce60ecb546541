"""Rule compute_relevance_days: relevance of every storm and calm day, summarised in the labels' box."""

import torch

from aurora_xai.attribution.study import relevance_for_days
from aurora_xai.io import write_netcdf
from aurora_xai.logs import setup_logging
from aurora_xai.model import build_model, checkpoint_id, resolve_device
from aurora_xai.provenance import provenance
from aurora_xai.settings import Settings
from aurora_xai.storms.table import read_storm_days

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
torch.set_num_threads(max(1, int(sm.threads)))
spec = settings.model
device = resolve_device(sm.resources.model_device)
model = build_model(spec, device=device)
source = settings.data.open(settings.history_hours)
table = read_storm_days(sm.input.labels)
attribution = settings.attribution_days
log.info("%d labelled days: %s with %s", len(table), attribution.method, checkpoint_id(spec))
ds = relevance_for_days(
    model,
    source,
    attribution,
    settings.labels.region,
    settings.target_hour,
    table,
    checkpointing=sm.resources.lrp_checkpointing,
    device=device,
)
ds.attrs.update(provenance(sm.params.settings, checkpoint=checkpoint_id(spec)))
log.info(
    "done: %d storm and %d calm days (%s skipped), %.2f s per day; target %s",
    ds.attrs["n_storm"],
    ds.attrs["n_calm"],
    ds.attrs["skipped_days"] or "none",
    ds.attrs["seconds_per_day"],
    ds.attrs["target"],
)
write_netcdf(ds, sm.output[0])
