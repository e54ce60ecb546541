"""Summarise the pseudo-latent tables: one row per input with count, mean and sum."""

import os

import numpy as np

snakemake = globals()["snakemake"]

with open(snakemake.output[0], "w") as out:
    out.write("name,n,mean,sum\n")
    for path in snakemake.input:
        values = np.loadtxt(path, delimiter=",", skiprows=1, usecols=1)
        name = os.path.basename(path).removesuffix(".csv")
        out.write(f"{name},{values.size},{values.mean():.12f},{values.sum():.12f}\n")

with open(snakemake.log[0], "w") as log:
    log.write(f"SLURM_JOB_ID={os.environ.get('SLURM_JOB_ID', '')}\n")
