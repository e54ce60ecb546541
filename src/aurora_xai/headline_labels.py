"""What each headline metric is, in words: its analysis, a readable label and one line on
what it means.

The knowledge sits in one ordered table, :data:`RULES`: a regular expression over the
metric's name (matched whole; the first rule that matches wins) with the group, a label
template and a meaning template. Templates are :meth:`str.format` strings over the
expression's named groups, after :data:`WORDS` has turned each group's text into words
(``_blocked`` -> ``time-blocked folds``). A metric no rule matches goes to the ``other``
group under its raw name. The front page (:mod:`aurora_xai.front_page`) groups the
headline table with :func:`describe`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

__all__ = ["GROUPS", "RULES", "WORDS", "MetricLabel", "Rule", "describe"]

#: The front page's groups, in order: key -> section title.
GROUPS: Mapping[str, str] = {
    "regimes": "Regimes",
    "storm_calm": "Storm and calm days",
    "probes": "Probes",
    "layers": "Layers",
    "attribution": "Attribution",
    "validation": "Validation",
    "perturbation": "Perturbation",
    "interventions": "Interventions",
    "features": "Features",
    "other": "Other",
}


@dataclasses.dataclass(frozen=True)
class MetricLabel:
    """A metric in words: ``group`` (a key of :data:`GROUPS`), ``label`` and ``meaning``."""

    group: str
    label: str
    meaning: str


@dataclasses.dataclass(frozen=True)
class Rule:
    """One row of :data:`RULES`: metrics whose whole name matches ``pattern``."""

    pattern: str
    group: str
    label: str
    meaning: str


#: Named groups' text -> words, per group name (text not listed is shown as it is,
#: with underscores as spaces).
WORDS: Mapping[str, Mapping[str, str]] = {
    "folds": {"_blocked": "time-blocked folds", "": "shuffled folds"},
    "saem": {"fvu": "FVU", "dead_fraction": "dead-latent fraction", "dense_fraction": "dense-latent fraction"},
    # probe quantities: the region means of single input fields are calibration rows (the
    # raw inputs hold them exactly); the planted terms of F are not linear in the inputs
    "pq": {
        "t850": "t850 (calibration: an input's region mean)",
        "z500": "z500 (calibration: an input's region mean)",
        "msl": "msl (calibration: an input's region mean)",
        "t2m": "t2m (calibration: an input's region mean)",
        "planted_tanh_t850": "planted beta tanh(T850 anomaly / scale)",
        "planted_tanh_t850_nonlinear": "planted beta tanh(T850 anomaly / scale), non-linear part",
        "planted_z500_upstream": "planted upstream z500 anomaly",
    },
    "boot": {"_block": "block bootstrap", "": "date bootstrap"},
    "who": {"storm": "storm days", "calm": "calm days", "storm_minus_calm": "storm minus calm"},
    "mask": {"_blobs": "blob masks", "": "scattered masks"},
    # attribution checks
    "method": {
        "lrp_cp": "LRP (CP)",
        "lrp_attnlrp": "AttnLRP",
        "lrp_gradient": "LRP (published gradient attention)",
        "input_x_gradient": "input x gradient",
        "integrated_gradients": "integrated gradients",
        "saliency": "saliency (plain gradient)",
    },
    "score": {
        "rank_corr": "rank correlation",
        "cosine": "cosine",
        "support_share": "share of |R| on F's support",
        "ndcg10": "NDCG@10",
        "history_share": "share of |R| at t - 6 h",
    },
    "part": {"change_": " of the 6-hour change", "": ""},
}

_WHO = r"(?P<who>storm_minus_calm|storm|calm)"
_STAT = r"(?P<stat>random_rms_slope|slope|ratio|rank_p|predicted_sign|sign_match)"

#: The ordered table: (pattern, group, label template, meaning template).
RULES: tuple[Rule, ...] = tuple(
    Rule(*r)
    for r in (
        # regimes: PCA of the pooled latents across dates
        (
            r"pc1_explained_variance",
            "regimes",
            "PC1 explained variance",
            "share of the latents' variance across dates along the first principal component",
        ),
        (
            r"pc1_annual_corr",
            "regimes",
            "PC1 annual-cycle correlation",
            "correlation of PC1 with its fit by the annual harmonics (the seasons)",
        ),
        (
            r"pc1_annual_r2",
            "regimes",
            "PC1 annual-cycle R²",
            "variance of PC1 explained by the annual harmonics",
        ),
        (
            r"pc1_annual_r2_surrogate_p",
            "regimes",
            "PC1 annual-cycle R², surrogate p",
            "p-value of the annual R² against autocorrelated surrogates without an annual cycle",
        ),
        (
            r"pc1_djf_jja_cohen_d",
            "regimes",
            "PC1 winter vs summer |Cohen's d|",
            "separation of winter (DJF) and summer (JJA) days along PC1, in pooled standard deviations",
        ),
        (
            r"pc1_djf_jja_perm_p",
            "regimes",
            "PC1 winter vs summer, permutation p",
            "p-value of the season difference with days treated as independent",
        ),
        (
            r"pc1_djf_jja_surrogate_p",
            "regimes",
            "PC1 winter vs summer, surrogate p",
            "p-value of the season difference against autocorrelated surrogates",
        ),
        (
            r"pc1_block_length",
            "regimes",
            "PC1 block length",
            "the bootstrap block length estimated from PC1's autocorrelation",
        ),
        (
            r"pc(?P<k>\d+)_bootstrap_cos(?P<boot>_block|)",
            "regimes",
            "PC{k} stability |cos|, {boot}",
            "mean |cos| between PC{k} of all dates and of resampled dates (1 = the same axis)",
        ),
        (
            r"pc1_(?P<k>\d+)_subspace_max_angle_deg(?P<boot>_block|)",
            "regimes",
            "PC1-{k} subspace largest angle, {boot}",
            "largest principal angle between the leading {k} PCs of all dates and of resampled dates",
        ),
        # storm and calm days: held-out classifiers of labelled days
        (
            r"storm_calm_auc(?P<folds>_blocked|)",
            "storm_calm",
            "Storm vs calm AUC, {folds}",
            "held-out ROC AUC of a classifier of storm against calm days from the latents (0.5 = chance)",
        ),
        (
            r"storm_calm_balanced_accuracy(?P<folds>_blocked|)",
            "storm_calm",
            "Storm vs calm balanced accuracy, {folds}",
            "held-out balanced accuracy of the storm/calm classifier (0.5 = chance)",
        ),
        (
            r"storm_calm_perm_p",
            "storm_calm",
            "Storm vs calm, permutation p",
            "p-value of the AUC with labels permuted within test folds (days treated as independent)",
        ),
        (
            r"storm_calm_perm_p_block",
            "storm_calm",
            "Storm vs calm, blocked p",
            "p-value of the time-blocked AUC against labels shifted in time, keeping their seasonal clustering",
        ),
        (
            r"storm_calm_residualised_perm_p",
            "storm_calm",
            "Storm vs calm without the annual cycle, p",
            "p-value of the residualised AUC against labels shifted in time",
        ),
        (
            r"storm_calm_linearly_separable",
            "storm_calm",
            "Storm and calm days linearly separable",
            "1 if a hyperplane in the full latents separates every storm from every calm day, in-sample",
        ),
        (
            r"storm_calm_trivially_separable",
            "storm_calm",
            "Separability trivial",
            "1 if there are no more labelled days than features + 1, so any labelling is separable",
        ),
        (
            r"storm_calm_linearly_separable_pc(?P<k>\d+)",
            "storm_calm",
            "Linearly separable on {k} PCs",
            "1 if a hyperplane on the first {k} PCs separates storm from calm days, in-sample",
        ),
        (
            r"storm_calm_contrastive_auc(?P<folds>_blocked|)",
            "storm_calm",
            "Contrastive-axis AUC, {folds}",
            "held-out AUC of days projected on the storm-minus-calm mean axis",
        ),
        (
            r"storm_calm_contrastive_auc_in_sample",
            "storm_calm",
            "Contrastive-axis AUC, in-sample",
            "the contrastive axis fitted and scored on the same days (optimistic)",
        ),
        (
            r"storm_calm_residualised_auc(?P<folds>_blocked|)",
            "storm_calm",
            "Storm vs calm AUC without the annual cycle, {folds}",
            "held-out AUC after the annual harmonics are regressed out of the latents",
        ),
        (
            r"storm_calm_within_season_auc(?:_(?P<suffix>\w+))?",
            "storm_calm",
            "Storm vs calm AUC within seasons{suffix}",
            "held-out AUC comparing storm and calm days of the same season only",
        ),
        # probes: ridge regressions of physical quantities on the latents
        (
            r"probe_r2_(?P<pq>.+)@nested_random",
            "probes",
            "{pq} probe R², random model",
            "control: the same probe on a randomly initialised model of the same architecture, its tap chosen "
            "the same way",
        ),
        (
            r"probe_r2_(?P<pq>.+)@nested",
            "probes",
            "{pq} probe R²",
            "held-out variance of {pq} decoded linearly from the latents, the tap chosen inside each training fold",
        ),
        (
            r"probe_r2_(?P<pq>.+)@(?P<tap>[^@]+)_random",
            "probes",
            "{pq} probe R², random model at {tap}",
            "control: the same probe on a randomly initialised model of the same architecture",
        ),
        (
            r"probe_r2_(?P<pq>[^@]+)_inputs",
            "probes",
            "{pq} probe R², raw inputs",
            "control: the same probe on the model's input fields",
        ),
        (
            r"probe_r2_(?P<pq>.+)@(?P<tap>[^@]+)",
            "probes",
            "{pq} probe R² at {tap}",
            "held-out variance of {pq} decoded linearly from the latents at the best tap",
        ),
        (
            r"probe_r2_(?P<pq>[^@]+)_random",
            "probes",
            "{pq} probe R², random model",
            "control: the same probe on a randomly initialised model of the same architecture",
        ),
        (
            r"probe_r2_(?P<pq>[^@]+)",
            "probes",
            "{pq} probe R²",
            "held-out variance of {pq} decoded linearly from the latents",
        ),
        # layers: regime statistics at every tap (label and meaning of the statistic)
        (
            r"sweep_probe_first_tap_vs_random_(?P<pq>.+)",
            "layers",
            "{pq}: first tap beating the random model (depth)",
            "depth of the shallowest tap whose probe beats the random model of the same architecture",
        ),
        (
            r"sweep_probe_first_tap_(?P<pq>.+)",
            "layers",
            "{pq}: first tap decoding it (depth)",
            "depth of the shallowest tap whose probe beats both the random model and the raw inputs",
        ),
        (
            r"sweep_(?P<stat>.+)@(?P<tap>[^@]+)",
            "layers",
            "{stat_label} at {tap}",
            "at tap {tap}: {stat_meaning}",
        ),
        # attribution: composites of relevance over storm and calm days
        (
            rf"lrp_upper_share_{_WHO}",
            "attribution",
            "Upper-level relevance share, {who}",
            "share of the relevance on levels at 500 hPa and above",
        ),
        (
            rf"lrp_atmospheric_share_{_WHO}",
            "attribution",
            "Atmospheric relevance share, {who}",
            "share of the relevance on atmospheric (not surface) variables",
        ),
        (
            rf"lrp_tilt_{_WHO}_deg",
            "attribution",
            "Relevance tilt with height, {who}",
            "longitude shift of the relevance centroid from lower to upper levels",
        ),
        # validation: checks of the attribution itself
        (
            r"lrp_conservation_error_(?P<case>.+)",
            "validation",
            "LRP conservation error, {case}",
            "how far the summed relevance misses the output it explains (0 = conserved)",
        ),
        (
            r"lrp_share_absorbed_(?P<case>.+)",
            "validation",
            "LRP share absorbed, {case}",
            "share of the relevance absorbed by constant terms (biases, normalisation)",
        ),
        (
            r"lrp_closure_error_(?P<case>.+)",
            "validation",
            "LRP closure error, {case}",
            "error of the relevance budget once the absorbed share is counted (0 = closed)",
        ),
        (
            r"surrogate_skill_(?P<variable>.+)",
            "validation",
            "surrogate skill, {variable}",
            "explained variance of the 6-hour change of {variable} on held-out times (1 = perfect, 0 = the mean change)",
        ),
        (
            r"truth_(?P<part>change_|)(?P<score>rank_corr|cosine|support_share|ndcg10|history_share)_(?P<method>lrp_cp|lrp_attnlrp|lrp_gradient|input_x_gradient|integrated_gradients|saliency)_(?P<case>.+)",
            "validation",
            "{method} against the known answer, {score}{part}, {case}",
            "agreement of {method}'s relevance with the exact attribution of the planted dynamics F (1 = the same)",
        ),
        (
            r"searchlight_(?P<score>rank_corr|ndcg10)_(?P<method>lrp_cp|lrp_attnlrp|lrp_gradient|input_x_gradient|integrated_gradients|saliency)_(?P<case>.+)",
            "validation",
            "{method} against the searchlight, {score}, {case}",
            "agreement of {method}'s relevance with the forecast's response to +-1 sigma block perturbations",
        ),
        (
            r"cascade_(?P<stage>.+?)_(?P<method>lrp_cp|lrp_attnlrp|lrp_gradient|input_x_gradient|integrated_gradients|saliency)_(?P<case>.+)",
            "validation",
            "{method} after randomising to {stage}, {case}",
            "rank correlation of {method}'s relevance with the trained model's once the layers down to {stage} are random (falls to 0 when the relevance depends on what was learned)",
        ),
        (
            r"datarand_(?P<method>lrp_cp|lrp_attnlrp|lrp_gradient|input_x_gradient|integrated_gradients|saliency)_(?P<case>.+)",
            "validation",
            "{method} under shuffled-target training, {case}",
            "rank correlation of {method}'s relevance under a surrogate trained on time-shuffled targets with the trained surrogate's (near 0 when the relevance depends on what was learned)",
        ),
        # perturbation: masking the most relevant cells against random masks
        (
            r"perturbation_ratio_p(?P<p>\d+(?:_\d+)?)(?P<mask>_blobs|)(?:_(?P<suffix>.+))?",
            "perturbation",
            "Masking ratio at {p} %, {mask}{suffix}",
            "forecast error after masking the most relevant {p} % over that after random masks (> 1: relevance matters)",
        ),
        (
            r"perturbation_p_exceed_p(?P<p>\d+(?:_\d+)?)(?:_(?P<suffix>.+))?",
            "perturbation",
            "Masking rank p at {p} %{suffix}",
            "share of random masks that degrade the forecast at least as much as the relevant mask",
        ),
        (
            r"perturbation_aopc_ratio_(?P<m>.+)",
            "perturbation",
            "AOPC ratio, {m}",
            "area over the perturbation curve of the relevant masks over that of random masks",
        ),
        (
            r"perturbation_aopc_(?P<m>.+)",
            "perturbation",
            "AOPC, {m}",
            "area over the perturbation curve: mean forecast error added as relevant cells are masked",
        ),
        # interventions: pushing the latents along a direction
        (
            rf"intervention_(?P<d>pc\d+|[a-z]+_axis|planted_[a-z0-9]+_[a-z0-9]+|[^_]+)_(?P<q>.+?)_{_STAT}",
            "interventions",
            "{d} push: {q} {stat}",
            "{stat_meaning}",
        ),
        # features: sparse autoencoders of the tokens per tap
        (
            r"sae_(?P<saem>fvu|dead_fraction|dense_fraction)@(?P<tap>[^@]+)_random",
            "features",
            "SAE {saem} at {tap}, random model",
            "control: the same SAE trained on the tokens of a randomly initialised model of the same architecture",
        ),
        (
            r"sae_(?P<saem>fvu|dead_fraction|dense_fraction)@(?P<tap>[^@]+)",
            "features",
            "SAE {saem} at {tap}",
            "on the held-out weeks' tokens at {tap}: {saem_meaning}",
        ),
        (
            r"sae_seed_stability@(?P<tap>[^@]+)_chance",
            "features",
            "SAE seed stability at {tap}, chance level",
            "the same statistic for two untrained SAEs of the same sizes",
        ),
        (
            r"sae_seed_stability@(?P<tap>[^@]+)",
            "features",
            "SAE seed stability at {tap}",
            "median best-match cosine of one seed's decoder directions with another seed's",
        ),
        (
            r"sae_probe_r2_(?P<pq>.+)@(?P<tap>[^@]+)_dense",
            "features",
            "{pq} probe R² on mean tokens at {tap}",
            "the dense probe beside the SAE probe: the region's mean tokens, the same folds",
        ),
        (
            r"sae_probe_r2_(?P<pq>.+)@(?P<tap>[^@]+)",
            "features",
            "{pq} probe R² on SAE codes at {tap}",
            "held-out variance of {pq} decoded linearly from the region's mean SAE code",
        ),
        # features: the atlas's planted-structure match (trained SAE, random-model control)
        (
            r"sae_planted_match_(?P<structure>storm|jet|season)_excess",
            "features",
            "planted {structure} matched to a feature, trained minus control",
            "how much more the trained model's SAE's feature follows the planted {structure} on held-out weeks "
            "than the random model's SAE's (above 0: training put the structure into a feature)",
        ),
        (
            r"sae_planted_match_(?P<structure>storm|jet|season)_random",
            "features",
            "planted {structure} matched to a feature, random-model control",
            "the same match for the SAE of the randomly initialised model's tokens: what any dictionary of "
            "these tokens gets without training",
        ),
        (
            r"sae_planted_match_(?P<structure>storm|jet|season)",
            "features",
            "planted {structure} matched to a feature",
            "Pearson r over held-out weeks' tokens between the SAE feature chosen on the training dates and the "
            "synthetic store's planted {structure} field at the token's date and position (compare the control)",
        ),
        # steering with SAE features (features.steering)
        (
            r"steer_(?P<d>feature\d+|pc\d+|[a-z]+_axis)_(?P<q>.+?)_rank_p",
            "features",
            "Steering {d}: {q} rank p",
            "share of random directions of the same norm whose push moves {q} at least as much as {d}'s, on top of "
            "the SAE's reconstruction (small: the direction matters)",
        ),
        (
            r"sae_downstream_(?P<q>.+)@(?P<tap>.+)",
            "features",
            "SAE reconstruction's change of {q} at {tap}",
            "change of the forecast's region mean of {q} when the tokens at {tap} are replaced by the SAE's "
            "reconstruction (0: the SAE loses nothing the forecast uses)",
        ),
    )
)

_STAT_MEANING = {
    "slope": "response of the forecast's {q} per unit push along {d}",
    "random_rms_slope": "RMS response of {q} per unit push along random directions of the same norm",
    "ratio": "response of {q} along {d} over that along random directions (> 1: the direction matters)",
    "rank_p": "share of random directions whose push moves {q} at least as much as {d}'s (small: the direction matters)",
    "predicted_sign": "the sign of the response of {q} along {d} that the planted dynamics F predict",
    "sign_match": "1 when the measured response of {q} along {d} has the sign F predicts, else 0",
}

_COMPILED = tuple((re.compile(r.pattern), r) for r in RULES)


def _words(name: str, text: str | None) -> str:
    text = text or ""
    if name == "p":  # a mask fraction in per cent, written 0_5 for 0.5
        return text.replace("_", ".")
    table = WORDS.get(name, {})
    if text in table:
        return table[text]
    return text.replace("_", " ").strip()


def describe(metric: str) -> MetricLabel:
    """The group, label and meaning of the headline metric ``metric``; a metric no rule
    of :data:`RULES` matches is in group ``other`` under its own name."""
    metric = str(metric)
    for regex, rule in _COMPILED:
        m = regex.fullmatch(metric)
        if m is None:
            continue
        fields = {k: _words(k, v) for k, v in m.groupdict().items()}
        if "suffix" in fields:  # an optional case, after a comma
            fields["suffix"] = f", {fields['suffix']}" if fields["suffix"] else ""
        if rule.group == "layers" and "stat" in m.groupdict():
            inner = describe(m["stat"])
            fields["stat_label"], fields["stat_meaning"] = inner.label, inner.meaning
        if rule.group == "features" and "saem" in m.groupdict():
            fields["saem_meaning"] = {
                "fvu": "fraction of the tokens' variance the reconstruction leaves unexplained",
                "dead_fraction": "share of latents that never fire",
                "dense_fraction": "share of latents firing on more than the dense threshold of tokens",
            }[m["saem"]]
        if rule.group == "interventions":
            fields["stat"] = {
                "random_rms_slope": "random-direction slope",
                "rank_p": "rank p",
                "predicted_sign": "predicted sign (F)",
                "sign_match": "sign matches F",
            }.get(m["stat"], m["stat"])
            fields["stat_meaning"] = _STAT_MEANING[m["stat"]].format(**fields)
        return MetricLabel(rule.group, rule.label.format(**fields), rule.meaning.format(**fields))
    return MetricLabel("other", metric, "")
