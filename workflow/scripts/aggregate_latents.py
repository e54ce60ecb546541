"""Rule aggregate_latents: join the shards, refusing an incomplete set."""

from aurora_xai.io import write_netcdf
from aurora_xai.latents.io import combine_shards
from aurora_xai.logs import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
ds = combine_shards(list(sm.input), expected=sm.params.expected)
write_netcdf(ds, sm.output[0])
log.info("wrote %s: %d dates", sm.output[0], ds.sizes["date"])
