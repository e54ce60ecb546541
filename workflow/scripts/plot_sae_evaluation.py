"""Rule plot_sae_evaluation: FVU and dead latents per tap (trained vs random model), seed
stability against its chance level, SAE probes against dense probes."""

import pandas as pd

from aurora_xai.features.figures import plot_sae_evaluation
from aurora_xai.io import save_figure
from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance

sm = snakemake  # noqa: F821
setup_logging(sm.log[0])
table = pd.read_csv(sm.input[0], keep_default_na=False, na_values=[""])
save_figure(plot_sae_evaluation(table), sm.output[0], provenance(sm.params.settings))
