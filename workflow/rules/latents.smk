rule extract_latents:
    input:
        store=store_input,
    output:
        "results/latents/shards/{shard}.nc",
    params:
        times=lambda wc: [str(t) for t in SHARDS[wc.shard]],
        settings={k: config[k] for k in ("data", "model", "latents", "regions")},
    log:
        "logs/extract_latents/{shard}.log",
    benchmark:
        "benchmarks/extract_latents/{shard}.tsv"
    threads: 2
    resources:
        mem_mb=8000,
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/extract_latents.py"


rule aggregate_latents:
    input:
        shard_files,
    output:
        "results/latents/pooled.nc",
    params:
        expected=lambda wc: [str(t) for t in DATES.times()],
    log:
        "logs/aggregate_latents/aggregate_latents.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/aggregate_latents.py"
