"""Rule plot_validation: relevance beside F's exact attribution, and the randomisation cascade."""

import pandas as pd
import xarray as xr

from aurora_xai.attribution.validation_tables import plot_cascade, plot_truth_maps
from aurora_xai.io import save_figure
from aurora_xai.logs import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
case = sm.wildcards.case
with xr.open_dataset(sm.input.maps) as ds:
    maps = ds.load()
save_figure(plot_truth_maps(maps, title=f"{case}: relevance per cell, {maps.attrs.get('target', '')}"), sm.output.maps)
table = pd.read_csv(sm.input.cascade)
save_figure(
    plot_cascade(table[table["case"] == case], title=f"{case}: model-parameter randomisation cascade"),
    sm.output.cascade,
)
