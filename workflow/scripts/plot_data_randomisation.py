"""Rule plot_data_randomisation: each method's relevance under the trained and the shuffled-target surrogate."""

import pandas as pd
import xarray as xr

from aurora_xai.attribution.validation_tables import plot_data_randomisation
from aurora_xai.io import save_figure
from aurora_xai.logs import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
case = sm.wildcards.case
with xr.open_dataset(sm.input.maps) as ds:
    maps = ds.load()
table = pd.read_csv(sm.input.table)
save_figure(
    plot_data_randomisation(
        maps, table[table["case"] == case], title=f"{case}: data randomisation, {maps.attrs.get('target', '')}"
    ),
    sm.output[0],
)
