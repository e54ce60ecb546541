"""Rule plot_perturbation: degradation curves (MSE against the masked fraction) of one case."""

import pandas as pd

from aurora_xai.io import save_figure
from aurora_xai.logs import setup_logging
from aurora_xai.perturbation.figures import plot_degradation_curves

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
case = sm.wildcards.case
entry = sm.params.settings["perturbation"]["cases"][case]
table = pd.read_csv(sm.input.table)
level = entry["level"]
variable = entry["variable"] + ("" if level is None else f" {float(level):g} hPa")
fig = plot_degradation_curves(
    table,
    reference="clean",
    title=f"{case}: masks in {entry['sector']}, {pd.Timestamp(entry['time']):%Y-%m-%d %H UTC}",
    variable_label=f"{variable} (+6 h)",
    region_label=entry["eval_region"],
)
save_figure(fig, sm.output[0])
log.info("wrote %s", sm.output[0])
