# Storm/calm labels.


rule label_storm_days:
    input:
        store=store_input,
    output:
        table="results/labels/storm_days.tsv",
        summary="results/labels/storm_days.json",
        daily="results/labels/daily_max_wind.tsv",
    log:
        "logs/label_storm_days/label_storm_days.log",
    benchmark:
        "benchmarks/label_storm_days/label_storm_days.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        settings=declare("data", "labels", "regions"),
        code=code("label_storm_days.py"),
    script:
        "../scripts/label_storm_days.py"
