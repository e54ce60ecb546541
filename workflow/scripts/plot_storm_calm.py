"""Rule plot_storm_calm: storm vs calm days on the held-out contrastive axis and on PC1/PC2."""

import xarray as xr

from aurora_xai.io import save_figure
from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance
from aurora_xai.regimes.figures import plot_storm_calm_dataset

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
with xr.open_dataset(sm.input[0]) as ds:
    fig = plot_storm_calm_dataset(ds)
save_figure(fig, sm.output[0], provenance({}))
