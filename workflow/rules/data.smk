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
