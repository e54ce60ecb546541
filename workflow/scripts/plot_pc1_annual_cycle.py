"""Rule plot_pc1_annual_cycle: PC1 through the year with its fitted annual harmonic."""

import xarray as xr

from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance
from aurora_xai.regimes.figures import plot_pc_through_year
from aurora_xai.regimes.seasonal import annual_harmonic_fit
from aurora_xai.tables import save_figure

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
with xr.open_dataset(sm.input[0]) as pca:
    doy = pca["day_of_year"].values
    pc1 = pca["scores"].sel(pc=1).values
    fig = plot_pc_through_year(doy, pc1, annual_harmonic_fit(pc1, doy))
save_figure(fig, sm.output[0], provenance(sm.config))
