"""Perturbation tests of attribution faithfulness: mask relevant cells versus random cells.

Modules (import them directly; this package imports none of them):

* :mod:`~aurora_xai.perturbation.settings`: the ``perturbation`` settings, the cases,
  which fields a mask touches, and the checks of the config section;
* :mod:`~aurora_xai.perturbation.masks`: which cells to mask (relevance maps, top-p
  masks, random scattered and contiguous controls, seeds);
* :mod:`~aurora_xai.perturbation.apply`: what a masked cell is set to (normalisation,
  climatology, smoothed fills) and masked batches;
* :mod:`~aurora_xai.perturbation.metrics`: region MSE, bootstrap ratio, AOPC;
* :mod:`~aurora_xai.perturbation.rank`: the top mask ranked among the random masks
  (exceedance p, rank interval of the ratio and of the AOPC ratio);
* :mod:`~aurora_xai.perturbation.relevance`: the relevance target, the relevance per
  method and the masking maps;
* :mod:`~aurora_xai.perturbation.forward`: batched masked forecasts;
* :mod:`~aurora_xai.perturbation.experiment`: the experiment for one case
  (``run_experiment``);
* :mod:`~aurora_xai.perturbation.headline`: its headline rows;
* :mod:`~aurora_xai.perturbation.case`: one configured case end to end (``run_case``);
* :mod:`~aurora_xai.perturbation.benchmark`: batched against one-at-a-time throughput;
* :mod:`~aurora_xai.perturbation.figures`: the degradation curves.

:mod:`~aurora_xai.perturbation.settings`, :mod:`~aurora_xai.perturbation.masks`,
:mod:`~aurora_xai.perturbation.rank` and :mod:`~aurora_xai.perturbation.figures` import
without torch.
"""
