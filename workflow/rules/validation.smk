# Attribution checked three ways for every storm case (validation.cases, default those of
# attribution.cases), on the model
# the study runs: against the exact attribution of the planted dynamics (stores that
# record them), against a searchlight reference, and through a randomisation cascade.


rule validate_attribution:
    input:
        store=store_input,
        checkpoint=model_checkpoint,
    output:
        truth="results/validation/{case}_truth.csv",
        searchlight="results/validation/{case}_searchlight.csv",
        cascade="results/validation/{case}_cascade.csv",
        maps="results/validation/{case}_maps.nc",
    log:
        "logs/validate_attribution/{case}.log",
    benchmark:
        "benchmarks/validate_attribution/{case}.tsv"
    conda:
        "../../envs/model.yaml"
    threads: model_threads(tiny=1)
    resources:
        **model_resources(peak_gb=14.0, minutes_per_unit=60),
        model_device=MODEL_DEVICE,
    params:
        settings=declare(
            ValidationSettings,
            "model",
            "data",
            "dates.history_hours",
            "storms.{case}",
            "seed",
            "synthetic",
            "storms",
            dag=("validation.cases", "attribution.cases", "validation.enabled"),
        ),
        code=code("validate_attribution.py"),
    script:
        "../scripts/validate_attribution.py"


rule collect_validation:
    input:
        truth=expand("results/validation/{case}_truth.csv", case=VALIDATION_CASES),
        searchlight=expand(
            "results/validation/{case}_searchlight.csv", case=VALIDATION_CASES
        ),
        cascade=expand("results/validation/{case}_cascade.csv", case=VALIDATION_CASES),
    output:
        truth=report(
            "results/tables/attribution_truth.csv",
            caption="../report/attribution_truth.rst",
            category="Validation",
        ),
        searchlight=report(
            "results/tables/attribution_searchlight.csv",
            caption="../report/attribution_searchlight.rst",
            category="Validation",
        ),
        cascade=report(
            "results/tables/attribution_cascade.csv",
            caption="../report/attribution_cascade.rst",
            category="Validation",
        ),
        headline="results/tables/headline/validation.csv",
    log:
        "logs/collect_validation/collect_validation.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=declare(),
        code=code("collect_validation.py"),
    script:
        "../scripts/collect_validation.py"


rule plot_validation:
    input:
        maps="results/validation/{case}_maps.nc",
        cascade="results/tables/attribution_cascade.csv",
    output:
        maps=report(
            "results/figures/attribution_truth_{case}.png",
            caption="../report/attribution_truth_maps.rst",
            category="Validation",
        ),
        cascade=report(
            "results/figures/attribution_cascade_{case}.png",
            caption="../report/attribution_cascade_figure.rst",
            category="Validation",
        ),
    log:
        "logs/plot_validation/{case}.log",
    conda:
        "../../envs/plot.yaml"
    params:
        settings=declare(),
        code=code("plot_validation.py"),
    script:
        "../scripts/plot_validation.py"
