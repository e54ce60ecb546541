"""Rule plot_relevance_composites: composite relevance profiles and centroid offsets, storm vs calm."""

import pandas as pd

from aurora_xai.attribution.composite_figures import plot_relevance_composites
from aurora_xai.io import save_figure
from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
table = pd.read_csv(sm.input[0], keep_default_na=True)
save_figure(plot_relevance_composites(table), sm.output[0], provenance({}))
