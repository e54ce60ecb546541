"""Rule collect_headline: one table of the study's headline numbers."""

from aurora_xai.logs import setup_logging
from aurora_xai.tables import read_headline_parts, write_csv

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
table = read_headline_parts(list(sm.input))
write_csv(table, sm.output[0])
log.info("headline table:\n%s", table.to_string(index=False))
