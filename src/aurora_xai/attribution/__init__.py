"""Layer-wise relevance propagation (CP-LRP / AttnLRP) and gradient baselines for Aurora.

Public API:

* :func:`compute_relevance` - relevance of every input for a scalar target, as an
  ``xarray.Dataset`` on the input grid;
* :func:`lrp_rules` - context manager installing the LRP rules in a model;
* :class:`ForecastTarget`, :class:`LatentTarget` - scalar targets;
* :func:`benchmark_lrp` - time and peak memory of LRP versus a forward pass;
* :func:`zero_constant_terms` - remove Aurora's additive constants (conservation checks).
"""

from aurora_xai.attribution.constants import (
    constant_term_parameters,
    zero_constant_terms,
)
from aurora_xai.attribution.context import (
    ATTENTION_RULES,
    checkpointed_backbone,
    lrp_rules,
)
from aurora_xai.attribution.lrp import (
    METHODS,
    aurora_constant_terms,
    benchmark_lrp,
    compute_relevance,
    lrp_relevance,
)
from aurora_xai.attribution.rules import Ledger
from aurora_xai.attribution.targets import (
    ForecastTarget,
    LatentTarget,
    latent_token_mask,
    token_centres,
)

__all__ = [
    "ATTENTION_RULES",
    "METHODS",
    "ForecastTarget",
    "LatentTarget",
    "Ledger",
    "aurora_constant_terms",
    "benchmark_lrp",
    "checkpointed_backbone",
    "compute_relevance",
    "constant_term_parameters",
    "latent_token_mask",
    "lrp_relevance",
    "lrp_rules",
    "token_centres",
    "zero_constant_terms",
]
