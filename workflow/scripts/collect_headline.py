"""Rule collect_headline: one table of the study's headline numbers, and the run's provenance."""

import json

from aurora_xai.logs import setup_logging
from aurora_xai.model import ModelSpec, checkpoint_id
from aurora_xai.provenance import atomic_path, provenance
from aurora_xai.tables import read_headline_parts, write_csv

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
table = read_headline_parts(list(sm.input))
write_csv(table, sm.output[0])
spec = ModelSpec.from_config({k: v for k, v in sm.config["model"].items() if k != "device"})
record = provenance(sm.config, checkpoint=checkpoint_id(spec))
record["package_versions"] = json.loads(record["package_versions"])
record["config"] = sm.config
with atomic_path(sm.output.provenance) as tmp:
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
log.info("headline table:\n%s", table.to_string(index=False))
