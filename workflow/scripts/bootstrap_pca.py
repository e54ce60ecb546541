"""Rule bootstrap_pca: stability of the leading PCs under resampling of the dates."""

import xarray as xr

from aurora_xai.io import write_csv, write_netcdf
from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance
from aurora_xai.regimes.settings import BootstrapSettings, PCAFeatures
from aurora_xai.regimes.study import bootstrap_dataset, bootstrap_headline
from aurora_xai.settings import Settings
from aurora_xai.tables import headline_rows, log_headline

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
features = settings.view(PCAFeatures)
boot = settings.view(BootstrapSettings)
with xr.open_dataset(sm.input[0]) as pooled:
    pooled = pooled.load()
log.info("bootstrap: %d resamples of %d dates", boot.n_bootstrap, pooled.sizes["date"])
ds, _ = bootstrap_dataset(
    pooled,
    features.region,
    list(features.levels),
    n_boot=boot.n_bootstrap,
    k=boot.bootstrap_k,
    seed=settings.seed,
    standardize=features.standardize,
    block=boot.bootstrap_block,
)
if "block_length" in ds.attrs:
    log.info("block bootstrap: blocks of %d dates (%s)", ds.attrs["block_length"], ds.attrs["block_rule"])
ds.attrs.update(provenance(sm.params.settings))
write_netcdf(ds, sm.output.boot)
table = headline_rows(bootstrap_headline(ds))
write_csv(table, sm.output.headline)
log_headline(log, table)
