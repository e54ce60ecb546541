"""Rule validate_attribution: every attribution check of one storm case."""

import pandas as pd
import torch
import xarray as xr

from aurora_xai.attribution.validation import case_checks
from aurora_xai.io import write_csv, write_netcdf
from aurora_xai.logs import setup_logging
from aurora_xai.model import build_model, checkpoint_id, resolve_device
from aurora_xai.provenance import provenance
from aurora_xai.settings import Settings

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
torch.set_num_threads(max(1, int(sm.threads)))
spec = settings.model
model = build_model(spec, device=resolve_device(sm.resources.model_device))
source = settings.data.open(settings.history_hours)
event = settings.case_event(sm.wildcards.case)
store, synthetic = None, None
if settings.data.source == "synthetic":
    opened = xr.open_zarr(settings.data.path)
    if "planted_dynamics" in opened.attrs:
        store, synthetic = opened, settings.synthetic
    else:
        log.info("the store records no planted dynamics: no known answer to score against")
log.info("case %s with %s", sm.wildcards.case, checkpoint_id(spec))
out = case_checks(
    model,
    source,
    store,
    synthetic,
    settings.validation,
    sm.wildcards.case,
    event.case_time,
    event.box,
    log.info,
    checkpointing=sm.resources.lrp_checkpointing,
)
columns = ["case", "method", "spearman", "cosine", "support_share", "n_elements"]

write_csv(pd.DataFrame(out["truth"], columns=None if out["truth"] else columns), sm.output.truth)
write_csv(pd.DataFrame(out["searchlight"]), sm.output.searchlight)
write_csv(pd.DataFrame(out["cascade"]), sm.output.cascade)
maps = out["maps"]
maps.attrs.update(provenance(sm.params.settings, checkpoint=checkpoint_id(spec)))
write_netcdf(maps, sm.output.maps)
