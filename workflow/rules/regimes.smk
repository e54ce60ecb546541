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
    params:
        settings=config["pca"],
    log:
        "logs/fit_pca/fit_pca.log",
    conda:
        "../../envs/analysis.yaml"
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
    script:
        "../scripts/plot_pc1_annual_cycle.py"
