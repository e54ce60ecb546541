"""Rule make_synthetic_era5: write the embedded synthetic ERA5 store (WeatherBench 2 schema)."""

from aurora_xai.data.synthetic import write_synthetic_store
from aurora_xai.logs import setup_logging
from aurora_xai.settings import Settings

log = setup_logging(snakemake.log[0])  # noqa: F821
spec = Settings(snakemake.params.settings).synthetic  # noqa: F821
log.info("writing synthetic store: %.2f deg, periods %s, seed %d", spec.resolution, spec.periods, spec.seed)
write_synthetic_store(spec, snakemake.output[0])  # noqa: F821
log.info("done")
