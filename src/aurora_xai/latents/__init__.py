"""Latent tokens of Aurora: where they are read, their geometry, pooling, extraction, files.

Modules (import them directly; this package imports none of them):

* :mod:`~aurora_xai.latents.taps`: the tap vocabulary, one set of names for extraction
  and for latent attribution targets, and the hook that records tokens.
* :mod:`~aurora_xai.latents.geometry`: the token grid ``(latent level, lat patch, lon
  patch)``: crop, stage resolutions, patch centres and latitude edges, region masks,
  the reshape (and the published wrong one, for comparison).
* :mod:`~aurora_xai.latents.pooling`: area-weighted statistics over regions.
* :mod:`~aurora_xai.latents.extract`: per-date extraction and pooling (needs torch).
* :mod:`~aurora_xai.latents.io`: joining pooled shards and feature matrices.

All but :mod:`~aurora_xai.latents.extract` import without torch.
"""
