# Sparse-autoencoder features: the token samples (written by extract_latents and
# extract_random_latents), SAE training per tap and seed, and their evaluation.


rule train_sae:
    input:
        stores=lambda wildcards: token_stores(wildcards.model),
    output:
        "results/features/sae/{model}/{tap}/seed{seed}.pt",
    log:
        "logs/train_sae/{model}/{tap}/seed{seed}.log",
    benchmark:
        "benchmarks/train_sae/{model}/{tap}/seed{seed}.tsv"
    wildcard_constraints:
        model="trained|random",
        tap="[A-Za-z0-9_.]+",
        seed="[0-9]+",
    conda:
        "../../envs/model.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        sae_device=MODEL_DEVICE,
    params:
        # the resumable training state: not an output, so an interrupted run keeps it
        state="results/features/sae/resume/{model}/{tap}/seed{seed}.pt",
        # every SAE setting but the seeds (the seed is the job's wildcard)
        settings=declare(
            "features.sae.expansion",
            "features.sae.k",
            "features.sae.k_aux",
            "features.sae.aux_coef",
            "features.sae.dead_tokens",
            "features.sae.epochs",
            "features.sae.batch_size",
            "features.sae.learning_rate",
            "features.evaluation.holdout_every",
            dag=("features.sae.seeds", "features.taps", "dates"),
        ),
        code=code("train_sae.py"),
    script:
        "../scripts/train_sae.py"


rule evaluate_sae:
    input:
        trained=sae_files("trained"),
        random=sae_files("random"),
        stores=token_stores("trained"),
        random_stores=token_stores("random"),
        targets="results/probes/targets.nc",
    output:
        table=report(
            "results/tables/sae_evaluation.csv",
            caption="../report/sae_evaluation_table.rst",
            category="Features",
        ),
        headline="results/tables/headline/features.csv",
    log:
        "logs/evaluate_sae/evaluate_sae.log",
    benchmark:
        "benchmarks/evaluate_sae/evaluate_sae.tsv"
    conda:
        "../../envs/model.yaml"
    threads: 1
    resources:
        mem_mb=4000,
    params:
        taps=FEATURE_TAPS,
        settings=declare(
            "features.sae.seeds",
            FeatureEvaluationSettings,
            "probes.region",
            "probes.quantities",
            "probes.folds",
            "probes.inner_folds",
            "probes.gap_days",
            "probes.alphas",
            "regions",
            "seed",
            dag=("features.taps", "dates"),
        ),
        code=code("evaluate_sae.py"),
    script:
        "../scripts/evaluate_sae.py"


rule plot_sae_evaluation:
    input:
        "results/tables/sae_evaluation.csv",
    output:
        report(
            "results/figures/sae_evaluation.png",
            caption="../report/sae_evaluation.rst",
            category="Features",
        ),
    log:
        "logs/plot_sae_evaluation/plot_sae_evaluation.log",
    conda:
        "../../envs/plot.yaml"
    params:
        settings=declare(),
        code=code("plot_sae_evaluation.py"),
    script:
        "../scripts/plot_sae_evaluation.py"
