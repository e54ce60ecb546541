"""Relevance of Aurora's inputs: layer-wise relevance propagation and gradient baselines.

Import from the modules (this package imports none of them, so that its torch-free
modules load where torch is not installed):

* :mod:`~aurora_xai.attribution.rules`: LRP rule primitives (autograd functions) and
  the ledger of relevance absorbed by constant terms;
* :mod:`~aurora_xai.attribution.rule_maps`: which module type gets which rule; the
  presets ``cp``, ``attnlrp`` and ``gradient``;
* :mod:`~aurora_xai.attribution.patching`: the ``lrp_rules`` context manager that
  installs a rule map in a model (Aurora's adaptive layer norms, attention function,
  checkpointing) and restores it on exit;
* :mod:`~aurora_xai.attribution.constants`: Aurora's additive constant terms (their
  absorbed relevance; zeroing them for conservation checks);
* :mod:`~aurora_xai.attribution.methods`: the method registry (``lrp``,
  ``input_x_gradient``, ``integrated_gradients``) and ``compute_relevance``;
* :mod:`~aurora_xai.attribution.targets`: scalar targets (a forecast or latent-token box
  mean); :mod:`~aurora_xai.attribution.inputs`: normalised inputs and target
  evaluation; :mod:`~aurora_xai.attribution.grad_mode`: gradients on in any grad mode;
* :mod:`~aurora_xai.attribution.benchmark`: time and memory of LRP;
* :mod:`~aurora_xai.attribution.study`: relevance of a configured storm case;
* torch-free: :mod:`~aurora_xai.attribution.cases` (case settings, summaries, headline
  rows), :mod:`~aurora_xai.attribution.summaries`, :mod:`~aurora_xai.attribution.figures`.
"""
