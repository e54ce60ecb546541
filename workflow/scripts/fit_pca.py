"""Rule fit_pca: PCA of the pooled latents across dates; explained variance; headline rows."""

import xarray as xr

from aurora_xai.io import write_csv, write_netcdf
from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance
from aurora_xai.regimes.analysis import explained_variance_table, pca_dataset, pca_headline
from aurora_xai.regimes.settings import PermutationSettings
from aurora_xai.settings import Settings
from aurora_xai.tables import headline_rows, log_headline

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
cfg = settings.pca
with xr.open_dataset(sm.input[0]) as pooled:
    pca = pca_dataset(pooled.load(), cfg.region, list(cfg.levels), cfg.n_components, cfg.standardize)
pca.attrs.update(provenance(sm.params.settings))
write_netcdf(pca, sm.output.pca)
write_csv(explained_variance_table(pca), sm.output.variance)
if pca.attrs["annual_fit_note"]:
    log.warning("annual-harmonic fits not applicable: %s", pca.attrs["annual_fit_note"])
rows = pca_headline(pca, n_permutations=10 * settings.view(PermutationSettings).n_permutations, seed=settings.seed)
table = headline_rows(rows)
write_csv(table, sm.output.headline)
log_headline(log, table)
