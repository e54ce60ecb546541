"""Rule plot_pca_scree: explained variance per PC and cumulative."""

import xarray as xr

from aurora_xai.io import save_figure
from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance
from aurora_xai.regimes.figures import plot_scree

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
with xr.open_dataset(sm.input[0]) as pca:
    fig = plot_scree(pca["explained_variance_ratio"].values)
save_figure(fig, sm.output[0], provenance({}))
