"""Rule render_report_front: the report's front page (the run's setup and headline table)."""

from aurora_xai.front_page import front_page_rst, read_run_summary
from aurora_xai.io import atomic_path
from aurora_xai.logs import setup_logging
from aurora_xai.tables import read_headline_parts

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
summary = read_run_summary(sm.input.provenance, sm.input.pooled)
text = front_page_rst(summary, read_headline_parts([sm.input.headline]))
with atomic_path(sm.output[0]) as tmp:
    tmp.write_text(text)
log.info(
    "front page for %s (%s, %d dates, config %s)",
    summary.model,
    summary.checkpoint,
    summary.n_dates,
    summary.config_hash,
)
