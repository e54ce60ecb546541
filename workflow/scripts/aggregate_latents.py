"""Rule aggregate_latents: join the shards of every tap, refusing an incomplete set."""

from pathlib import Path

from aurora_xai.io import write_netcdf
from aurora_xai.latents.io import combine_shards, pooled_name
from aurora_xai.logs import setup_logging
from aurora_xai.settings import Settings

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
analysis_tap = settings.latents.tap
extra = [t for t in settings.latents.all_taps if t != analysis_tap]
ds = combine_shards(list(sm.input), expected=sm.params.expected)
write_netcdf(ds, sm.output.pooled)
log.info("wrote %s (tap %s): %d dates", sm.output.pooled, analysis_tap, ds.sizes["date"])
paths = {Path(p).name: p for p in sm.output.taps}
for tap in extra:
    path = paths[pooled_name(tap, analysis_tap)]
    ds = combine_shards(list(sm.input), expected=sm.params.expected, tap=tap)
    write_netcdf(ds, path)
    log.info("wrote %s (tap %s): %d dates", path, tap, ds.sizes["date"])
