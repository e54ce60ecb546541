"""Rule plot_pc1_annual_cycle: PC1 through the year with its fitted annual harmonic."""

import xarray as xr

from aurora_xai.io import save_figure
from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance
from aurora_xai.regimes.figures import plot_pc_through_year_dataset

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
with xr.open_dataset(sm.input[0]) as pca:
    fig = plot_pc_through_year_dataset(pca, pc=1)
save_figure(fig, sm.output[0], provenance({}))
