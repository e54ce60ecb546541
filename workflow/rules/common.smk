# Input functions, the date table and shared settings. Every rule file includes
# nothing itself; the Snakefile includes this first.
import os
import sys
from pathlib import Path

# The library lives in src/: make it importable here and in every job's scripts,
# also when a job runs in a conda environment that does not install the project.
_SRC = str(Path(workflow.basedir) / "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)
_paths = [_SRC] + [
    p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != _SRC
]
os.environ.update(PYTHONPATH=os.pathsep.join(_paths))

from aurora_xai.config import check_config
from aurora_xai.dates import DateSpec

check_config(config)

DATES = DateSpec.from_config(config["dates"])
SHARDS = DATES.shards()
SYNTHETIC = config["data"]["source"] == "synthetic"


def store_input(wildcards=None):
    """The store as a workflow input when the workflow writes it (synthetic)."""
    return config["data"]["path"] if SYNTHETIC else []


def shard_files(wildcards=None):
    return expand("results/latents/shards/{shard}.nc", shard=sorted(SHARDS))


def headline_parts(wildcards=None):
    """Per-analysis rows of results/tables/headline.csv."""
    return [
        "results/tables/headline/pca.csv",
        "results/tables/headline/bootstrap.csv",
        "results/tables/headline/storm_calm.csv",
        *expand("results/tables/headline/lrp_{case}.csv", case=CASES),
        *perturbation_headline_parts(),
    ]


CASES = list((config.get("attribution") or {}).get("cases") or [])


def attribution_targets(wildcards=None):
    return expand(
        [
            "results/figures/relevance_maps_{case}.png",
            "results/figures/relevance_profile_{case}.png",
            "results/figures/relevance_tilt_{case}.png",
            "results/tables/relevance_{case}.csv",
        ],
        case=CASES,
    )


# --- perturbation (workflow/rules/perturbation.smk) ---
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


def all_targets():
    return [
        "results/tables/headline.csv",
        "results/tables/pca_explained_variance.csv",
        "results/figures/pca_seasons.png",
        "results/figures/pca_scree.png",
        "results/figures/pc1_annual_cycle.png",
        "results/figures/pca_bootstrap.png",
        "results/figures/storm_calm.png",
        *attribution_targets(),
        *perturbation_targets(),
    ]
