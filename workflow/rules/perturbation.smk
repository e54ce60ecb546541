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
# Add perturbation_headline_parts() to headline_parts() and perturbation_targets() to
# all_targets() in common.smk.

from aurora_xai.perturbation import check_perturbation_config

check_perturbation_config(config)

_PERT = config.get("perturbation") or {}
PERTURBATION_CASES = sorted((_PERT.get("cases") or {}).keys())
_PERT_HEADLINE_CASE = _PERT.get("headline_case") or (
    PERTURBATION_CASES[0] if PERTURBATION_CASES else ""
)


def perturbation_headline_parts(wildcards=None):
    return expand(
        "results/tables/headline/perturbation_{case}.csv", case=PERTURBATION_CASES
    )


def perturbation_targets(wildcards=None):
    return expand(
        ["results/perturbation/{case}.csv", "results/figures/perturbation_{case}.png"],
        case=PERTURBATION_CASES,
    )


def perturbation_inputs(wildcards):
    out = {"store": store_input(wildcards)}
    if _PERT.get("lrp_source", "compute") == "rule" and "lrp" in _PERT.get(
        "methods", ["lrp"]
    ):
        out["lrp"] = f"results/relevance/{wildcards.case}.nc"
    return out


rule run_perturbation:
    input:
        unpack(perturbation_inputs),
    output:
        table="results/perturbation/{case}.csv",
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
        "results/figures/perturbation_{case}.png",
    log:
        "logs/plot_perturbation/{case}.log",
    wildcard_constraints:
        case="[A-Za-z0-9_]+",
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/plot_perturbation.py"
