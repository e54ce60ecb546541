rule extract_latents:
    input:
        store=store_input,
    output:
        "results/latents/shards/{shard}.nc",
    log:
        "logs/extract_latents/{shard}.log",
    benchmark:
        "benchmarks/extract_latents/{shard}.tsv"
    conda:
        "../../envs/model.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        model_device=MODEL_DEVICE,
    params:
        times=lambda wc: [str(t) for t in SHARDS[wc.shard]],
        settings=declare(
            "data",
            "dates.history_hours",
            "model",
            "latents",
            "regions",
            dag=("dates",),
        ),
        code=code("extract_latents.py"),
    script:
        "../scripts/extract_latents.py"


rule aggregate_latents:
    input:
        shard_files,
    output:
        "results/latents/pooled.nc",
    log:
        "logs/aggregate_latents/aggregate_latents.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        expected=lambda wc: [str(t) for t in DATES.times()],
        settings=declare(dag=("dates",)),
        code=code("aggregate_latents.py"),
    script:
        "../scripts/aggregate_latents.py"
