"""Fail unless the job was granted `params.needed_mb` of memory (a retry test)."""

import os

snakemake = globals()["snakemake"]

granted = snakemake.resources.mem_mb
with open(snakemake.log[0], "w") as log:
    log.write(f"SLURM_JOB_ID={os.environ.get('SLURM_JOB_ID', '')} mem_mb={granted}\n")
if granted < snakemake.params.needed_mb:
    raise SystemExit(f"granted {granted} MB, need {snakemake.params.needed_mb} MB")
with open(snakemake.output[0], "w") as out:
    out.write(f"granted at least {snakemake.params.needed_mb} MB\n")
