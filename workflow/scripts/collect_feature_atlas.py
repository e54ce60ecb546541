"""Rule collect_feature_atlas: the top features of every tap, the planted match and its headline rows."""

import pandas as pd
import xarray as xr

from aurora_xai.data.synthetic import PLANTED_STRUCTURES
from aurora_xai.features.atlas import atlas_table, planted_headline, planted_table
from aurora_xai.features.settings import AtlasSettings
from aurora_xai.io import write_csv
from aurora_xai.logs import setup_logging
from aurora_xai.settings import Settings
from aurora_xai.tables import headline_rows, log_headline

sm = snakemake  # noqa: F821
settings = Settings(sm.params.settings)
log = setup_logging(sm.log[0])
taps = list(sm.params.taps)
atlases = {}
for tap, path in zip(taps, sm.input.atlases):
    with xr.open_dataset(path) as ds:
        atlases[tap] = ds.load()
table = pd.concat(
    [atlas_table(atlases[tap], tap, settings.view(AtlasSettings).top_features) for tap in taps], ignore_index=True
)
write_csv(table, sm.output.table)
planted = planted_table(atlases, PLANTED_STRUCTURES)
write_csv(planted, sm.output.planted)
headline = headline_rows(planted_headline(planted, sm.params.headline_tap, PLANTED_STRUCTURES))
write_csv(headline, sm.output.headline)
log_headline(log, headline)
