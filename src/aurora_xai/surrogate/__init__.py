"""The surrogate: Aurora's tiny architecture trained on the store (``model.name: surrogate``).

- :mod:`~aurora_xai.surrogate.architecture`: the residual decoder that makes the model
  predict the 6-hour change in normalised units (part of the loaded model);
- :mod:`~aurora_xai.surrogate.settings`: the ``surrogate`` section;
- :mod:`~aurora_xai.surrogate.samples`: ``(t - 6 h, t) -> t + 6 h`` samples and the
  training period's checks;
- :mod:`~aurora_xai.surrogate.train`: the deterministic, resumable training loop;
- :mod:`~aurora_xai.surrogate.skill`: the held-out skill table, its headline rows and figure.
"""

from .architecture import ResidualAurora, ResidualPerceiver3DDecoder
from .samples import check_period, read_samples, study_times, training_times
from .settings import SurrogateSettings
from .train import TrainResult, save_checkpoint, surrogate_loss, train_surrogate

__all__ = [
    "ResidualAurora",
    "ResidualPerceiver3DDecoder",
    "SurrogateSettings",
    "TrainResult",
    "check_period",
    "read_samples",
    "save_checkpoint",
    "study_times",
    "surrogate_loss",
    "train_surrogate",
    "training_times",
]
