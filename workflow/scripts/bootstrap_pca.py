"""Rule bootstrap_pca: stability of the leading PCs under resampling of the dates."""

import xarray as xr

from aurora_xai.io import write_csv, write_netcdf
from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance
from aurora_xai.regimes.study import bootstrap_dataset, bootstrap_headline
from aurora_xai.settings import Settings
from aurora_xai.tables import headline_rows, log_headline

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
with xr.open_dataset(sm.input[0]) as pooled:
    pooled = pooled.load()
log.info("bootstrap: %d resamples of %d dates", settings.raw("regimes.n_bootstrap"), pooled.sizes["date"])
ds, _ = bootstrap_dataset(
    pooled,
    settings.raw("pca.region"),
    settings.raw("pca.levels"),
    n_boot=settings.raw("regimes.n_bootstrap"),
    k=settings.raw("regimes.bootstrap_k"),
    seed=settings.seed,
    standardize=settings.raw("pca.standardize"),
    block=settings.raw("regimes.bootstrap_block"),
)
if "block_length" in ds.attrs:
    log.info("block bootstrap: blocks of %d dates (%s)", ds.attrs["block_length"], ds.attrs["block_rule"])
ds.attrs.update(provenance(sm.params.settings))
write_netcdf(ds, sm.output.boot)
table = headline_rows(bootstrap_headline(ds))
write_csv(table, sm.output.headline)
log_headline(log, table)
