"""Rule label_storm_days: storm and calm days from the daily maximum 10 m wind in a box."""

from aurora_xai.logs import setup_logging
from aurora_xai.settings import Settings
from aurora_xai.storms.labels import storm_days_from_settings

log = setup_logging(snakemake.log[0])  # noqa: F821
out = snakemake.output  # noqa: F821
summary = storm_days_from_settings(Settings(snakemake.params.settings), out.table, out.summary, out.daily)  # noqa: F821
log.info("done: %d storm days, %d calm days", summary["n_storm"], summary["n_calm"])
