"""Rule plot_probes: held-out R² per tap and quantity, latents against the two controls."""

import pandas as pd

from aurora_xai.io import save_figure
from aurora_xai.logs import setup_logging
from aurora_xai.probes.figures import plot_probes
from aurora_xai.provenance import provenance
from aurora_xai.settings import Settings

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
table = pd.read_csv(sm.input[0], keep_default_na=False, na_values=[""])
fig = plot_probes(table, region=settings.probes.region)
save_figure(fig, sm.output[0], provenance(sm.params.settings))
