rule collect_headline:
    input:
        headline_parts,
    output:
        report(
            "results/tables/headline.csv",
            caption="../report/headline.rst",
            category="Headline",
        ),
        provenance="results/provenance.json",
    log:
        "logs/collect_headline/collect_headline.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/collect_headline.py"
