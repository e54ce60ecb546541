"""Rule validate_data_randomisation: each method's relevance under the trained and the shuffled-target surrogate."""

import dataclasses

import pandas as pd
import torch

from aurora_xai.attribution.data_randomisation import case_data_randomisation
from aurora_xai.attribution.validation_settings import DataRandomisationSettings
from aurora_xai.io import write_csv, write_netcdf
from aurora_xai.logs import setup_logging
from aurora_xai.model import build_model, checkpoint_id, resolve_device
from aurora_xai.provenance import provenance
from aurora_xai.settings import Settings

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
torch.set_num_threads(max(1, int(sm.threads)))
device = resolve_device(sm.resources.model_device)
spec = settings.model
shuffled_spec = dataclasses.replace(spec, checkpoint=sm.input.shuffled)
trained = build_model(spec, device=device)
shuffled = build_model(shuffled_spec, device=device)
source = settings.data.open(settings.history_hours)
event = settings.case_event(sm.wildcards.case)
log.info("case %s: %s against %s", sm.wildcards.case, checkpoint_id(spec), checkpoint_id(shuffled_spec))
out = case_data_randomisation(
    trained,
    shuffled,
    source,
    settings.view(DataRandomisationSettings),
    sm.wildcards.case,
    event.case_time,
    event.box,
    log.info,
    checkpointing=sm.resources.lrp_checkpointing,
)
write_csv(pd.DataFrame(out["rows"]), sm.output.table)
maps = out["maps"]
maps.attrs.update(
    provenance(sm.params.settings, checkpoint=checkpoint_id(spec)), shuffled_checkpoint=checkpoint_id(shuffled_spec)
)
write_netcdf(maps, sm.output.maps)
