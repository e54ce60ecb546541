"""Rule compute_relevance: LRP (or a gradient baseline) through Aurora for one storm case."""

import torch

from aurora_xai.attribution.study import relevance_for_case
from aurora_xai.io import write_netcdf
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
log.info("case %s: %s with %s", sm.wildcards.case, settings.attribution.method, checkpoint_id(spec))
event = settings.case_event(sm.wildcards.case)
ds = relevance_for_case(
    model, source, settings.attribution, event, settings.regions, checkpointing=sm.resources.lrp_checkpointing
)
ds.attrs.update(provenance(sm.params.settings, checkpoint=checkpoint_id(spec)))
log.info(
    "target %s = %.6g; sum of input relevance %.6g; conservation error %.3g; share absorbed by constant terms %.3g",
    ds.attrs["target"],
    ds.attrs["target_value"],
    ds.attrs["relevance_sum"],
    ds.attrs["conservation_error"],
    ds.attrs.get("share_absorbed", float("nan")),
)
write_netcdf(ds, sm.output[0])
