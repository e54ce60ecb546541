"""Rule collect_data_randomisation: the data-randomisation check of every case in one table and headline rows."""

import pandas as pd

from aurora_xai.attribution.validation_tables import SURVIVAL_THRESHOLD, datarand_headline
from aurora_xai.io import write_csv
from aurora_xai.logs import setup_logging
from aurora_xai.tables import headline_rows, log_headline

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
table = pd.concat([pd.read_csv(p) for p in sm.input], ignore_index=True)
for r in table[table["survives"]].to_dict("records"):
    log.warning(
        "%s/%s: the relevance survives the data randomisation (|Spearman| %.3f > %s)",
        r["case"],
        r["method"],
        abs(r["spearman"]),
        SURVIVAL_THRESHOLD,
    )
write_csv(table, sm.output.table)
rows = headline_rows(datarand_headline(table.to_dict("records")))
write_csv(rows, sm.output.headline)
log_headline(log, rows)
