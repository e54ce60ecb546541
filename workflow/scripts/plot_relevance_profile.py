"""Rule plot_relevance_profile: vertical relevance profile and centroid tilt with height."""

import pandas as pd

from aurora_xai.attribution.figures import plot_centroid_tilt, plot_vertical_profile
from aurora_xai.io import save_figure
from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
case = sm.wildcards.case
profile = pd.read_csv(sm.input.profile).set_index("level_hPa")
save_figure(
    plot_vertical_profile(profile, title=f"{case}: |relevance| per level inside the storm box"),
    sm.output.profile,
    provenance({}),
)
centroids = pd.read_csv(sm.input.centroids)
save_figure(
    plot_centroid_tilt(centroids, title=f"{case}: centroid of |relevance| per level"), sm.output.tilt, provenance({})
)
