"""Write a deterministic table of pseudo-latents and record where the job ran."""

import os
import random

snakemake = globals()["snakemake"]

rng = random.Random(int(snakemake.wildcards.seed))
with open(snakemake.output[0], "w") as out:
    out.write("i,value\n")
    for i in range(snakemake.params.n):
        out.write(f"{i},{rng.gauss(0.0, 1.0):.12f}\n")

with open(snakemake.log[0], "w") as log:
    for key in ("SLURM_JOB_ID", "SLURM_JOB_PARTITION", "CUDA_VISIBLE_DEVICES"):
        log.write(f"{key}={os.environ.get(key, '')}\n")
