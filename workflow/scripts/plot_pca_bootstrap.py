"""Rule plot_pca_bootstrap: distribution of |cos| of resampled PCs against the full-data PCs."""

import xarray as xr

from aurora_xai.io import save_figure
from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance
from aurora_xai.regimes.figures import plot_bootstrap_dataset

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
with xr.open_dataset(sm.input[0]) as boot:
    fig = plot_bootstrap_dataset(boot)
save_figure(fig, sm.output[0], provenance({}))
