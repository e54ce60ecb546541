rule make_synthetic_era5:
    output:
        directory(config["data"]["path"]) if SYNTHETIC else [],
    log:
        "logs/make_synthetic_era5/make_synthetic_era5.log",
    benchmark:
        "benchmarks/make_synthetic_era5/make_synthetic_era5.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        settings=declare(
            "seed", "synthetic", "storms", dag=("data.path", "data.source")
        ),
        code=code("make_synthetic_era5.py"),
    script:
        "../scripts/make_synthetic_era5.py"


# With download.enabled the workflow first copies what the rules reading the store need
# (aurora_xai.data.needs: whole samples at the dates' and cases' times, the 10 m wind at
# the label hour) into data.path, a local WeatherBench 2-schema zarr (set data.source:
# weatherbench2). Its output is the manifest beside the store, not the store: a changed
# request adds what is missing and never deletes the copy. It needs the network, so it
# runs where Snakemake runs (a login node under Slurm), not as a job.
if DOWNLOAD:

    localrules:
        download_era5,

    rule download_era5:
        output:
            DOWNLOAD_MANIFEST,
        log:
            "logs/download_era5/download_era5.log",
        conda:
            "../../envs/data.yaml"
        resources:
            cds_dir=DOWNLOAD_CDS_DIR,
        params:
            # the rerun triggers: times per field, levels, source, URL (data.path: the output)
            request=DOWNLOAD_REQUEST,
            store=config["data"]["path"],
            settings=declare(
                dag=(
                    "download",
                    "data.levels",
                    "data.static_path",
                    "data.on_missing",
                    "data.imprecise_times",
                    "dates",
                    "attribution.cases",
                    "attribution.composites",
                    "storms",
                    "perturbation.cases",
                    "labels",
                )
            ),
            code=code("download_era5.py"),
        script:
            "../scripts/download_era5.py"
