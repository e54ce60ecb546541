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
    params:
        times=lambda wc: [str(t) for t in SHARDS[wc.shard]],
        settings={k: config[k] for k in ("data", "model", "latents", "regions")},
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
    script:
        "../scripts/aggregate_latents.py"
