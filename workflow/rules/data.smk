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
        # Changing any of these reruns the rule (Snakemake's params trigger).
        synthetic=config.get("synthetic", {}),
        storms=config.get("storms", {}),
        seed=config["seed"],
    script:
        "../scripts/make_synthetic_era5.py"
