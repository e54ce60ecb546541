"""Rules train_surrogate and train_shuffled_surrogate: train the surrogate on the store
(train_shuffled_surrogate: on time-shuffled targets, the data-randomisation control) and
write its checkpoint and losses."""

from pathlib import Path

import torch

from aurora_xai.io import write_csv
from aurora_xai.logs import duration_text, setup_logging
from aurora_xai.model import ModelSpec, checkpoint_id
from aurora_xai.settings import Settings
from aurora_xai.surrogate.train import save_checkpoint, train_surrogate

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
torch.set_num_threads(max(1, int(sm.threads)))
source = settings.data.open(settings.history_hours)
shuffle_seed = None
if sm.params.get("shuffled", False):
    from aurora_xai.attribution.validation_settings import ShuffledTraining

    shuffle_seed = settings.view(ShuffledTraining).data_randomisation_seed
result = train_surrogate(source, settings.surrogate, sm.params.state, shuffle_seed=shuffle_seed)
save_checkpoint(result.model, sm.output.checkpoint)
write_csv(result.losses, sm.output.losses)
Path(sm.params.state).unlink(missing_ok=True)  # finished: a later run (new code) trains afresh
spec = ModelSpec(
    name="surrogate",
    seed=settings.surrogate.seed,
    checkpoint=sm.output.checkpoint,
    random_weights=False,
    autocast=False,
)
log.info(
    "trained %d steps%s (%d resumed) in %s, final loss %.4g; wrote %s (%s)",
    result.steps_done,
    "" if shuffle_seed is None else f" on shuffled targets (permutation seed {shuffle_seed})",
    result.resumed_from,
    duration_text(result.seconds),
    result.losses.loss.iloc[-1],
    sm.output.checkpoint,
    checkpoint_id(spec),
)
