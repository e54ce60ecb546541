# Perturbation test of attribution faithfulness (issue 6): mask the top-relevance cells
# of a sector versus random scattered cells and random contiguous blobs of the same
# size; MSE of the forecast over the evaluation region. Include after common.smk.
#
# Outputs per case (config perturbation.cases):
#   results/perturbation/{case}.csv            per method, random kind, p, reference
#   results/perturbation/{case}_aopc.csv       AOPC per method and random kind
#   results/perturbation/{case}_draws.nc       every MSE, relevance maps, top masks
#   results/tables/headline/perturbation_{case}.csv   headline rows
#   results/figures/perturbation_{case}.png    degradation curves
#
# Its input functions live in common.smk.


rule run_perturbation:
    input:
        unpack(perturbation_inputs),
    output:
        table=report(
            "results/perturbation/{case}.csv",
            caption="../report/perturbation_table.rst",
            category="Perturbation",
        ),
        aopc="results/perturbation/{case}_aopc.csv",
        draws="results/perturbation/{case}_draws.nc",
        headline="results/tables/headline/perturbation_{case}.csv",
    log:
        "logs/run_perturbation/{case}.log",
    benchmark:
        "benchmarks/run_perturbation/{case}.tsv"
    conda:
        "../../envs/model.yaml"
    threads: model_threads(tiny=2)
    resources:
        **model_resources(peak_gb=14.5, minutes_per_unit=2.5, units=perturbation_passes),
        model_device=MODEL_DEVICE,
        lrp_checkpointing=LRP_CHECKPOINTING,
        perturbation_batch_size=PERTURBATION_BATCH_SIZE,
    params:
        settings=declare(
            "perturbation.cases.{case}",
            "perturbation.methods",
            "perturbation.lrp_source",
            "perturbation.relevance_target",
            "perturbation.latent_layer",
            "perturbation.attention_rule",
            "perturbation.epsilon",
            "perturbation.ig_steps",
            "perturbation.relevance",
            "perturbation.fractions",
            "perturbation.n_draws",
            "perturbation.random_kinds",
            "perturbation.mask_value",
            "perturbation.masked",
            "perturbation.climatology_window_days",
            "perturbation.climatology_exclude_case_year",
            "perturbation.smooth_kind",
            "perturbation.smooth_scale_deg",
            "perturbation.area_weighted",
            "perturbation.n_boot",
            "perturbation.ci_level",
            "model",
            "data",
            "dates.history_hours",
            "regions",
            "seed",
            dag=("perturbation.headline_case",),
        ),
        # "" for the headline case (perturbation.headline_case, or the first case)
        headline_suffix=lambda wildcards: perturbation_suffix(wildcards.case),
        code=code("run_perturbation.py"),
    script:
        "../scripts/run_perturbation.py"


rule plot_perturbation:
    input:
        table="results/perturbation/{case}.csv",
    output:
        report(
            "results/figures/perturbation_{case}.png",
            caption="../report/perturbation.rst",
            category="Perturbation",
        ),
    log:
        "logs/plot_perturbation/{case}.log",
    conda:
        "../../envs/plot.yaml"
    params:
        settings=declare("perturbation.cases.{case}"),
        code=code("plot_perturbation.py"),
    script:
        "../scripts/plot_perturbation.py"
