"""The headline metrics in words: every metric the workflow writes has a group and a label."""

from __future__ import annotations

import pytest

from aurora_xai.headline_labels import GROUPS, RULES, describe

#: Metric names the producers write (regimes, storm/calm, probes, sweep, LRP cases and
#: composites, perturbation of the headline case and of another case, interventions).
REAL_METRICS = {
    "pc1_explained_variance": "regimes",
    "steer_feature12_msl_rank_p": "features",
    "steer_storm_axis_10m_wind_speed_rank_p": "features",
    "steer_pc1_10v_rank_p": "features",
    "sae_downstream_10m_wind_speed@backbone.encoder.1": "features",
    "truth_rank_corr_lrp_cp_great_storm_1987": "validation",
    "surrogate_skill_msl": "validation",
    "sweep_probe_first_tap_planted_tanh_t850": "layers",
    "intervention_planted_z500_upstream_msl_sign_match": "interventions",
    "probe_r2_planted_tanh_t850@nested": "probes",
    "truth_change_rank_corr_input_x_gradient_great_storm_1987": "validation",
    "truth_support_share_saliency_great_storm_1987": "validation",
    "searchlight_ndcg10_integrated_gradients_great_storm_1987": "validation",
    "cascade_backbone_encoder_1_lrp_attnlrp_great_storm_1987": "validation",
    "cascade_decoder_saliency_great_storm_1987": "validation",
    "datarand_lrp_cp_great_storm_1987": "validation",
    "datarand_input_x_gradient_katrina_2005": "validation",
    "pc1_annual_corr": "regimes",
    "pc1_annual_r2": "regimes",
    "pc1_annual_r2_surrogate_p": "regimes",
    "pc1_djf_jja_cohen_d": "regimes",
    "pc1_djf_jja_perm_p": "regimes",
    "pc1_djf_jja_surrogate_p": "regimes",
    "pc1_bootstrap_cos": "regimes",
    "pc2_bootstrap_cos": "regimes",
    "pc1_bootstrap_cos_block": "regimes",
    "pc3_bootstrap_cos_block": "regimes",
    "pc1_3_subspace_max_angle_deg": "regimes",
    "pc1_3_subspace_max_angle_deg_block": "regimes",
    "storm_calm_auc": "storm_calm",
    "storm_calm_auc_blocked": "storm_calm",
    "storm_calm_balanced_accuracy": "storm_calm",
    "storm_calm_balanced_accuracy_blocked": "storm_calm",
    "storm_calm_perm_p": "storm_calm",
    "storm_calm_perm_p_block": "storm_calm",
    "storm_calm_linearly_separable": "storm_calm",
    "storm_calm_trivially_separable": "storm_calm",
    "storm_calm_linearly_separable_pc10": "storm_calm",
    "storm_calm_contrastive_auc": "storm_calm",
    "storm_calm_contrastive_auc_blocked": "storm_calm",
    "storm_calm_contrastive_auc_in_sample": "storm_calm",
    "storm_calm_residualised_auc": "storm_calm",
    "storm_calm_residualised_auc_blocked": "storm_calm",
    "probe_r2_t2m@nested": "probes",
    "probe_r2_t2m@nested_random": "probes",
    "probe_r2_wind10_max_inputs": "probes",
    "probe_r2_jet_lat_u250@nested": "probes",
    "probe_r2_jet_lat_u250@backbone.encoder.2": "probes",
    "sweep_pc1_annual_r2@backbone.encoder.2": "layers",
    "sweep_storm_calm_auc_blocked@backbone": "layers",
    "sweep_pc1_djf_jja_cohen_d@encoder": "layers",
    "lrp_upper_share_storm": "attribution",
    "lrp_upper_share_storm_minus_calm": "attribution",
    "lrp_atmospheric_share_calm": "attribution",
    "lrp_tilt_calm_deg": "attribution",
    "lrp_tilt_storm_minus_calm_deg": "attribution",
    "lrp_tilt_storm_deg": "attribution",
    "lrp_atmospheric_share_storm_minus_calm": "attribution",
    "lrp_conservation_error_great_storm_1987": "validation",
    "lrp_share_absorbed_katrina_2005": "validation",
    "lrp_closure_error_great_storm_1987": "validation",
    "perturbation_ratio_p1": "perturbation",
    "perturbation_ratio_p1_blobs": "perturbation",
    "perturbation_ratio_p0_5_katrina_2005": "perturbation",
    "perturbation_p_exceed_p1": "perturbation",
    "perturbation_p_exceed_p0_5_katrina_2005": "perturbation",
    "perturbation_aopc_random": "perturbation",
    "perturbation_aopc_lrp": "perturbation",
    "perturbation_aopc_ratio_input_x_gradient": "perturbation",
    "perturbation_aopc_ratio_lrp_katrina_2005": "perturbation",
    "intervention_pc1_2t_slope": "interventions",
    "intervention_pc1_2t_random_rms_slope": "interventions",
    "intervention_pc1_2t_ratio": "interventions",
    "intervention_storm_axis_10m_wind_speed_ratio": "interventions",
    "intervention_storm_axis_msl_random_rms_slope": "interventions",
    "intervention_pc1_2t_rank_p": "interventions",
    "intervention_storm_axis_10m_wind_speed_rank_p": "interventions",
    "sae_fvu@backbone": "features",
    "sae_dead_fraction@backbone.encoder.0": "features",
    "sae_dense_fraction@encoder": "features",
    "sae_fvu@backbone_random": "features",
    "sae_dead_fraction@encoder_random": "features",
    "sae_seed_stability@backbone": "features",
    "sae_seed_stability@backbone_chance": "features",
    "sae_probe_r2_t2m@backbone": "features",
    "sae_probe_r2_planted_tanh_t850@backbone.encoder.1_dense": "features",
    "sae_planted_match_storm": "features",
    "sae_planted_match_jet_random": "features",
    "sae_planted_match_season": "features",
    "sae_planted_match_jet_excess": "features",
}


