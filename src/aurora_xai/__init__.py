"""aurora-xai: what the Aurora weather foundation model encodes.

The library behind the Snakemake workflow; it never imports snakemake. Import from the
modules (this package imports none of them; ARCHITECTURE.md lists what each owns):
``settings`` and ``config`` (the configuration), ``data`` (ERA5 stores and batches),
``model`` (building and running Aurora), ``latents`` (taps, token geometry, pooling,
extraction), ``regimes`` (PCA, seasons, separability), ``storms`` (catalogue, best
tracks, storm/calm labels), ``attribution`` (layer-wise relevance propagation),
``perturbation`` (masking tests), ``io`` (atomic writers), ``tables`` (the headline
table) and ``provenance``. The installed version is
``importlib.metadata.version("aurora-xai")``.
"""
