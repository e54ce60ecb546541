"""Rule collect_validation: the attribution checks of every case in three tables and headline rows."""

import pandas as pd

from aurora_xai.attribution.validation_tables import cascade_headline, flagged, searchlight_headline, truth_headline
from aurora_xai.io import write_csv
from aurora_xai.logs import setup_logging
from aurora_xai.tables import headline_rows, log_headline


def read(paths):
    frames = [pd.read_csv(p) for p in paths]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
truth = read(sm.input.truth)
searchlight = read(sm.input.searchlight)
cascade = read(sm.input.cascade)
survives = flagged(cascade.to_dict("records"))
cascade["survives_randomisation"] = [survives[f"{c}/{m}"] for c, m in zip(cascade["case"], cascade["method"])]
for key, flag in survives.items():
    if flag:
        log.warning("%s: the relevance survives the randomisation of every stage (|Spearman| > 0.5)", key)
write_csv(truth, sm.output.truth)
write_csv(searchlight, sm.output.searchlight)
write_csv(cascade, sm.output.cascade)
rows = [
    *truth_headline(truth.to_dict("records")),
    *searchlight_headline(searchlight.to_dict("records")),
    *cascade_headline(cascade.to_dict("records")),
]
table = headline_rows(rows)
write_csv(table, sm.output.headline)
log_headline(log, table)
