# Perturbation test of attribution faithfulness (issue 6): mask the top-relevance cells
# of a sector versus random scattered cells and random contiguous blobs of the same
# size; MSE of the forecast over the evaluation region. Include after common.smk.
#
# Outputs per case (config perturbation.cases):
#   results/perturbation/{case}.csv            per method, random kind, p, reference
#   results/perturbation/{case}_aopc.csv       AOPC per method and random kind
#   results/perturbation/{case}_draws.nc       every MSE, relevance maps, top masks
#   results/tables/headline/perturbation_{case}.csv   headline rows
#   results/figures/perturbation_{case}.png    degradation curves
#
# Its input functions live in common.smk.


rule run_perturbation:
    input:
        unpack(perturbation_inputs),
    output:
        table=report(
            "results/perturbation/{case}.csv",
            caption="../report/perturbation_table.rst",
            category="Perturbation",
        ),
        aopc="results/perturbation/{case}_aopc.csv",
        draws="results/perturbation/{case}_draws.nc",
        headline="results/tables/headline/perturbation_{case}.csv",
    log:
        "logs/run_perturbation/{case}.log",
    wildcard_constraints:
        case="[A-Za-z0-9_]+",
    conda:
        "../../envs/model.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        headline_case=_PERT_HEADLINE_CASE,
    script:
        "../scripts/run_perturbation.py"


rule plot_perturbation:
    input:
        table="results/perturbation/{case}.csv",
    output:
        report(
            "results/figures/perturbation_{case}.png",
            caption="../report/perturbation.rst",
            category="Perturbation",
        ),
    log:
        "logs/plot_perturbation/{case}.log",
    wildcard_constraints:
        case="[A-Za-z0-9_]+",
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/plot_perturbation.py"
