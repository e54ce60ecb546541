"""The surrogate: Aurora's tiny architecture trained on the store (``model.name: surrogate``).

Import from the modules (this package imports none of them, so that the settings, which
the workflow reads at its start, load without torch):

- :mod:`~aurora_xai.surrogate.architecture`: the residual decoder that makes the model
  predict the 6-hour change in normalised units (part of the loaded model);
- :mod:`~aurora_xai.surrogate.settings`: the ``surrogate`` section;
- :mod:`~aurora_xai.surrogate.samples`: ``(t - 6 h, t) -> t + 6 h`` samples and the
  training period's checks;
- :mod:`~aurora_xai.surrogate.train`: the deterministic, resumable training loop;
- :mod:`~aurora_xai.surrogate.skill`: the held-out skill table, its headline rows and figure.
"""
