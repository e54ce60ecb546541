# Steering with four arms (control, reconstruction only, +alpha x a feature's decoder
# direction, random directions of equal norm), sharing their seeds, at features.steering.tap
# (empty: latents.tap), in the region of interventions.region (empty: pca.region); PC1 and
# the storm axis of the pooled latents beside the features. Include after common.smk and
# features.smk.
#
#   results/features/steering.nc                  responses, slopes, maps
#   results/tables/steering.csv                   slopes, rank p, dose-response, downstream
#   results/tables/headline/steering.csv          steer_<direction>_<quantity>_rank_p,
#                                                 sae_downstream_<quantity>@<tap>
#   results/figures/steering.png                  dose-response per direction
#   results/figures/steering_maps.png             response maps

# Its input functions live in steering_inputs.smk.


include: "steering_inputs.smk"


rule steer_features:
    input:
        unpack(steering_inputs),
        store=store_input,
    output:
        dataset="results/features/steering.nc",
        table=report(
            "results/tables/steering.csv",
            caption="../report/steering_table.rst",
            category="Features",
        ),
        headline="results/tables/headline/steering.csv",
    log:
        "logs/steer_features/steer_features.log",
    benchmark:
        "benchmarks/steer_features/steer_features.tsv"
    conda:
        "../../envs/model.yaml"
    threads: model_threads(tiny=1)
    # sized as run_interventions (the same forward passes, measured at 0.25 deg), until
    # the rehearsal measures this rule
    resources:
        **model_resources(peak_gb=12.6, minutes_per_unit=3, units=steering_passes),
        model_device=MODEL_DEVICE,
        intervention_batch_size=INTERVENTION_BATCH_SIZE,
    params:
        settings=declare(
            SteeringSettings,
            "latents.tap",
            "interventions.region",
            "pca",
            "regions",
            "model",
            "data",
            "dates.history_hours",
            "seed",
            dag=(
                "features.sae.seeds",
                "features.taps",
                "latents.taps",
                "features.steering.enabled",
            ),
        ),
        code=code("steer_features.py"),
    script:
        "../scripts/steer_features.py"


rule plot_steering:
    input:
        "results/features/steering.nc",
    output:
        dose=report(
            "results/figures/steering.png",
            caption="../report/steering.rst",
            category="Features",
        ),
        maps=report(
            "results/figures/steering_maps.png",
            caption="../report/steering_maps.rst",
            category="Features",
        ),
    log:
        "logs/plot_steering/plot_steering.log",
    conda:
        "../../envs/plot.yaml"
    params:
        settings=declare("interventions.region", "pca.region", "regions"),
        code=code("plot_steering.py"),
    script:
        "../scripts/plot_steering.py"
