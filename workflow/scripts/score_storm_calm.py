"""Rule score_storm_calm: are storm days linearly separable from calm days in latent space?"""

import json

import xarray as xr

from aurora_xai.io import atomic_path, write_csv, write_netcdf
from aurora_xai.logs import setup_logging
from aurora_xai.provenance import provenance
from aurora_xai.regimes.settings import PooledFeatures, SeparabilitySettings
from aurora_xai.regimes.study import storm_calm_analysis
from aurora_xai.settings import Settings
from aurora_xai.storms.table import read_storm_days
from aurora_xai.tables import headline_rows, log_headline

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
features = settings.view(PooledFeatures)
stats = settings.view(SeparabilitySettings)
labels = read_storm_days(sm.input.labels)
with xr.open_dataset(sm.input.pooled) as pooled:
    pooled = pooled.load()
report, rows, proj = storm_calm_analysis(
    pooled,
    labels,
    features.region,
    list(features.levels),
    seed=settings.seed,
    n_permutations=stats.n_permutations,
    k=stats.cv_folds,
    n_pcs=stats.separability_pcs,
    cv_blocking=stats.cv_blocking,
    cv_gap_days=stats.cv_gap_days,
)
proj.attrs.update(provenance(sm.params.settings))
write_netcdf(proj, sm.output.projection)
with atomic_path(sm.output.report_json) as tmp:
    tmp.write_text(json.dumps(report.to_dict(), indent=2, sort_keys=True, default=float) + "\n")
table = headline_rows(rows)
write_csv(table, sm.output.headline)
log_headline(log, table)
