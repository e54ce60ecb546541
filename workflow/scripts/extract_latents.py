"""Rule extract_latents: run Aurora on one shard of dates and pool the tapped latents."""

import pandas as pd
import torch

from aurora_xai.data.era5 import source_from_config
from aurora_xai.extract import extract_pooled, resolve_device
from aurora_xai.logs import setup_logging
from aurora_xai.model import ModelSpec, build_model, checkpoint_id
from aurora_xai.provenance import provenance
from aurora_xai.regions import regions_from_config
from aurora_xai.tables import write_netcdf

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
cfg = sm.config
torch.set_num_threads(max(1, int(sm.threads)))
device = resolve_device(cfg["model"].get("device", "auto"))
spec = ModelSpec.from_config(cfg["model"])
data = cfg["data"]
source = source_from_config(data, cfg["dates"]["history_hours"])
model = build_model(spec, device=device)
log.info("model %s on %s; tap %s; %d dates", checkpoint_id(spec), device, cfg["latents"]["tap"], len(sm.params.times))
ds = extract_pooled(
    source,
    model,
    pd.DatetimeIndex(sm.params.times),
    tap=cfg["latents"]["tap"],
    regions=regions_from_config(cfg.get("regions") or {}),
    area_weighted=cfg["latents"]["area_weighted"],
    stats=cfg["latents"]["stats"],
    device=device,
    skip_missing=data.get("on_missing") == "skip",
    published_geometry=cfg["latents"].get("published_geometry", False),
)
ds.attrs.update(provenance(cfg, checkpoint=checkpoint_id(spec)))
write_netcdf(ds, sm.output[0])
log.info("wrote %s", sm.output[0])
