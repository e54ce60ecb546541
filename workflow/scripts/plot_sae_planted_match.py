"""Rule plot_sae_planted_match: each planted structure's best feature, trained SAE against the control."""

import pandas as pd

from aurora_xai.features.atlas_figures import plot_planted_match
from aurora_xai.io import save_figure
from aurora_xai.logs import setup_logging

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
table = pd.read_csv(sm.input[0], keep_default_na=False, na_values=[""])
save_figure(plot_planted_match(table), sm.output[0])
