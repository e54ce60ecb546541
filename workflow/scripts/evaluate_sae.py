"""Rule evaluate_sae: every tap's SAEs on the held-out weeks' tokens (FVU, dead and dense latents),
their stability across seeds, the random-model control, and SAE probes against dense probes."""

from pathlib import Path

import pandas as pd
import torch

from aurora_xai.features.evaluation import sae_evaluation_table, sae_headline
from aurora_xai.features.settings import FeatureEvaluationSettings
from aurora_xai.io import write_csv
from aurora_xai.logs import setup_logging
from aurora_xai.settings import Settings
from aurora_xai.tables import headline_rows, log_headline

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
torch.set_num_threads(max(1, int(sm.threads)))
settings = Settings(sm.params.settings)
ev = settings.view(FeatureEvaluationSettings)
raw = sm.params.settings
seeds = [int(s) for s in raw["features"]["sae"]["seeds"]]
pr = raw["probes"]
probes = {
    "targets": sm.input.targets,
    "quantities": list(pr["quantities"]),
    "region": settings.regions[pr["region"]],
    "k": int(pr["folds"]),
    "inner_k": int(pr["inner_folds"]),
    "gap_days": int(pr["gap_days"]),
    "alphas": [float(a) for a in pr["alphas"]],
    "n_boot": ev.n_boot,
}
tables = []
for tap in sm.params.taps:
    trained = [f for s in seeds for f in sm.input.trained if Path(f).parent.name == tap and Path(f).stem == f"seed{s}"]
    random = next(f for f in sm.input.random if Path(f).parent.name == tap)
    table = sae_evaluation_table(
        tap,
        trained,
        random,
        [Path(s) / f"{tap}.zarr" for s in sm.input.stores],
        [Path(s) / f"{tap}.zarr" for s in sm.input.random_stores],
        holdout_every=ev.holdout_every,
        dense_threshold=ev.dense_threshold,
        n_boot=ev.n_boot,
        seed=settings.seed,
        probes=probes,
    )
    for r in table.itertuples(index=False):
        log.info("%s %s %s (%s): %.4f [%.4f, %.4f]", tap, r.model, r.metric, r.features, r.value, r.ci_low, r.ci_high)
    tables.append(table)
table = pd.concat(tables, ignore_index=True)
write_csv(table, sm.output.table)
headline = headline_rows(sae_headline(table, ev.n_boot))
write_csv(headline, sm.output.headline)
log_headline(log, headline)
