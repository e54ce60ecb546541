# Interventions along latent directions (issue 13, part 5): push a region's tokens along
# PC1 and the storm axis (and random directions of equal norm) at a tap, decode the
# forecast, and report its response per unit push. Include after common.smk.
#
#   results/interventions/interventions.nc        every response, slope and direction
#   results/tables/interventions.csv              slopes with intervals over dates
#   results/tables/headline/interventions.csv     headline rows
#   results/figures/intervention_{direction}.png  response against alpha

# Its input functions live in common.smk.


rule run_interventions:
    input:
        unpack(intervention_probe_targets),
        pooled=intervention_pooled,
        labels="results/labels/storm_days.tsv",
        store=store_input,
        checkpoint=model_checkpoint,
    output:
        dataset="results/interventions/interventions.nc",
        table=report(
            "results/tables/interventions.csv",
            caption="../report/interventions_table.rst",
            category="Interventions",
        ),
        headline="results/tables/headline/interventions.csv",
    log:
        "logs/run_interventions/run_interventions.log",
    benchmark:
        "benchmarks/run_interventions/run_interventions.tsv"
    conda:
        "../../envs/model.yaml"
    threads: model_threads(tiny=2)
    resources:
        **model_resources(peak_gb=12.6, minutes_per_unit=3, units=intervention_passes),
        model_device=MODEL_DEVICE,
        intervention_batch_size=INTERVENTION_BATCH_SIZE,
    params:
        settings=declare(
            "interventions",
            "latents.tap",
            "pca",
            "regions",
            "model",
            "data",
            "dates.history_hours",
            "seed",
        ),
        code=code("run_interventions.py"),
    script:
        "../scripts/run_interventions.py"


rule plot_interventions:
    input:
        "results/interventions/interventions.nc",
    output:
        report(
            "results/figures/intervention_{direction}.png",
            caption="../report/interventions.rst",
            category="Interventions",
        ),
    log:
        "logs/plot_interventions/{direction}.log",
    conda:
        "../../envs/plot.yaml"
    params:
        code=code("plot_interventions.py"),
    script:
        "../scripts/plot_interventions.py"
