"""Layer-wise relevance propagation (CP-LRP / AttnLRP) and gradient baselines for Aurora.

Public API:

* :func:`compute_relevance` - relevance of every input for a scalar target, as an
  ``xarray.Dataset`` on the input grid;
* :func:`lrp_rules` - context manager installing the LRP rules in a model;
* :class:`ForecastTarget`, :class:`LatentTarget` - scalar targets;
* :func:`benchmark_lrp` - time and peak memory of LRP versus a forward pass;
* :func:`zero_constant_terms` - remove Aurora's additive constants (conservation checks).
"""

# Names are imported lazily from their submodules (PEP 562), so that the torch-free
# modules (summaries, figures, cases) can be used where torch is not installed (the
# analysis and plotting environments) without importing torch through this package.
from aurora_xai._lazy import lazy_exports

_EXPORTS = {
    "constants": ("constant_term_parameters", "zero_constant_terms"),
    "context": ("ATTENTION_RULES", "checkpointed_backbone", "lrp_rules"),
    "lrp": ("METHODS", "aurora_constant_terms", "benchmark_lrp", "compute_relevance", "lrp_relevance"),
    "rules": ("Ledger",),
    "targets": ("ForecastTarget", "LatentTarget", "latent_token_mask", "token_centres"),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
