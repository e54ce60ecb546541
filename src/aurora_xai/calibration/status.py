"""What the calibration suite shows for each headline metric: one table, read by the headline.

:data:`STATUSES` is an ordered table of regular expressions over headline metric names
(matched whole; the first that matches wins), each with a :class:`Calibration`:

* ``holds``: the suite's cases named show the test at its nominal false-positive rate
  (or the interval at its nominal coverage); the statistic is marked ``calibrated`` in
  each of those cases (a test checks that, so this table and the suite cannot drift);
* ``fails``: the suite shows it missing its target (the reason gives the rates); the
  statistic is one of those cases' and is not marked ``calibrated`` there;
* ``not simulated``: a test or interval the suite does not simulate, with the reason;
* ``no test or interval``: a point value (in-sample, one case, an exact computation),
  with where its test lives if elsewhere.

:func:`aurora_xai.tables.headline_rows` writes :meth:`Calibration.text` of every row into
the headline's ``calibration`` column, so the mark is never written by hand in a rule.
The rates quoted are those of the README's calibration table (200 realisations per
cell). The module imports nothing of the project's (the suite's cases are named, not
imported).
"""

from __future__ import annotations

import dataclasses
import re

__all__ = ["STATUS_VALUES", "STATUSES", "Calibration", "calibration_of"]

#: The statuses a headline row can have, in the order of :class:`Calibration`'s docs.
STATUS_VALUES = ("holds", "fails", "not simulated", "no test or interval")


@dataclasses.dataclass(frozen=True)
class Calibration:
    """What the suite shows for one kind of headline metric.

    Attributes:
        status: One of :data:`STATUS_VALUES`.
        reason: One line: the rates (or why it is not simulated), in words.
        statistic: The suite's statistic name standing for the metric (``""`` when not
            simulated).
        cases: The suite's cases that show it (registry names; ``()`` when not simulated).
    """

    status: str
    reason: str
    statistic: str = ""
    cases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.status not in STATUS_VALUES:
            raise ValueError(f"calibration status must be one of {STATUS_VALUES}, got {self.status!r}")
        if not self.reason.strip():
            raise ValueError("a calibration status needs a reason")
        if self.status in ("holds", "fails") and not (self.statistic and self.cases):
            raise ValueError(f"a {self.status!r} status names the suite's statistic and cases")

    @property
    def calibrated(self) -> bool:
        """Whether the suite shows the row's test or interval at its nominal rate."""
        return self.status == "holds"

    def text(self) -> str:
        """The headline's ``calibration`` cell: ``status: reason (suite: case, ...)``."""
        suite = f" (suite: {', '.join(self.cases)})" if self.cases else ""
        return f"{self.status}: {self.reason}{suite}"


_SC_REPORT = ("storm_calm_report_null_phi05", "storm_calm_report_null_phi09", "storm_calm_report_null_phi095")
_SC_NULL = ("storm_calm_null_phi05", "storm_calm_null_phi09", "storm_calm_null_phi095")
_DJF = ("djf_jja_null_phi05", "djf_jja_null_phi09", "djf_jja_null_phi095")
_PERT = ("perturbation_null_n10", "perturbation_null_n50", "perturbation_effect_n50", "perturbation_effect_n100")
_PERT_NULL = ("perturbation_null_n10", "perturbation_null_n50")
_INT_NULL = ("intervention_null_k4_d3", "intervention_null_k20_d10", "intervention_null_k20_d1")
_INT_EFFECT = ("intervention_effect_k4_d3", "intervention_effect_k20_d10")
_COMPOSITE = ("composite_effect_e3", "composite_effect_e5", "composite_effect_e20")
_PROBE = ("probe_effect_noise_phi05", "probe_effect_noise_phi095")
_PROBE_TAPS = ("probe_taps_noise_phi05",)

