"""Rule probe_targets: physical quantities and region means of every input, per date, from the model's inputs."""

import pandas as pd
import xarray as xr

from aurora_xai.io import write_netcdf
from aurora_xai.logs import setup_logging
from aurora_xai.probes.settings import ProbeTargetSettings
from aurora_xai.probes.targets import PLANTED, PlantedContext, probe_inputs
from aurora_xai.provenance import provenance
from aurora_xai.settings import Settings

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
probe = settings.view(ProbeTargetSettings)
region = probe.region
regions = settings.regions
if region not in regions:
    raise ValueError(f"probes.region: region {region!r} is not in regions ({sorted(regions)})")
source = settings.data.open(settings.history_hours)
planted = None
if any(q in PLANTED for q in probe.quantities) and settings.data.source == "synthetic":
    if "planted_dynamics" in xr.open_zarr(settings.data.path).attrs:
        planted = PlantedContext(settings.synthetic)
targets, inputs = probe_inputs(
    source,
    pd.DatetimeIndex(sm.params.times),
    regions[region],
    list(probe.quantities),
    skip_missing=settings.data.on_missing == "skip",
    planted=planted,
)
prov = provenance(sm.params.settings)
for ds in (targets, inputs):
    ds.attrs.update(prov)
write_netcdf(targets, sm.output.targets)
write_netcdf(inputs, sm.output.inputs)
log.info("wrote %s and %s: %d dates", sm.output.targets, sm.output.inputs, targets.sizes["date"])
