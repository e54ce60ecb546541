# The feature atlas: per feature, its top dates, maps per latent level, seasonal profile,
# correlations with the storm labels and the probe quantities, and the match of planted
# structure to features.
# (AtlasSettings is imported in common.smk, with the other views the rules declare.)

# The analysed SAE is the first seed's; the random model's SAE (the control) has that seed.
ATLAS_SEED = config["features"]["sae"]["seeds"][0]
ATLAS_TAPS = list(SETTINGS.features.taps)
# The headline's tap: the analysis tap when it has SAEs, else the first feature tap.
ATLAS_HEADLINE_TAP = (
    config["latents"]["tap"]
    if config["latents"]["tap"] in ATLAS_TAPS
    else ATLAS_TAPS[0]
)


# Token stores of every shard of one model (trained or random).
atlas_tokens = lambda model: expand(
    "results/features/tokens/{model}/{shard}", model=model, shard=sorted(SHARDS)
)
# What `all` and the headline ask of this file (lambdas: the linter wants no functions
# beside rules).
atlas_targets = lambda: [
    "results/tables/feature_atlas.csv",
    "results/tables/sae_planted_match.csv",
    "results/figures/sae_planted_match.png",
    *expand("results/figures/feature_atlas_{tap}.png", tap=ATLAS_TAPS),
]
atlas_headline_parts = lambda: ["results/tables/headline/features_atlas.csv"]


rule feature_atlas:
    input:
        sae=f"results/features/sae/trained/{{tap}}/seed{ATLAS_SEED}.pt",
        random_sae=f"results/features/sae/random/{{tap}}/seed{ATLAS_SEED}.pt",
        tokens=atlas_tokens("trained"),
        random_tokens=atlas_tokens("random"),
        labels="results/labels/storm_days.tsv",
        targets="results/probes/targets.nc",
        store=store_input,
    output:
        "results/features/atlas/{tap}.nc",
    log:
        "logs/feature_atlas/{tap}.log",
    benchmark:
        "benchmarks/feature_atlas/{tap}.tsv"
    wildcard_constraints:
        tap="[A-Za-z0-9_.]+",
    conda:
        "../../envs/model.yaml"
    params:
        settings=declare(
            AtlasSettings,
            "features.evaluation.holdout_every",
            "features.evaluation.n_boot",
            "data",
            "dates.history_hours",
            "regions",
            "synthetic",
            "seed",
            "storms",
            dag=("features.sae.seeds", "features.taps", "latents.tap", "latents.taps"),
        ),
        code=code("feature_atlas.py"),
    script:
        "../scripts/feature_atlas.py"


rule collect_feature_atlas:
    input:
        atlases=expand("results/features/atlas/{tap}.nc", tap=ATLAS_TAPS),
    output:
        table=report(
            "results/tables/feature_atlas.csv",
            caption="../report/feature_atlas_table.rst",
            category="Features",
        ),
        planted=report(
            "results/tables/sae_planted_match.csv",
            caption="../report/sae_planted_match_table.rst",
            category="Features",
        ),
        headline="results/tables/headline/features_atlas.csv",
    log:
        "logs/collect_feature_atlas/collect_feature_atlas.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        taps=ATLAS_TAPS,
        headline_tap=ATLAS_HEADLINE_TAP,
        settings=declare(
            AtlasSettings, dag=("features.taps", "latents.tap", "latents.taps")
        ),
        code=code("collect_feature_atlas.py"),
    script:
        "../scripts/collect_feature_atlas.py"


rule plot_feature_atlas:
    input:
        "results/features/atlas/{tap}.nc",
    output:
        report(
            "results/figures/feature_atlas_{tap}.png",
            caption="../report/feature_atlas.rst",
            category="Features",
            subcategory="{tap}",
        ),
    log:
        "logs/plot_feature_atlas/{tap}.log",
    wildcard_constraints:
        tap="[A-Za-z0-9_.]+",
    conda:
        "../../envs/plot.yaml"
    params:
        settings=declare(AtlasSettings),
        code=code("plot_feature_atlas.py"),
    script:
        "../scripts/plot_feature_atlas.py"


rule plot_sae_planted_match:
    input:
        "results/tables/sae_planted_match.csv",
    output:
        report(
            "results/figures/sae_planted_match.png",
            caption="../report/sae_planted_match.rst",
            category="Features",
        ),
    log:
        "logs/plot_sae_planted_match/plot_sae_planted_match.log",
    conda:
        "../../envs/plot.yaml"
    params:
        code=code("plot_sae_planted_match.py"),
    script:
        "../scripts/plot_sae_planted_match.py"