_PUBLISHED = "the published i.i.d.-days method rejects in 98-100 % of the seasonal-label nulls"
_IN_SAMPLE = "in-sample value, no test or interval"
_SWEEP = (
    "a bootstrap interval of the layer sweep, not simulated (the suite simulates the headline's own "
    "PC1 and storm/calm statistics)"
)

#: Ordered (pattern, status) table; the first pattern matching the whole metric wins.
STATUSES: tuple[tuple[str, Calibration], ...] = (
    # regimes
    (
        r"pc1_djf_jja_surrogate_p",
        Calibration("holds", "false-positive rate 1.5-3.5 % at phi 0.5-0.95", "pc1_djf_jja_surrogate_p", _DJF),
    ),
    (
        r"pc1_annual_r2_surrogate_p",
        Calibration(
            "fails",
            "rejects in 5.5 %, 8.5 % and 15 % of the nulls at phi 0.5, 0.9, 0.95 (too often under strong "
            "autocorrelation)",
            "pc1_annual_r2_surrogate_p",
            _DJF,
        ),
    ),
    (
        r"pc1_djf_jja_perm_p",
        Calibration(
            "fails",
            "the published i.i.d. permutation rejects in 32-85 % of the nulls; use pc1_djf_jja_surrogate_p",
            "pc1_djf_jja_perm_p",
            _DJF,
        ),
    ),
    (
        r"pc1_djf_jja_cohen_d",
        Calibration("no test or interval", "in-sample effect size; its test is pc1_djf_jja_surrogate_p"),
    ),
    (
        r"pc1_annual_(corr|r2)",
        Calibration("no test or interval", "in-sample fit; its test is pc1_annual_r2_surrogate_p"),
    ),
    (r"pc\d+_explained_variance", Calibration("no test or interval", _IN_SAMPLE)),
    (
        r"pc\d+_bootstrap_cos(_block)?|pc\d+_\d+_subspace_max_angle_deg(_block)?",
        Calibration(
            "not simulated",
            "the spread of resampled cosines or angles, not an interval of a parameter with a truth to cover",
        ),
    ),
    # storm / calm
    (
        r"storm_calm_perm_p_block",
        Calibration(
            "holds",
            "false-positive rate 3.0-4.0 % at phi 0.5-0.95 (circular shift over all dates, automatic gap)",
            "storm_calm_perm_p_block",
            _SC_REPORT,
        ),
    ),
    (
        r"storm_calm_(auc|balanced_accuracy)_blocked",
        Calibration(
            "fails",
            "the interval excludes 0.5 in 8-22 % of the nulls with seasonal labels (target 7 %); the blocked "
            "p-value is the calibrated test",
            "storm_calm_auc_blocked",
            _SC_REPORT,
        ),
    ),
    (
        r"storm_calm_residualised_auc_blocked",
        Calibration(
            "fails",
            "the interval excludes 0.5 in 29-39 % of the nulls with seasonal labels",
            "storm_calm_residualised_auc_blocked",
            _SC_REPORT,
        ),
    ),
    (
        r"storm_calm_residualised_auc",
        Calibration(
            "fails",
            "the published shuffled-fold interval excludes 0.5 in 17.5-53 % of the nulls with seasonal labels",
            "storm_calm_residualised_auc",
            _SC_NULL,
        ),
    ),
    (
        r"storm_calm_(auc|balanced_accuracy|perm_p)",
        Calibration("fails", _PUBLISHED, "storm_calm_auc", _SC_NULL),
    ),
    (
        r"storm_calm_contrastive_auc(_blocked)?",
        Calibration("not simulated", "held-out AUC of the storm-minus-calm axis; no interval or test of its own"),
    ),
    (
        r"storm_calm_contrastive_auc_in_sample|storm_calm_(linearly|trivially)_separable(_pc\d+)?",
        Calibration("no test or interval", _IN_SAMPLE),
    ),
    # probes
    (
        r"probe_r2_.+@nested(_random)?",
        Calibration(
            "fails",
            "the tap is chosen inside the training folds (no selection optimism), but the week-bootstrap "
            "interval covers the population R² in 56 % of the simulations (the held-out R² lies below it)",
            "probe_r2_nested",
            _PROBE_TAPS,
        ),
    ),
    (
        r"probe_r2_.+",
        Calibration(
            "fails",
            "the week-bootstrap interval covers the population R² in 57-58 % of the simulations",
            "probe_r2",
            _PROBE,
        ),
    ),
    # layer sweep
    (r"sweep_.+", Calibration("not simulated", _SWEEP)),
    # attribution composites
    (
        r"lrp_(upper_share|atmospheric_share|tilt)_storm_minus_calm(_deg)?",
        Calibration(
            "fails",
            "the episode-bootstrap interval covers the truth in 80 % with 3 episodes, 86 % with 5 and 100 % "
            "with 20; read it with its number of episodes",
            "lrp_upper_share_storm_minus_calm",
            _COMPOSITE,
        ),
    ),
    (
        r"lrp_(upper_share|atmospheric_share|tilt)_(storm|calm)(_deg)?",
        Calibration(
            "fails",
            "the episode-bootstrap interval covers the truth in 74 %, 82 % and 91 % with 3, 5 and 20 episodes",
            "lrp_upper_share_storm",
            _COMPOSITE,
        ),
    ),
    (
        r"lrp_(conservation_error|share_absorbed|closure_error)_.+",
        Calibration("no test or interval", "one case's relevance budget, computed exactly"),
    ),
    # validation: the surrogate's skill and the attribution checks
    (
        r"surrogate_skill_.+",
        Calibration(
            "no test or interval", "held-out skill of the trained surrogate over the scored times; a point value"
        ),
    ),
    (
        r"(truth|searchlight|cascade|datarand)_.+",
        Calibration(
            "no test or interval",
            "one case's agreement of a relevance map with a reference (the exact attribution of F, the "
            "searchlight, the trained model's map), computed exactly; no resampling (datarand: one "
            "permutation seed)",
        ),
    ),
    # perturbation
    (
        r"perturbation_p_exceed_p.+",
        Calibration(
            "holds",
            "false-positive rate 0 % with 10 draws (floor 1/11) and 4 % with 50",
            "perturbation_p_exceed_p1",
            _PERT_NULL,
        ),
    ),
    (
        r"perturbation_ratio_p.+",
        Calibration(
            "holds",
            "the rank interval excludes 1 in 0 % (10 draws: unbounded) and 4 % (50) of the nulls and covers a "
            "planted ratio in 95.5 %",
            "perturbation_ratio_p1",
            _PERT,
        ),
    ),
    (
        r"perturbation_aopc_ratio_.+",
        Calibration(
            "holds",
            "the rank interval excludes 1 in 0 % (10 draws) and 3.5 % (50) of the nulls and covers a planted "
            "ratio in 96 %",
            "perturbation_aopc_ratio",
            _PERT,
        ),
    ),
    (
        r"perturbation_aopc_.+",
        Calibration("no test or interval", "one case's area over the curve; its test is the AOPC ratio's interval"),
    ),
    # interventions (the random RMS slope before the slope, whose pattern matches it too)
    (
        r"intervention_.+_random_rms_slope",
        Calibration("not simulated", "the random directions' RMS slope: the ratio's denominator, not a finding"),
    ),
    (
        r"intervention_.+_(predicted_sign|sign_match)",
        Calibration(
            "no test or interval",
            "F's predicted sign (from its coefficients) and whether the measured slope has it; the test against "
            "random directions is the direction's rank p",
        ),
    ),
    (
        r"intervention_.+_rank_p",
        Calibration(
            "holds",
            "false-positive rate 0 % (4 directions, floor 1/5), 3.5-4 % (20 directions)",
            "intervention_pc1_2t_rank_p",
            _INT_NULL,
        ),
    ),
    (
        r"intervention_.+_ratio",
        Calibration(
            "fails",
            "the interval covers the direction's own ratio in 70.5 % (4 directions, 3 + 3 dates) and 89 % (20, "
            "10 + 10) of the simulations; not a test against random directions (the rank p is)",
            "intervention_pc1_2t_ratio",
            _INT_EFFECT,
        ),
    ),
    (
        r"intervention_.+_slope",
        Calibration(
            "fails",
            "the date-bootstrap interval covers the slope in 80.5 % (3 + 3 dates) and 89 % (10 + 10) of the "
            "simulations (none is given with one episode per label)",
            "intervention_pc1_2t_slope",
            _INT_EFFECT,
        ),
    ),
    # sparse autoencoders (features.smk): the random-model control and the chance level first
    (
        r"sae_(fvu|dead_fraction|dense_fraction)@.+_random",
        Calibration(
            "not simulated",
            "the same SAE trained on the random model's tokens (a control); its block bootstrap over held-out "
            "weeks is not simulated by the suite",
        ),
    ),
    (
        r"sae_(fvu|dead_fraction|dense_fraction)@.+",
        Calibration(
            "not simulated",
            "measured on the held-out weeks' tokens; its block bootstrap over held-out weeks is not simulated by "
            "the suite (which has no SAE case)",
        ),
    ),
    (
        r"sae_seed_stability@.+_chance",
        Calibration("no test or interval", "the statistic for two untrained SAEs of the same sizes: its chance level"),
    ),
    (
        r"sae_seed_stability@.+",
        Calibration(
            "no test or interval", "two seeds give one value; read it against its chance level (the _chance row)"
        ),
    ),
    (
        r"sae_probe_r2_.+",
        Calibration(
            "not simulated",
            "held-out R² of a ridge probe on per-date mean SAE codes (or mean tokens: _dense) with the probes' "
            "folds; its week-bootstrap interval is not simulated for these features",
        ),
    ),
    # the feature atlas's planted-structure match
    (
        r"sae_planted_match_(storm|jet|season)(_random|_excess)?",
        Calibration(
            "holds",
            "the feature is selected on the training dates 7 days away from the held-out weeks and scored on "
            "them; the week-bootstrap t interval (Fisher z) excludes 0 in 4.5-5.5 % of the nulls (60 features, "
            "AR(1) phi 0.5 and 0.8; the trained minus control difference the same) and covers a planted r of 0.4 "
            "in 94-97 %; a percentile interval gave 9-11.5 %",
            "sae_planted_match_excess",
            (
                "planted_match_null_phi05",
                "planted_match_null_phi08",
                "planted_match_effect_phi05",
                "planted_match_effect_phi08",
            ),  # fmt: skip
        ),
    ),
    # steering with SAE features (the interventions' rank p of slopes against random directions)
    (
        r"steer_.+_rank_p",
        Calibration(
            "holds",
            "the interventions' rank p (the same function of the slopes over dates and random directions, the same "
            "exchangeability null): false-positive rate 3.5-4 % with 20 random directions; the suite does not "
            "simulate steering's own arms (the SAE reconstruction under the push)",
            "intervention_pc1_2t_rank_p",
            ("intervention_null_k20_d10", "intervention_null_k20_d1"),
        ),
    ),
    (
        r"sae_downstream_.+@.+",
        Calibration(
            "not simulated",
            "a date-episode bootstrap interval of the reconstruction's effect; the same resampling of the "
            "interventions' slope covers in 80.5 % with 3 + 3 dates (suite: intervention_effect_k4_d3)",
        ),
    ),
)
_COMPILED = tuple((re.compile(p), c) for p, c in STATUSES)


def calibration_of(metric: str) -> Calibration | None:
    """The :class:`Calibration` of headline metric ``metric`` (None for a metric no
    pattern of :data:`STATUSES` matches)."""
    for regex, cal in _COMPILED:
        if regex.fullmatch(str(metric)):
            return cal
    return None
