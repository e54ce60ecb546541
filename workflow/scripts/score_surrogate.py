"""Rule score_surrogate: the surrogate's skill on held-out times of the study's dates."""

import pandas as pd
import torch

from aurora_xai.io import write_csv
from aurora_xai.logs import setup_logging
from aurora_xai.model import build_model, checkpoint_id, forecast_step, resolve_device
from aurora_xai.settings import Settings
from aurora_xai.surrogate.settings import SurrogateScoring
from aurora_xai.surrogate.skill import headline, heldout_times, planted_forecasts, skill_table
from aurora_xai.tables import log_headline

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
torch.set_num_threads(max(1, int(sm.threads)))
spec = settings.model
model = build_model(spec, device=resolve_device(sm.resources.model_device))
source = settings.data.open(settings.history_hours)
step = pd.Timedelta(forecast_step(model))
times = heldout_times(source, settings.dates.times(), step, settings.view(SurrogateScoring).eval_times)
log.info("%s on %d held-out times", checkpoint_id(spec), len(times))
# the synthetic store's known map F, against which the forecast is scored too
planted = planted_forecasts(settings.synthetic) if settings.data.source == "synthetic" else None
table = skill_table(model, source, times, step, planted=planted)
table.insert(0, "checkpoint", checkpoint_id(spec))
write_csv(table, sm.output.table)
rows = headline(table, len(times))
write_csv(rows, sm.output.headline)
log_headline(log, rows)
