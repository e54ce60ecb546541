"""Rule plot_pca_seasons: PC1 against PC2 coloured by month, with season centroids."""

import xarray as xr

from aurora_xai.io import save_figure
from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance
from aurora_xai.regimes.figures import plot_pc_scatter_by_month

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
with xr.open_dataset(sm.input[0]) as pca:
    fig = plot_pc_scatter_by_month(pca["scores"].values, pca["month"].values, pca["explained_variance_ratio"].values)
    fig.suptitle(f"Pooled latents over '{pca.attrs['region']}': PC1 vs PC2 by month")
save_figure(fig, sm.output[0], provenance({}))
