"""Rule plot_steering: dose-response per steered direction and the response maps."""

import xarray as xr

from aurora_xai.features.steering_figures import plot_dose_response, plot_response_maps
from aurora_xai.io import save_figure
from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance
from aurora_xai.settings import Settings

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
region = settings.regions[settings.steering_region]
with xr.open_dataset(sm.input[0]) as ds:
    ds = ds.load()
save_figure(plot_dose_response(ds), sm.output.dose, provenance(sm.params.settings))
save_figure(plot_response_maps(ds, region), sm.output.maps, provenance(sm.params.settings))
