# Layer-wise relevance propagation for the named storm cases (config attribution.cases).


rule compute_relevance:
    input:
        store=store_input,
        checkpoint=model_checkpoint,
    output:
        "results/relevance/{case}.nc",
    log:
        "logs/compute_relevance/{case}.log",
    benchmark:
        "benchmarks/compute_relevance/{case}.tsv"
    conda:
        "../../envs/model.yaml"
    threads: model_threads(tiny=2)
    resources:
        **model_resources(peak_gb=12.3, minutes_per_unit=15),
        model_device=MODEL_DEVICE,
        lrp_checkpointing=LRP_CHECKPOINTING,
    params:
        settings=declare(
            AttributionSettings,
            "model",
            "data",
            "dates.history_hours",
            "regions",
            "storms.{case}",
            dag=("attribution.cases",),
        ),
        code=code("compute_relevance.py"),
    script:
        "../scripts/compute_relevance.py"


rule summarise_relevance:
    input:
        "results/relevance/{case}.nc",
    output:
        table=report(
            "results/tables/relevance_{case}.csv",
            caption="../report/relevance_table.rst",
            category="Attribution",
            subcategory="{case}",
        ),
        profile="results/relevance/{case}_profile.csv",
        centroids="results/relevance/{case}_centroids.csv",
        headline="results/tables/headline/lrp_{case}.csv",
    log:
        "logs/summarise_relevance/{case}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=declare("storms.{case}"),
        code=code("summarise_relevance.py"),
    script:
        "../scripts/summarise_relevance.py"


rule plot_relevance_maps:
    input:
        "results/relevance/{case}.nc",
    output:
        report(
            "results/figures/relevance_maps_{case}.png",
            caption="../report/relevance_maps.rst",
            category="Attribution",
            subcategory="{case}",
        ),
    log:
        "logs/plot_relevance_maps/{case}.log",
    conda:
        "../../envs/plot.yaml"
    params:
        settings=declare(MapSettings, "storms.{case}"),
        code=code("plot_relevance_maps.py"),
    script:
        "../scripts/plot_relevance_maps.py"


rule plot_relevance_profile:
    input:
        profile="results/relevance/{case}_profile.csv",
        centroids="results/relevance/{case}_centroids.csv",
    output:
        profile=report(
            "results/figures/relevance_profile_{case}.png",
            caption="../report/relevance_profile.rst",
            category="Attribution",
            subcategory="{case}",
        ),
        tilt=report(
            "results/figures/relevance_tilt_{case}.png",
            caption="../report/relevance_tilt.rst",
            category="Attribution",
            subcategory="{case}",
        ),
    log:
        "logs/plot_relevance_profile/{case}.log",
    conda:
        "../../envs/plot.yaml"
    params:
        code=code("plot_relevance_profile.py"),
    script:
        "../scripts/plot_relevance_profile.py"


# Relevance of every labelled storm and calm day, and their composites
# (config attribution.composites; src/aurora_xai/attribution/composites.py).
# A case named "days" or "composites" would share these rules' file names: theirs win.
ruleorder: compute_relevance_days > compute_relevance
ruleorder: summarise_composites > summarise_relevance


rule compute_relevance_days:
    input:
        store=store_input,
        checkpoint=model_checkpoint,
        labels="results/labels/storm_days.tsv",
    output:
        "results/relevance/days.nc",
    log:
        "logs/compute_relevance_days/compute_relevance_days.log",
    benchmark:
        "benchmarks/compute_relevance_days/compute_relevance_days.tsv"
    conda:
        "../../envs/model.yaml"
    # (one thread for the tiny model: see model_threads in common.smk)
    threads: model_threads(tiny=1)
    resources:
        **model_resources(peak_gb=13.7, minutes_per_unit=13, units=labelled_days),
        model_device=MODEL_DEVICE,
        lrp_checkpointing=LRP_CHECKPOINTING,
    params:
        settings=declare(
            "attribution.method",
            "attribution.attention_rule",
            "attribution.epsilon",
            "attribution.target",
            "attribution.target_variable",
            "attribution.target_level",
            "attribution.latent_layer",
            "attribution.dtype",
            "model",
            "data",
            "dates.target_hour",
            "dates.history_hours",
            "labels",
            "regions",
        ),
        code=code("compute_relevance_days.py"),
    script:
        "../scripts/compute_relevance_days.py"


rule summarise_composites:
    input:
        "results/relevance/days.nc",
    output:
        table=report(
            "results/tables/relevance_composites.csv",
            caption="../report/relevance_composites_table.rst",
            category="Attribution",
            subcategory="composites",
        ),
        days="results/relevance/days_quantities.csv",
        headline="results/tables/headline/lrp_composites.csv",
    log:
        "logs/summarise_composites/summarise_composites.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=declare(CompositeSettings, "seed"),
        code=code("summarise_composites.py"),
    script:
        "../scripts/summarise_composites.py"


rule plot_relevance_composites:
    input:
        "results/tables/relevance_composites.csv",
    output:
        report(
            "results/figures/relevance_composites.png",
            caption="../report/relevance_composites.rst",
            category="Attribution",
            subcategory="composites",
        ),
    log:
        "logs/plot_relevance_composites/plot_relevance_composites.log",
    conda:
        "../../envs/plot.yaml"
    params:
        code=code("plot_relevance_composites.py"),
    script:
        "../scripts/plot_relevance_composites.py"
