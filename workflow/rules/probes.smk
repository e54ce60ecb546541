# Linear probes (src/aurora_xai/probes): physical quantities of each date, computed from
# the model's inputs over probes.region, predicted from the pooled latents of every tap
# (latents.tap and latents.taps), from the pooled raw inputs, and from the latents of a
# randomly initialised model of the same architecture, all on the same blocked folds.
from aurora_xai.model import random_control

# The probed taps: the analysis tap first, then the further taps.
PROBE_TAPS = list(dict.fromkeys([config["latents"]["tap"], *config["latents"]["taps"]]))
# Fails early (naming probes.random_seed) when the control would be the model itself.
random_control(SETTINGS.model, SETTINGS.probes.random_seed)


# Pooled latents of every probed tap (latents.smk's files) and of the random model.
PROBE_LATENTS = [pooled_path(tap, config["latents"]["tap"]) for tap in PROBE_TAPS]
RANDOM_LATENTS = [f"results/probes/random/pooled_{tap}.nc" for tap in PROBE_TAPS]
RANDOM_SHARDS = expand("results/probes/random/shards/{shard}.nc", shard=sorted(SHARDS))


rule probe_targets:
    input:
        store=store_input,
    output:
        targets="results/probes/targets.nc",
        inputs="results/probes/inputs_pooled.nc",
    log:
        "logs/probe_targets/probe_targets.log",
    benchmark:
        "benchmarks/probe_targets/probe_targets.tsv"
    conda:
        "../../envs/model.yaml"
    params:
        times=lambda wc: [str(t) for t in DATES.times()],
        settings=declare(
            "data",
            "dates.history_hours",
            ProbeTargetSettings,
            "regions",
            "seed",
            "synthetic",
            "storms",
            dag=("dates",),
        ),
        code=code("probe_targets.py"),
    script:
        "../scripts/probe_targets.py"


# The random-model control: extract_latents' script and library with the model of
# aurora_xai.model.random_control (params.control), sharded as extract_latents.
rule extract_random_latents:
    input:
        store=store_input,
    output:
        "results/probes/random/shards/{shard}.nc",
        # the random model's token sample: the SAE's random-model control
        **feature_token_output("random"),
    log:
        "logs/extract_random_latents/{shard}.log",
    benchmark:
        "benchmarks/extract_random_latents/{shard}.tsv"
    conda:
        "../../envs/model.yaml"
    threads: model_threads(tiny=2)
    resources:
        **model_resources(peak_gb=8.1, minutes_per_unit=3, units=shard_dates),
        model_device=MODEL_DEVICE,
        latents_batch_size=LATENTS_BATCH_SIZE,
    params:
        times=lambda wc: [str(t) for t in SHARDS[wc.shard]],
        control="random",
        settings=declare(
            "data",
            "dates.history_hours",
            "model",
            "latents",
            "regions",
            "features.taps",
            TokenSampleSettings,
            ProbeControlSettings,
            # features.enabled adds or removes the token output (a missing output reruns)
            dag=("dates", "features.enabled"),
        ),
        code=code("extract_latents.py"),
    script:
        "../scripts/extract_latents.py"


rule aggregate_random_latents:
    input:
        RANDOM_SHARDS,
    output:
        pooled=RANDOM_LATENTS[0],
        taps=RANDOM_LATENTS[1:],
    log:
        "logs/aggregate_random_latents/aggregate_random_latents.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        expected=lambda wc: [str(t) for t in DATES.times()],
        settings=declare("latents", dag=("dates",)),
        code=code("aggregate_latents.py"),
    script:
        "../scripts/aggregate_latents.py"


rule fit_probes:
    input:
        targets="results/probes/targets.nc",
        inputs="results/probes/inputs_pooled.nc",
        latents=PROBE_LATENTS,
        random=RANDOM_LATENTS,
    output:
        table=report(
            "results/tables/probes.csv",
            caption="../report/probes_table.rst",
            category="Probes",
        ),
        headline="results/tables/headline/probes.csv",
    log:
        "logs/fit_probes/fit_probes.log",
    benchmark:
        "benchmarks/fit_probes/fit_probes.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=declare("probes", "latents", "seed"),
        code=code("fit_probes.py"),
    script:
        "../scripts/fit_probes.py"


rule plot_probes:
    input:
        "results/tables/probes.csv",
    output:
        report(
            "results/figures/probes.png",
            caption="../report/probes.rst",
            category="Probes",
        ),
    log:
        "logs/plot_probes/plot_probes.log",
    conda:
        "../../envs/plot.yaml"
    params:
        settings=declare("probes"),
        code=code("plot_probes.py"),
    script:
        "../scripts/plot_probes.py"
