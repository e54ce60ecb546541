# The layer sweep: the regime statistics at every tap extracted from the same forward
# passes (latents.tap and latents.taps), against depth.


rule layer_sweep:
    input:
        unpack(sweep_probes),
        pooled="results/latents/pooled.nc",
        taps=LATENTS_EXTRA_POOLED,
        labels="results/labels/storm_days.tsv",
    output:
        table=report(
            "results/tables/layer_sweep.csv",
            caption="../report/layer_sweep_table.rst",
            category="Layers",
        ),
        headline="results/tables/headline/layer_sweep.csv",
    log:
        "logs/layer_sweep/layer_sweep.log",
    benchmark:
        "benchmarks/layer_sweep/layer_sweep.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=declare(
            "latents",
            PCAFeatures,
            SweepResampling,
            "seed",
        ),
        code=code("layer_sweep.py"),
    script:
        "../scripts/layer_sweep.py"


rule plot_layer_sweep:
    input:
        "results/tables/layer_sweep.csv",
    output:
        report(
            "results/figures/layer_sweep.png",
            caption="../report/layer_sweep.rst",
            category="Layers",
        ),
    log:
        "logs/plot_layer_sweep/plot_layer_sweep.log",
    conda:
        "../../envs/plot.yaml"
    params:
        code=code("plot_layer_sweep.py"),
    script:
        "../scripts/plot_layer_sweep.py"
