# Interventions along latent directions (issue 13, part 5): push a region's tokens along
# PC1 and the storm axis (and random directions of equal norm) at a tap, decode the
# forecast, and report its response per unit push. Include after common.smk.
#
#   results/interventions/interventions.nc        every response, slope and direction
#   results/tables/interventions.csv              slopes with intervals over dates
#   results/tables/headline/interventions.csv     headline rows
#   results/figures/intervention_{direction}.png  response against alpha

# Execution setting (how the job runs, never what it computes): a resource.
INTERVENTION_BATCH_SIZE = config["interventions"]["batch_size"]
INTERVENTION_DIRECTIONS = list(config["interventions"]["directions"])
# Directions need the true token geometry (per latent level): none with the published one.
INTERVENTIONS = not config["latents"]["published_geometry"]


def intervention_headline_parts(wildcards=None):
    return ["results/tables/headline/interventions.csv"] if INTERVENTIONS else []


def intervention_pooled(wildcards=None):
    """The pooled latents of the intervention tap (interventions.tap, or latents.tap)."""
    tap = config["interventions"]["tap"] or config["latents"]["tap"]
    if tap == config["latents"]["tap"]:
        return "results/latents/pooled.nc"
    if tap not in (config["latents"]["taps"] or []):
        raise ValueError(
            f"interventions.tap: {tap!r} is neither latents.tap nor among latents.taps; "
            "extract its pooled latents first"
        )
    return f"results/latents/pooled_{tap}.nc"


def intervention_targets(wildcards=None):
    if not INTERVENTIONS:
        return []
    return [
        "results/tables/interventions.csv",
        *expand(
            "results/figures/intervention_{direction}.png",
            direction=INTERVENTION_DIRECTIONS,
        ),
    ]


rule run_interventions:
    input:
        pooled=intervention_pooled,
        labels="results/labels/storm_days.tsv",
        store=store_input,
    output:
        dataset="results/interventions/interventions.nc",
        table=report(
            "results/tables/interventions.csv",
            caption="../report/interventions_table.rst",
            category="Interventions",
        ),
        headline="results/tables/headline/interventions.csv",
    log:
        "logs/run_interventions/run_interventions.log",
    benchmark:
        "benchmarks/run_interventions/run_interventions.tsv"
    conda:
        "../../envs/model.yaml"
    threads: 2
    resources:
        mem_mb=3000,
        runtime=60,
        model_device=MODEL_DEVICE,
        intervention_batch_size=INTERVENTION_BATCH_SIZE,
    params:
        settings=declare(
            "interventions",
            "latents.tap",
            "pca",
            "regions",
            "model",
            "data",
            "dates.history_hours",
            "seed",
        ),
        code=code("run_interventions.py"),
    script:
        "../scripts/run_interventions.py"


rule plot_interventions:
    input:
        "results/interventions/interventions.nc",
    output:
        report(
            "results/figures/intervention_{direction}.png",
            caption="../report/interventions.rst",
            category="Interventions",
        ),
    log:
        "logs/plot_interventions/{direction}.log",
    wildcard_constraints:
        direction="[A-Za-z0-9_]+",
    conda:
        "../../envs/plot.yaml"
    params:
        code=code("plot_interventions.py"),
    script:
        "../scripts/plot_interventions.py"
