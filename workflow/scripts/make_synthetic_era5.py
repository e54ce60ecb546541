"""Rule make_synthetic_era5: write the embedded synthetic ERA5 store (WeatherBench 2 schema)."""

from aurora_xai.config import synthetic_spec
from aurora_xai.data.synthetic import write_synthetic_store
from aurora_xai.logs import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821
spec = synthetic_spec(snakemake.config)  # noqa: F821
log.info("writing synthetic store: %.2f deg, periods %s, seed %d", spec.resolution, spec.periods, spec.seed)
write_synthetic_store(spec, snakemake.output[0])  # noqa: F821
log.info("done")
