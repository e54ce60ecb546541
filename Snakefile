# aurora-xai: what the Aurora weather foundation model encodes.
#
#   snakemake --cores 2                                   # the embedded default
#   snakemake --profile slurm --configfile config/study.yaml
#   snakemake results/figures/pca_seasons.png             # one figure
#   snakemake -s <checkout>/Snakefile --cores 2            # from any folder
import os

from snakemake.utils import min_version

min_version("9.0")


# The default config: a config/config.yaml in the working directory (Snakemake's
# convention), else the embedded default beside this Snakefile, so the workflow runs
# from any folder. Outputs (results/, logs/, data paths) stay relative to the working
# directory; --configfile files are merged on top.
DEFAULT_CONFIG = (
    "config/config.yaml"
    if os.path.exists("config/config.yaml")
    else os.path.join(workflow.basedir, "config", "config.yaml")
)


configfile: DEFAULT_CONFIG


# The library on the path, the config validated (all errors at once) and checked.
include: "workflow/rules/common.smk"


report: "workflow/report/workflow.rst"


# Wildcards of every rule: case and direction names (config keys), never paths.
wildcard_constraints:
    case="[A-Za-z0-9_]+",
    direction="[A-Za-z0-9_]+",


include: "workflow/rules/data.smk"
include: "workflow/rules/surrogate.smk"
include: "workflow/rules/latents.smk"
include: "workflow/rules/regimes.smk"
include: "workflow/rules/probes.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/storms.smk"
include: "workflow/rules/attribution.smk"
include: "workflow/rules/validation.smk"
include: "workflow/rules/perturbation.smk"
include: "workflow/rules/interventions.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/features_atlas.smk"
include: "workflow/rules/steering.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
