"""Sparse dictionary features of Aurora's unpooled latent tokens.

Modules (import them directly; this package imports none of them):

* :mod:`~aurora_xai.features.tokens`: the seeded per-date token sample (every token on
  coarse grids, a sample stratified by latent level and latitude band above a size
  threshold), the chunked zarr token store ``(token, channel)`` with each token's date,
  latent level, latitude and longitude, the sink that writes it from the extraction's
  forward passes, and the bounded-memory streaming reader.
* :mod:`~aurora_xai.features.sae`: a TopK sparse autoencoder (Gao et al. 2024) with the
  AuxK loss against dead latents, deterministic and resumable training, and its metrics
  (fraction of variance unexplained, dead and dense latents). Needs torch.
* :mod:`~aurora_xai.features.atlas`: the feature atlas: one bounded-memory encoding pass
  (torch) summing each feature's firing, per-date and per-position activation and its
  correlation with per-token fields; the atlas dataset (top dates, maps per latent
  level, seasonal profile, correlations with the storm labels and the probe quantities,
  a description derived from them), the planted-structure match and their tables.
* :mod:`~aurora_xai.features.split`: the held-out ISO weeks of the SAE evaluation.
* :mod:`~aurora_xai.features.evaluation`: held-out FVU, dead and dense fractions with a
  block bootstrap of the held-out weeks, seed stability and its chance level, SAE probes
  against dense probes.
* :mod:`~aurora_xai.features.figures`: the SAE evaluation's figure.
* :mod:`~aurora_xai.features.atlas_figures`: the atlas's maps and profiles, the planted match.
"""