@pytest.mark.parametrize("metric, group", REAL_METRICS.items())
def test_every_real_metric_has_a_group_label_and_meaning(metric, group):
    what = describe(metric)
    assert what.group == group
    assert what.label and what.label != metric and "{" not in what.label
    assert what.meaning and "{" not in what.meaning and "_" not in what.label


def test_rules_use_known_groups_and_compile():
    assert {r.group for r in RULES} <= set(GROUPS) - {"other"}


def test_an_unknown_metric_goes_to_other_under_its_name():
    what = describe("made_up_metric")
    assert (what.group, what.label, what.meaning) == ("other", "made_up_metric", "")


def test_labels_say_which_variant():
    assert describe("storm_calm_auc").label == "Storm vs calm AUC, shuffled folds"
    assert describe("storm_calm_auc_blocked").label == "Storm vs calm AUC, time-blocked folds"
    assert describe("pc2_bootstrap_cos_block").label == "PC2 stability |cos|, block bootstrap"
    assert (
        describe("perturbation_ratio_p0_5_katrina_2005").label
        == "Masking ratio at 0.5 %, scattered masks, katrina 2005"
    )
    slope = describe("intervention_storm_axis_10m_wind_speed_random_rms_slope")
    assert slope.label == "storm axis push: 10m wind speed random-direction slope"
    sweep = describe("sweep_storm_calm_auc_blocked@backbone.encoder.2")
    assert sweep.label == "Storm vs calm AUC, time-blocked folds at backbone.encoder.2"
    assert (
        describe("probe_r2_t2m@backbone_random").label
        == "t2m (calibration: an input's region mean) probe R², random model at backbone"
    )
    assert (
        describe("probe_r2_planted_tanh_t850_inputs").label
        == "planted beta tanh(T850 anomaly / scale) probe R², raw inputs"
    )
    assert (
        describe("intervention_planted_tanh_t850_10v_sign_match").label == "planted tanh t850 push: 10v sign matches F"
    )


def test_the_producers_names_are_matched():
    """Names built the way the producers build them (sweep statistics, perturbation rows)."""
    from aurora_xai.regimes.sweep import SWEEP_STATISTICS, sweep_metric

    for s in SWEEP_STATISTICS:
        for blocked in (True, False):
            stat = sweep_metric(s.stat, blocked)
            assert describe(stat).group != "other", stat
            assert describe(f"sweep_{stat}@backbone").group == "layers", stat
