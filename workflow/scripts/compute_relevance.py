"""Rule compute_relevance: LRP (or a gradient baseline) through Aurora for one storm case."""

import torch

from aurora_xai.attribution.study import relevance_for_case
from aurora_xai.data.era5 import source_from_config
from aurora_xai.extract import resolve_device
from aurora_xai.logs import setup_logging
from aurora_xai.model import ModelSpec, build_model, checkpoint_id
from aurora_xai.provenance import provenance
from aurora_xai.tables import write_netcdf

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
cfg = sm.config
torch.set_num_threads(max(1, int(sm.threads)))
spec = ModelSpec.from_config(cfg["model"])
model = build_model(spec, device=resolve_device(cfg["model"].get("device", "auto")))
source = source_from_config(cfg["data"], cfg["dates"]["history_hours"])
log.info("case %s: %s with %s", sm.wildcards.case, cfg["attribution"]["method"], checkpoint_id(spec))
ds = relevance_for_case(model, source, cfg, sm.wildcards.case)
ds.attrs.update(provenance(cfg, checkpoint=checkpoint_id(spec)))
log.info(
    "target %s = %.6g; sum of input relevance %.6g; conservation error %.3g; share absorbed by constant terms %.3g",
    ds.attrs["target"],
    ds.attrs["target_value"],
    ds.attrs["relevance_sum"],
    ds.attrs["conservation_error"],
    ds.attrs.get("share_absorbed", float("nan")),
)
write_netcdf(ds, sm.output[0])
