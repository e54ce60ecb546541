"""Rule collect_headline: one table of the study's headline numbers, and the run's provenance."""

import json

from aurora_xai.io import atomic_path, write_csv
from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance
from aurora_xai.tables import log_headline, read_headline_parts

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
table = read_headline_parts(list(sm.input))
write_csv(table, sm.output[0])
# The checkpoint's exact id (seed, file hash or repository revision) is in the
# attributes of the model rules' NetCDF outputs; the config names the model here.
record = provenance(sm.params.settings, model_step_hours=sm.params.model_step_hours)
if "history_mismatch" in record:
    log.warning("%s", record["history_mismatch"])
record["package_versions"] = json.loads(record["package_versions"])
record["config"] = sm.params.settings
with atomic_path(sm.output.provenance) as tmp:
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
log.info("headline table:\n%s", table.to_string(index=False))
log_headline(log, table)
