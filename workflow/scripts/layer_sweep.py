"""Rule layer_sweep: the regime statistics at every tap, with intervals; headline rows."""

import pandas as pd

from aurora_xai.io import write_csv
from aurora_xai.latents.io import pooled_files
from aurora_xai.logs import setup_logging
from aurora_xai.probes.sweep import first_decodable, sweep_probe_rows
from aurora_xai.regimes.settings import PCAFeatures, SweepResampling
from aurora_xai.regimes.sweep import SweepSettings, layer_sweep, sweep_headline
from aurora_xai.settings import Settings
from aurora_xai.storms.table import read_storm_days
from aurora_xai.tables import headline_rows, log_headline

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
published = settings.latents.tap
paths = pooled_files([sm.input.pooled, *sm.input.taps], published, settings.latents.taps)
features = settings.view(PCAFeatures)
resampling = settings.view(SweepResampling)
sweep = SweepSettings(
    region=features.region,
    levels=features.levels,
    standardize=features.standardize,
    n_boot=resampling.n_bootstrap,
    block=resampling.bootstrap_block,
    cv_folds=resampling.cv_folds,
    cv_blocking=resampling.cv_blocking,
    cv_gap_days=resampling.cv_gap_days,
    seed=settings.seed,
)
log.info("layer sweep over %d taps: %s", len(paths), ", ".join(paths))
table = layer_sweep(paths, read_storm_days(sm.input.labels), sweep, published=published)
extra = []
if "probes" in sm.input.keys():  # the planted terms of F: probe R² at every tap
    probes = pd.read_csv(sm.input.probes, keep_default_na=False, na_values=[""])
    table = pd.concat([table, sweep_probe_rows(probes, table)], ignore_index=True)
    extra = first_decodable(probes, table)
write_csv(table, sm.output.table)
headline = headline_rows(sweep_headline(table) + extra)
write_csv(headline, sm.output.headline)
log_headline(log, headline)
