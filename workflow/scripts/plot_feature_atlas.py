"""Rule plot_feature_atlas: maps and seasonal profiles of one tap's top features."""

import xarray as xr

from aurora_xai.features.atlas import top_features
from aurora_xai.features.atlas_figures import plot_feature_atlas
from aurora_xai.features.settings import AtlasSettings
from aurora_xai.io import save_figure
from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance
from aurora_xai.settings import Settings

sm = snakemake  # noqa: F821
settings = Settings(sm.params.settings)
setup_logging(sm.log[0])
with xr.open_dataset(sm.input[0]) as ds:
    ds = ds.load()
fig = plot_feature_atlas(ds, top_features(ds, settings.view(AtlasSettings).top_features), sm.wildcards.tap)
save_figure(fig, sm.output[0], provenance(sm.params.settings))
