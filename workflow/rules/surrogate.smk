# The surrogate (model.name surrogate, model.checkpoint empty): Aurora's tiny architecture
# with a residual decoder, trained on data.path outside the study's times
# (surrogate.train_period) and scored on held-out times of the study's dates. Every model
# rule takes its checkpoint as an input (common.smk: model_checkpoint).
if SURROGATE_TRAINED:

    rule train_surrogate:
        input:
            store=store_input,
        output:
            checkpoint=SURROGATE_CHECKPOINT,
            losses="results/surrogate/losses.csv",
        log:
            "logs/train_surrogate/train_surrogate.log",
        benchmark:
            "benchmarks/train_surrogate/train_surrogate.tsv"
        conda:
            "../../envs/model.yaml"
        threads: model_threads(tiny=1)
        resources:
            **model_resources(peak_gb=2.0, minutes_per_unit=0.01),
        params:
            # the resumable training state: not an output, so an interrupted run keeps it
            state=SURROGATE_STATE,
            settings=declare(
                "data",
                "dates.history_hours",
                SurrogateSettings,
            ),
            code=code("train_surrogate.py"),
        script:
            "../scripts/train_surrogate.py"

    rule score_surrogate:
        input:
            store=store_input,
            checkpoint=model_checkpoint,
        output:
            table="results/tables/surrogate_skill.csv",
            headline="results/tables/headline/surrogate.csv",
        log:
            "logs/score_surrogate/score_surrogate.log",
        conda:
            "../../envs/model.yaml"
        threads: model_threads(tiny=1)
        resources:
            **model_resources(peak_gb=2.0, minutes_per_unit=0.05),
            model_device=MODEL_DEVICE,
        params:
            settings=declare(
                "data",
                "dates",
                "model",
                SurrogateScoring,
                "seed",
                "synthetic",
                "storms",
            ),
            code=code("score_surrogate.py"),
        script:
            "../scripts/score_surrogate.py"

    rule plot_surrogate_skill:
        input:
            "results/tables/surrogate_skill.csv",
        output:
            report(
                "results/figures/surrogate_skill.png",
                caption="../report/surrogate_skill.rst",
                category="Validation",
            ),
        log:
            "logs/plot_surrogate_skill/plot_surrogate_skill.log",
        conda:
            "../../envs/plot.yaml"
        params:
            settings=declare(),
            code=code("plot_surrogate_skill.py"),
        script:
            "../scripts/plot_surrogate_skill.py"
