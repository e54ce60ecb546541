# Execution setting (how the extraction runs, never what it computes): a resource.
LATENTS_BATCH_SIZE = int(config["latents"]["batch_size"])
# Further taps pooled from the same forward passes, one joined file each.
LATENTS_EXTRA_TAPS = [
    t for t in config["latents"]["taps"] if t != config["latents"]["tap"]
]
LATENTS_EXTRA_POOLED = [
    pooled_path(t, config["latents"]["tap"]) for t in LATENTS_EXTRA_TAPS
]


rule extract_latents:
    input:
        store=store_input,
        checkpoint=model_checkpoint,
    output:
        "results/latents/shards/{shard}.nc",
        # the unpooled token sample of every feature tap, from the same forward passes
        **feature_token_output("trained"),
    log:
        "logs/extract_latents/{shard}.log",
    benchmark:
        "benchmarks/extract_latents/{shard}.tsv"
    conda:
        "../../envs/model.yaml"
    threads: model_threads(tiny=2)
    resources:
        **model_resources(peak_gb=8.1, minutes_per_unit=3, units=shard_dates),
        model_device=MODEL_DEVICE,
        latents_batch_size=LATENTS_BATCH_SIZE,
    params:
        times=lambda wc: [str(t) for t in SHARDS[wc.shard]],
        settings=declare(
            "data",
            "dates.history_hours",
            "model",
            "latents",
            "regions",
            "features.taps",
            TokenSampleSettings,
            # features.enabled adds or removes the token output (a missing output reruns)
            dag=("dates", "features.enabled"),
        ),
        code=code("extract_latents.py"),
    script:
        "../scripts/extract_latents.py"


rule aggregate_latents:
    input:
        shard_files,
    output:
        pooled="results/latents/pooled.nc",
        taps=LATENTS_EXTRA_POOLED,
    log:
        "logs/aggregate_latents/aggregate_latents.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        expected=lambda wc: [str(t) for t in DATES.times()],
        settings=declare("latents", dag=("dates",)),
        code=code("aggregate_latents.py"),
    script:
        "../scripts/aggregate_latents.py"
