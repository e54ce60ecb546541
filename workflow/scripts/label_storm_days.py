"""Rule label_storm_days: storm and calm days from the daily maximum 10 m wind in a box."""

from aurora_xai.logs import setup_logging
from aurora_xai.settings import Settings
from aurora_xai.storms.labels import storm_days_to_files

log = setup_logging(snakemake.log[0])  # noqa: F821
out = snakemake.output  # noqa: F821
settings = Settings(snakemake.params.settings)  # noqa: F821
source = settings.labels_data.open(history_hours=6)
summary = storm_days_to_files(source, settings.labels, out.table, out.summary, out.daily)
log.info("done: %d storm days, %d calm days", summary["n_storm"], summary["n_calm"])
