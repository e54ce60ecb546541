"""Rule summarise_composites: storm and calm composites of relevance with bootstrap intervals."""

import xarray as xr

from aurora_xai.attribution.composites import (
    CompositeSettings,
    composite_headline,
    composite_table,
    day_quantities,
)
from aurora_xai.io import write_csv
from aurora_xai.logs import setup_logging
from aurora_xai.settings import Settings
from aurora_xai.tables import headline_rows, log_headline

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
composites = settings.view(CompositeSettings)
with xr.open_dataset(sm.input[0]) as days:
    days = days.load()
quantities = day_quantities(days)
table = composite_table(
    quantities,
    n_boot=composites.composite_boot,
    seed=settings.seed,
    resample=composites.composite_resample,
)
write_csv(quantities, sm.output.days)
write_csv(table, sm.output.table)
labelled = {k: int(days.attrs[f"n_{k}_labelled"]) for k in ("storm", "calm")}
computed = {k: int(days.attrs[f"n_{k}"]) for k in ("storm", "calm")}
headline = headline_rows(composite_headline(table, labelled, computed, composites.composite_boot))
write_csv(headline, sm.output.headline)
log.info("%d storm and %d calm days; target %s", computed["storm"], computed["calm"], days.attrs.get("target", ""))
log_headline(log, headline)
