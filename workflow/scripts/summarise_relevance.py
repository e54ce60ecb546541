"""Rule summarise_relevance: relevance per variable and level, vertical profile, centroids."""

import xarray as xr

from aurora_xai.attribution.cases import case_headline, case_summaries
from aurora_xai.io import write_csv
from aurora_xai.logs import setup_logging
from aurora_xai.settings import Settings
from aurora_xai.tables import headline_rows

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
case = sm.wildcards.case
with xr.open_dataset(sm.input[0]) as ds:
    ds = ds.load()
out = case_summaries(ds, Settings(sm.params.settings).case_event(case).box)
write_csv(out["table"], sm.output.table)
write_csv(out["profile"], sm.output.profile)
write_csv(out["centroids"], sm.output.centroids)
write_csv(headline_rows(case_headline(ds, case)), sm.output.headline)
log.info("conservation error %.3g", ds.attrs["conservation_error"])
