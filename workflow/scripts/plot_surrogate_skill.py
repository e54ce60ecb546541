"""Rule plot_surrogate_skill: the surrogate's held-out skill per variable and level."""

import pandas as pd

from aurora_xai.io import save_figure
from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance
from aurora_xai.surrogate.skill import plot_skill

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
table = pd.read_csv(sm.input[0], keep_default_na=False, na_values=[""])
fig = plot_skill(table)
save_figure(fig, sm.output[0], provenance(sm.params.settings, checkpoint=str(table.checkpoint.iloc[0])))
