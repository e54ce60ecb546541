rule collect_headline:
    input:
        headline_parts,
    output:
        report(
            "results/tables/headline.csv",
            caption="../report/headline.rst",
            category="Headline",
        ),
        provenance="results/provenance.json",
    log:
        "logs/collect_headline/collect_headline.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=declare_all(),
        # the model's forecast step (hours), against dates.history_hours in provenance.json
        model_step_hours=CONFIG_CHECK.model_step_hours,
        code=code("collect_headline.py"),
    script:
        "../scripts/collect_headline.py"


rule render_report_front:
    input:
        headline="results/tables/headline.csv",
        provenance="results/provenance.json",
        pooled="results/latents/pooled.nc",
    output:
        "results/report/front.rst",
    log:
        "logs/render_report_front/render_report_front.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code("render_report_front.py"),
    script:
        "../scripts/render_report_front.py"
