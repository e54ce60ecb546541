"""Latent tokens of Aurora: where they are read, their geometry, pooling, extraction, files.

Modules (import them directly; this package imports none of them):

* :mod:`~aurora_xai.latents.taps`: the tap vocabulary, one set of names for extraction
  and for latent attribution targets, and the hooks that record tokens (several taps
  from one forward pass, which ends after the deepest).
* :mod:`~aurora_xai.latents.geometry`: the token grid ``(latent level, lat patch, lon
  patch)``: crop, stage resolutions, patch centres and latitude edges, region masks,
  the reshape (and the published wrong one, for comparison).
* :mod:`~aurora_xai.latents.pooling`: area-weighted statistics over the rows and
  columns each region covers, in NumPy (the reference) or on the tokens' device.
* :mod:`~aurora_xai.latents.loading`: samples read by worker processes ahead of the
  model, several dates per batch (needs torch).
* :mod:`~aurora_xai.latents.extract`: extraction and pooling of several taps per
  forward pass (needs torch).
* :mod:`~aurora_xai.latents.io`: shard files (every tap in one file), joining shards,
  feature matrices.

All but :mod:`~aurora_xai.latents.loading` and :mod:`~aurora_xai.latents.extract`
import without torch.
"""
