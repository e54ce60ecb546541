"""Rule fit_probes: held-out R² of ridge probes per tap and quantity, with the raw-input and random-model controls."""

from aurora_xai.io import write_csv
from aurora_xai.logs import setup_logging
from aurora_xai.probes.study import probe_headline, probe_table
from aurora_xai.settings import Settings
from aurora_xai.tables import headline_rows, log_headline

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
probe = settings.probes
taps = settings.latents.all_taps
latent = dict(zip(taps, sm.input.latents))
random = dict(zip(taps, sm.input.random))
table = probe_table(
    sm.input.targets,
    sm.input.inputs,
    latent,
    random,
    region=probe.region,
    quantities=list(probe.quantities),
    k=probe.folds,
    inner_k=probe.inner_folds,
    gap_days=probe.gap_days,
    alphas=list(probe.alphas),
    n_boot=probe.n_bootstrap,
    seed=settings.seed,
)
write_csv(table, sm.output.table)
for row in table.itertuples(index=False):
    log.info("%s %s %s: R2 = %.3f [%.3f, %.3f]", row.tap, row.quantity, row.features, row.r2, row.ci_low, row.ci_high)
headline = headline_rows(probe_headline(table, probe.n_bootstrap))
write_csv(headline, sm.output.headline)
log_headline(log, headline)
