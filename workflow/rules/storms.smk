# Storm/calm labels and the optional download of the study's ERA5 subset.


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


# With download.enabled the workflow first copies the study's subset (targets and
# history steps, 9 variables, the configured levels, static fields) into data.path, a
# local WeatherBench 2-schema zarr (set data.source: weatherbench2). It needs the
# network, so it runs where Snakemake runs (a login node under Slurm), not as a job.
if DOWNLOAD:

    localrules:
        download_era5,

    rule download_era5:
        output:
            directory(config["data"]["path"]),
        log:
            "logs/download_era5/download_era5.log",
        conda:
            "../../envs/data.yaml"
        params:
            settings=declare(
                "download",
                "dates",
                "attribution.cases",
                "storms",
                "perturbation.cases",
                "regions",
                "data.levels",
                "data.static_path",
                "data.on_missing",
                dag=("data.path",),
            ),
            code=code("download_era5.py"),
        script:
            "../scripts/download_era5.py"
