"""aurora-xai: what the Aurora weather foundation model encodes.

The library behind the Snakemake workflow: ERA5 data (synthetic and real), model
construction, latent extraction and pooling, regime statistics, layer-wise relevance
propagation and perturbation tests. It never imports snakemake.
"""

__version__ = "0.1.0"
