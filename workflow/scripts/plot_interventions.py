"""Rule plot_interventions: response against the push for one direction, beside random controls."""

import xarray as xr

from aurora_xai.interventions.figures import plot_intervention
from aurora_xai.io import save_figure
from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
with xr.open_dataset(sm.input[0]) as ds:
    fig = plot_intervention(ds.load(), sm.wildcards.direction)
save_figure(fig, sm.output[0], provenance({}))
