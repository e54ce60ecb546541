"""Rule plot_relevance_maps: relevance maps at selected pressure levels, coastlines and track."""

import xarray as xr

from aurora_xai.attribution.cases import MapSettings, map_dataset, track_points
from aurora_xai.attribution.figures import plot_relevance_maps
from aurora_xai.io import save_figure
from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance
from aurora_xai.settings import Settings

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
event = settings.case_event(sm.wildcards.case)
maps = settings.view(MapSettings)
with xr.open_dataset(sm.input[0]) as ds:
    ds, var = map_dataset(ds.load(), maps.map_variable)
levels = [lv for lv in maps.map_levels if lv in ds["level"].values]
fig = plot_relevance_maps(
    ds,
    var,
    levels=levels,
    track=track_points(event),
    title=f"{event.name} {ds.attrs['case_time']} UTC: relevance of {var} for {ds.attrs['target']} "
    f"({ds.attrs['method']}, conservation error {ds.attrs['conservation_error']:.2g})",
    ncols=4,
    zoom=event.box,
)
save_figure(fig, sm.output[0], provenance(sm.params.settings))
