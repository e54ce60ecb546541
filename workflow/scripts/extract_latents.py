"""Rule extract_latents: run Aurora on one shard of dates and pool the tapped latents."""

import pandas as pd
import torch

from aurora_xai.io import write_netcdf
from aurora_xai.latents.extract import extract_pooled, resolve_device
from aurora_xai.logs import setup_logging
from aurora_xai.model import build_model, checkpoint_id
from aurora_xai.provenance import provenance
from aurora_xai.settings import Settings

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
torch.set_num_threads(max(1, int(sm.threads)))
device = resolve_device(sm.resources.model_device)
spec = settings.model
latents = settings.latents
source = settings.data.open(settings.history_hours)
model = build_model(spec, device=device)
log.info("model %s on %s; tap %s; %d dates", checkpoint_id(spec), device, latents.tap, len(sm.params.times))
ds = extract_pooled(
    source,
    model,
    pd.DatetimeIndex(sm.params.times),
    tap=latents.tap,
    regions=settings.regions,
    area_weighted=latents.area_weighted,
    stats=list(latents.stats),
    device=device,
    skip_missing=settings.data.on_missing == "skip",
    published_geometry=latents.published_geometry,
)
ds.attrs.update(provenance(sm.params.settings, checkpoint=checkpoint_id(spec)))
write_netcdf(ds, sm.output[0])
log.info("wrote %s", sm.output[0])
