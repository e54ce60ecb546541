"""Rule plot_layer_sweep: each regime statistic of the layer sweep against depth."""

import pandas as pd

from aurora_xai.io import save_figure
from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance
from aurora_xai.regimes.figures import plot_layer_sweep

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
table = pd.read_csv(sm.input[0], keep_default_na=False, na_values=[""])
fig = plot_layer_sweep(table)
save_figure(fig, sm.output[0], provenance({}))
