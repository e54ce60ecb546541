"""Rule run_perturbation: mask top-relevance cells versus random cells for one case.

Relevance is computed inside this job for every method in ``perturbation.methods``
(same model, sample and target for all, so the curves compare like with like). With
``perturbation.lrp_source: rule`` the LRP relevance is read instead from the LRP rule's
``results/relevance/{case}.nc``: the config check at the workflow's start
(:func:`aurora_xai.config.lrp_rule_differences`) makes sure it is the LRP
this job would compute (target, rule, epsilon, time; not the precision,
``attribution.dtype``).
"""

import torch
import xarray as xr

from aurora_xai.io import write_csv, write_netcdf
from aurora_xai.logs import setup_logging
from aurora_xai.model import resolve_device
from aurora_xai.perturbation.case import run_case
from aurora_xai.perturbation.headline import headline
from aurora_xai.provenance import provenance
from aurora_xai.settings import Settings
from aurora_xai.tables import headline_rows

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
case = sm.wildcards.case
torch.set_num_threads(max(1, int(sm.threads)))
device = resolve_device(sm.resources.model_device)
lrp = None
if sm.input.get("lrp"):
    with xr.open_dataset(sm.input.lrp) as ds:
        lrp = ds.load()
    log.info("LRP relevance from %s", sm.input.lrp)
result = run_case(
    settings.perturbation,
    settings.perturbation_cases[case],
    settings.data.open(settings.history_hours),
    settings.model,
    settings.history_hours,
    lrp_relevance=lrp,
    device=device,
    batch_size=sm.resources.perturbation_batch_size,
    checkpointing=sm.resources.lrp_checkpointing,
)
prov = provenance(sm.params.settings, checkpoint=result.draws.attrs.get("checkpoint"))
result.draws.attrs.update(prov)
write_csv(result.table, sm.output.table)
write_csv(result.aopc, sm.output.aopc)
write_netcdf(result.draws, sm.output.draws)
suffix = sm.params.headline_suffix
methods = settings.perturbation.methods
rows = headline(result, method="lrp" if "lrp" in methods else methods[0], p=1.0, suffix=suffix)
write_csv(headline_rows(rows), sm.output.headline)
for r in rows:
    log.info("%s = %.4g [%s, %s]", r["metric"], r["value"], r.get("ci_low"), r.get("ci_high"))
