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
        lrp_checkpointing=LRP_CHECKPOINTING,
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


# The data-randomisation control (validation.data_randomisation; the surrogate the
# workflow trains only): a second surrogate trained exactly as the real one, the same
# steps and samples, on +6 h targets permuted across the training times; each method of
# validation.cascade_methods is computed under both and their similarity recorded.
if DATA_RANDOMISATION:

    rule train_shuffled_surrogate:
        input:
            store=store_input,
        output:
            checkpoint=SHUFFLED_CHECKPOINT,
            losses="results/surrogate/shuffled/losses.csv",
        log:
            "logs/train_shuffled_surrogate/train_shuffled_surrogate.log",
        benchmark:
            "benchmarks/train_shuffled_surrogate/train_shuffled_surrogate.tsv"
        conda:
            "../../envs/model.yaml"
        threads: model_threads(tiny=1)
        resources:
            **model_resources(peak_gb=2.0, minutes_per_unit=0.01),
        params:
            # the resumable training state: not an output, so an interrupted run keeps it
            state=SHUFFLED_STATE,
            shuffled=True,
            settings=declare(
                "data",
                "dates.history_hours",
                SurrogateSettings,
                ShuffledTraining,
                dag=("validation.data_randomisation",),
            ),
            code=code("train_surrogate.py"),
        script:
            "../scripts/train_surrogate.py"

    rule validate_data_randomisation:
        input:
            store=store_input,
            checkpoint=model_checkpoint,
            shuffled=SHUFFLED_CHECKPOINT,
        output:
            table="results/datarand/{case}.csv",
            maps="results/datarand/{case}_maps.nc",
        log:
            "logs/validate_data_randomisation/{case}.log",
        benchmark:
            "benchmarks/validate_data_randomisation/{case}.tsv"
        conda:
            "../../envs/model.yaml"
        threads: model_threads(tiny=1)
        resources:
            **model_resources(peak_gb=14.0, minutes_per_unit=30),
            model_device=MODEL_DEVICE,
            lrp_checkpointing=LRP_CHECKPOINTING,
        params:
            settings=declare(
                DataRandomisationSettings,
                "model",
                "data",
                "dates.history_hours",
                "storms.{case}",
                "seed",
                "synthetic",
                "storms",
                dag=(
                    "validation.cases",
                    "attribution.cases",
                    "validation.enabled",
                    "validation.data_randomisation",
                ),
            ),
            code=code("validate_data_randomisation.py"),
        script:
            "../scripts/validate_data_randomisation.py"

    rule collect_data_randomisation:
        input:
            expand("results/datarand/{case}.csv", case=VALIDATION_CASES),
        output:
            table=report(
                "results/tables/attribution_datarand.csv",
                caption="../report/attribution_datarand.rst",
                category="Validation",
            ),
            headline="results/tables/headline/datarand.csv",
        log:
            "logs/collect_data_randomisation/collect_data_randomisation.log",
        conda:
            "../../envs/analysis.yaml"
        params:
            settings=declare(),
            code=code("collect_data_randomisation.py"),
        script:
            "../scripts/collect_data_randomisation.py"

    rule plot_data_randomisation:
        input:
            maps="results/datarand/{case}_maps.nc",
            table="results/tables/attribution_datarand.csv",
        output:
            report(
                "results/figures/attribution_datarand_{case}.png",
                caption="../report/attribution_datarand_figure.rst",
                category="Validation",
            ),
        log:
            "logs/plot_data_randomisation/{case}.log",
        conda:
            "../../envs/plot.yaml"
        params:
            settings=declare(),
            code=code("plot_data_randomisation.py"),
        script:
            "../scripts/plot_data_randomisation.py"
