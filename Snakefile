# aurora-xai: what the Aurora weather foundation model encodes.
#
#   snakemake --cores 2                                   # the embedded default
#   snakemake --profile slurm --configfile config/study.yaml
#   snakemake results/figures/pca_seasons.png             # one figure
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/latents.smk"
include: "workflow/rules/regimes.smk"
include: "workflow/rules/probes.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/storms.smk"
include: "workflow/rules/attribution.smk"
include: "workflow/rules/perturbation.smk"
include: "workflow/rules/interventions.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
