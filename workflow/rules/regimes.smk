rule fit_pca:
    input:
        "results/latents/pooled.nc",
    output:
        pca="results/pca/pca.nc",
        variance=report(
            "results/tables/pca_explained_variance.csv",
            caption="../report/pca_explained_variance.rst",
            category="Regimes",
        ),
        headline="results/tables/headline/pca.csv",
    log:
        "logs/fit_pca/fit_pca.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=declare("pca", PermutationSettings, "seed"),
        code=code("fit_pca.py"),
    script:
        "../scripts/fit_pca.py"


rule plot_pca_seasons:
    input:
        "results/pca/pca.nc",
    output:
        report(
            "results/figures/pca_seasons.png",
            caption="../report/pca_seasons.rst",
            category="Regimes",
        ),
    log:
        "logs/plot_pca_seasons/plot_pca_seasons.log",
    conda:
        "../../envs/plot.yaml"
    params:
        code=code("plot_pca_seasons.py"),
    script:
        "../scripts/plot_pca_seasons.py"


rule plot_pca_scree:
    input:
        "results/pca/pca.nc",
    output:
        report(
            "results/figures/pca_scree.png",
            caption="../report/pca_scree.rst",
            category="Regimes",
        ),
    log:
        "logs/plot_pca_scree/plot_pca_scree.log",
    conda:
        "../../envs/plot.yaml"
    params:
        code=code("plot_pca_scree.py"),
    script:
        "../scripts/plot_pca_scree.py"


rule plot_pc1_annual_cycle:
    input:
        "results/pca/pca.nc",
    output:
        report(
            "results/figures/pc1_annual_cycle.png",
            caption="../report/pc1_annual_cycle.rst",
            category="Regimes",
        ),
    log:
        "logs/plot_pc1_annual_cycle/plot_pc1_annual_cycle.log",
    conda:
        "../../envs/plot.yaml"
    params:
        code=code("plot_pc1_annual_cycle.py"),
    script:
        "../scripts/plot_pc1_annual_cycle.py"


rule bootstrap_pca:
    input:
        "results/latents/pooled.nc",
    output:
        boot="results/pca/bootstrap.nc",
        headline="results/tables/headline/bootstrap.csv",
    log:
        "logs/bootstrap_pca/bootstrap_pca.log",
    benchmark:
        "benchmarks/bootstrap_pca/bootstrap_pca.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=declare(PCAFeatures, BootstrapSettings, "seed"),
        code=code("bootstrap_pca.py"),
    script:
        "../scripts/bootstrap_pca.py"


rule plot_pca_bootstrap:
    input:
        "results/pca/bootstrap.nc",
    output:
        report(
            "results/figures/pca_bootstrap.png",
            caption="../report/pca_bootstrap.rst",
            category="Regimes",
        ),
    log:
        "logs/plot_pca_bootstrap/plot_pca_bootstrap.log",
    conda:
        "../../envs/plot.yaml"
    params:
        code=code("plot_pca_bootstrap.py"),
    script:
        "../scripts/plot_pca_bootstrap.py"


rule score_storm_calm:
    input:
        pooled="results/latents/pooled.nc",
        labels="results/labels/storm_days.tsv",
    output:
        report_json="results/regimes/storm_calm.json",
        projection="results/regimes/storm_calm.nc",
        headline="results/tables/headline/storm_calm.csv",
    log:
        "logs/score_storm_calm/score_storm_calm.log",
    benchmark:
        "benchmarks/score_storm_calm/score_storm_calm.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=declare(PooledFeatures, SeparabilitySettings, "seed"),
        code=code("score_storm_calm.py"),
    script:
        "../scripts/score_storm_calm.py"


rule plot_storm_calm:
    input:
        "results/regimes/storm_calm.nc",
    output:
        report(
            "results/figures/storm_calm.png",
            caption="../report/storm_calm.rst",
            category="Regimes",
        ),
    log:
        "logs/plot_storm_calm/plot_storm_calm.log",
    conda:
        "../../envs/plot.yaml"
    params:
        code=code("plot_storm_calm.py"),
    script:
        "../scripts/plot_storm_calm.py"
