# Input functions, the date table and the settings each rule declares. Every rule file
# includes nothing itself; the Snakefile includes this first.
import math
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

from snakemake.utils import validate

from aurora_xai.config import check_config
from aurora_xai.data.needs import download_request
from aurora_xai.latents.io import pooled_path
from aurora_xai.model import SURROGATE_CHECKPOINT, TINY_NAMES
from aurora_xai.perturbation.settings import PerturbationWiring
from aurora_xai.provenance import code_hash
from aurora_xai.attribution.cases import AttributionSettings, MapSettings
from aurora_xai.attribution.composites import CompositeSettings
from aurora_xai.probes.settings import ProbeControlSettings, ProbeTargetSettings
from aurora_xai.regimes.settings import (
    BootstrapSettings,
    PCAFeatures,
    PermutationSettings,
    PooledFeatures,
    SeparabilitySettings,
    SweepResampling,
)
from aurora_xai.surrogate.settings import SurrogateScoring, SurrogateSettings
from aurora_xai.attribution.validation_settings import (
    DataRandomisationSettings,
    ShuffledTraining,
    ValidationSettings,
)
from aurora_xai.settings import Settings, select, validate_config, view_keys
from aurora_xai.features.settings import (
    AtlasSettings,
    FeatureEvaluationSettings,
    SAESettings,
    SteeringSettings,
    TokenSampleSettings,
)

# Before anything reads the config: number text in number fields (YAML 1.1 reads 1e-6 as
# text) becomes a number (a warning says so), defaults are filled, and every error is
# reported at once; then Snakemake's own validation against the same schema.
_SCHEMA = str(Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
validate_config(config, _SCHEMA)
validate(config, _SCHEMA)
SETTINGS = Settings(config)
# Aurora's normalisation statistics cover data.levels; dates.history_hours is the
# model's step (or allowed to differ: CONFIG_CHECK.warnings, recorded in provenance).
CONFIG_CHECK = check_config(SETTINGS)

DATES = SETTINGS.dates
SHARDS = DATES.shards()
SYNTHETIC = config["data"]["source"] == "synthetic"
DOWNLOAD = bool(config["download"]["enabled"])


def declare(*keys, dag=()):
    """The settings a rule's script reads: exactly the config ``keys`` (dotted; a per-use
    view type, e.g. BootstrapSettings, stands for the keys of its fields).

    Passed as the rule's ``params.settings``, so that changing any of them reruns the
    rule (Snakemake's params trigger) and nothing else does. ``{case}`` in a key is
    filled from the job's wildcards. ``dag`` lists, for the record, keys that shape the
    rule's jobs (which exist, which dates each covers, a value derived for each job
    such as a perturbation case's headline suffix) instead of reaching the script;
    tests/test_rerun_triggers.py reads both lists from the rule files. Execution keys
    (model.device, attribution.checkpointing, perturbation.batch_size) are never
    declared: they reach the scripts as resources.
    """
    keys = view_keys(*keys)
    if any("{" in k for k in keys):
        return lambda wildcards: select(
            config, [k.format(**dict(wildcards.items())) for k in keys]
        )
    return select(config, keys)


def declare_all():
    """Every setting (execution keys excepted), as the run resolves it (an empty
    perturbation.headline_case is the first case): for the run's provenance record."""
    out = select(config, sorted(config))
    out["perturbation"] = {
        **out["perturbation"],
        "headline_case": PERTURBATION_HEADLINE_CASE,
    }
    return out


def code(script):
    """Hash of a script and the library modules it imports (a params rerun trigger)."""
    return code_hash(Path(workflow.basedir) / "workflow" / "scripts" / script)


# Execution settings: how a job runs, never what it computes (not rerun triggers).
MODEL_DEVICE = config["model"]["device"]
# a level, "true" or "false"
LRP_CHECKPOINTING = str(config["attribution"]["checkpointing"]).lower()
PERTURBATION_BATCH_SIZE = config["perturbation"]["batch_size"]  # an integer or "auto"


# --- resources of the model rules ---
# Every rule whose script builds the model takes its threads and its per-job memory and
# wall time from here; profiles/slurm sends the same rules to the GPU partition
# (tests/test_slurm.py finds these rules in the code and checks both).
#
# Memory and wall time of a real architecture are the 0.25 deg rehearsal's (README, "True
# resolution (0.25 deg) on a CPU": the small architecture, 2 CPU threads, no GPU): the
# first attempt asks for the measured peak with about 25 % to spare, and each retry adds as
# much again; wall time is the measured time per unit of work (an extracted date, an LRP
# pass, a forecast) times the job's units, plus 10 minutes, and as a CPU's pace it is an
# upper bound on a GPU's, so it stops at MODEL_MAX_MINUTES (a common partition limit; the
# study's interventions would otherwise ask for a week). The tiny model takes far less
# of both at any grid.
MODEL_MAX_MINUTES = 24 * 60
TINY_MODEL = (
    config["model"]["name"] in TINY_NAMES
)  # the tiny architecture: tiny, surrogate
# CPU threads of a model job: torch's threads on a CPU node, data reading beside a GPU.
# The tiny model gains nothing from more (the labelled days' LRP ran its passes ~15x
# slower with two threads than with one on a busy 2-core machine). Snakemake lowers
# threads to --cores on one machine; under Slurm they are the job's --cpus-per-task.
MODEL_THREADS = 4


def model_threads(tiny):
    return tiny if TINY_MODEL else MODEL_THREADS


def model_resources(peak_gb, minutes_per_unit, units=lambda wildcards, input: 1):
    """``mem_mb`` and ``runtime`` callables of a model rule, unpacked into its resources.

    ``peak_gb``: the rehearsal's peak memory of one job; ``minutes_per_unit``: its wall
    time per unit of work; ``units(wildcards, input)``: the job's units of work.
    """
    if TINY_MODEL:
        return dict(
            mem_mb=lambda wildcards, attempt: 8000 * attempt,
            runtime=lambda wildcards, attempt: 120 * attempt,
        )
    first_mb = 1000 * math.ceil(1.25 * peak_gb)
    return dict(
        mem_mb=lambda wildcards, attempt: first_mb * attempt,
        runtime=lambda wildcards, input, attempt: min(
            MODEL_MAX_MINUTES,
            attempt * math.ceil(10 + minutes_per_unit * units(wildcards, input)),
        ),
    )


def shard_dates(wildcards, input):
    """Dates of an extraction job (its shard)."""
    return len(SHARDS[wildcards.shard])


def labelled_days(wildcards, input):
    """LRP passes of the labelled days: the labels' rows once they exist, else the most
    the labels allow (labels.n_days storm and as many calm days)."""
    table = Path(input.labels)
    if table.is_file():
        return max(1, sum(1 for line in table.open() if line.strip()) - 1)
    return 2 * int(config["labels"]["n_days"])


def perturbation_passes(wildcards, input):
    """Masked forecasts of a perturbation case, plus its own attribution passes counted
    as forecasts (an LRP or gradient pass takes about four forecasts' time)."""
    p = config["perturbation"]
    methods = set(p["methods"])
    masks = len(p["fractions"]) * (len(methods) + p["n_draws"] * len(p["random_kinds"]))
    own = ("lrp" in methods and p["lrp_source"] != "rule") + (
        "input_x_gradient" in methods
    )
    own += int(p["ig_steps"]) if "integrated_gradients" in methods else 0
    return masks + 4 * own


def intervention_passes(wildcards, input):
    """Forecast passes of the interventions: per pushed date the tapped and the unpushed
    pass and one per push (alphas x directions x the direction and its random controls).
    """
    i = config["interventions"]
    pushes = len(i["alphas"]) * len(i["directions"]) * (1 + int(i["n_random"]))
    return 2 * int(i["dates_per_class"]) * (2 + pushes)


# With download.enabled: what decides the copy (its rerun triggers: times per field,
# variables, levels, source, URL), derived from the settings the reading rules use
# (aurora_xai.data.needs.STORE_READERS), and the manifest beside the store, the rule's
# output: Snakemake never removes the store itself, the download only adds to it.
DOWNLOAD_REQUEST = (
    download_request(SETTINGS.store_reads, SETTINGS.data, SETTINGS.download)
    if DOWNLOAD
    else {}
)
DOWNLOAD_MANIFEST = str(Path(config["data"]["path"])) + ".manifest.json"
DOWNLOAD_CDS_DIR = config["download"]["cds_dir"]  # where, not what: a resource
if (
    DOWNLOAD
    and os.path.exists(DOWNLOAD_MANIFEST)
    and not os.path.exists(config["data"]["path"])
):
    raise ValueError(
        f"data.path {config['data']['path']} is gone but its manifest {DOWNLOAD_MANIFEST} "
        "remains: delete the manifest to fetch the store again"
    )


# --- the surrogate (workflow/rules/surrogate.smk) ---
# model.name surrogate with an empty model.checkpoint: train_surrogate writes the weights
# every model rule loads (SETTINGS.model names that file); a checkpoint file given in
# model.checkpoint is used as it is. Either way the file is an input of the model rules.
SURROGATE = config["model"]["name"] == "surrogate"
SURROGATE_TRAINED = SURROGATE and bool(
    SETTINGS.model.checkpoint == SURROGATE_CHECKPOINT
)
SURROGATE_STATE = "results/surrogate/resume/state.pt"


def model_checkpoint(wildcards=None):
    """The surrogate's checkpoint file, an input of every rule that builds the model
    (none for other models)."""
    return (
        [SETTINGS.model.checkpoint] if SURROGATE and SETTINGS.model.checkpoint else []
    )


def surrogate_targets(wildcards=None):
    if not SURROGATE_TRAINED:
        return []
    return ["results/tables/surrogate_skill.csv", "results/figures/surrogate_skill.png"]


def store_input(wildcards=None):
    """The store as a workflow input when the workflow writes it: the synthetic store, or
    the manifest the download writes beside data.path."""
    if DOWNLOAD:
        return DOWNLOAD_MANIFEST
    return config["data"]["path"] if SYNTHETIC else []


def shard_files(wildcards=None):
    return expand("results/latents/shards/{shard}.nc", shard=sorted(SHARDS))


def headline_parts(wildcards=None):
    """Per-analysis rows of results/tables/headline.csv."""
    return [
        "results/tables/headline/pca.csv",
        "results/tables/headline/bootstrap.csv",
        "results/tables/headline/storm_calm.csv",
        "results/tables/headline/probes.csv",
        "results/tables/headline/layer_sweep.csv",  # sweep.smk
        *expand("results/tables/headline/lrp_{case}.csv", case=CASES),
        *(["results/tables/headline/lrp_composites.csv"] if COMPOSITES else []),
        *perturbation_headline_parts(),
        *intervention_headline_parts(),  # interventions.smk
        *(["results/tables/headline/surrogate.csv"] if SURROGATE_TRAINED else []),
        *(["results/tables/headline/validation.csv"] if VALIDATION else []),
        *(["results/tables/headline/datarand.csv"] if DATA_RANDOMISATION else []),
        *(feature_headline_parts() if FEATURES else []),  # features*.smk, steering.smk
    ]


CASES = list(config["attribution"]["cases"])
# Sparse-autoencoder features of the tokens (features.smk, features_atlas.smk, steering.smk).
FEATURES = bool(config["features"]["enabled"])
FEATURE_TAPS = list(SETTINGS.features.taps)


def feature_token_output(model):
    """The token stores of one extraction's shard (model: trained | random) when the
    features are on, as a named output (``tokens``): one ``<tap>.zarr`` per feature tap.
    """
    if not FEATURES:
        return {}
    return {"tokens": directory(f"results/features/tokens/{model}/{{shard}}")}


# Seeds of the trained model's SAEs (the first is analysed, the second measures stability
# across seeds); the random model's control gets the first seed only.
SAE_SEEDS = [int(s) for s in config["features"]["sae"]["seeds"]]
SAE_MODEL_SEEDS = {"trained": SAE_SEEDS, "random": SAE_SEEDS[:1]}


def token_stores(model):
    """The token stores of every shard of one model (trained | random)."""
    return [f"results/features/tokens/{model}/{shard}" for shard in sorted(SHARDS)]


def sae_files(model, seeds=None):
    return [
        f"results/features/sae/{model}/{tap}/seed{seed}.pt"
        for tap in FEATURE_TAPS
        for seed in (SAE_MODEL_SEEDS[model] if seeds is None else seeds)
    ]


def sae_targets():
    """Outputs of the SAE training and evaluation."""
    return [
        "results/tables/sae_evaluation.csv",
        "results/figures/sae_evaluation.png",
    ]


def sae_headline_parts():
    return ["results/tables/headline/features.csv"]


def feature_targets():
    """Every output of the feature rules (features.smk, features_atlas.smk, steering.smk)."""
    return [*sae_targets(), *atlas_targets(), *steering_targets()]


def feature_headline_parts():
    return [
        *sae_headline_parts(),
        *atlas_headline_parts(),
        *steering_headline_parts(),
    ]


# LRP of every labelled storm and calm day, and their composites (attribution.smk).
COMPOSITES = bool(config["attribution"]["composites"])


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


# --- attribution checks (workflow/rules/validation.smk) ---
VALIDATION_CASES = list(config["validation"]["cases"] or CASES)
VALIDATION = bool(config["validation"]["enabled"]) and bool(VALIDATION_CASES)
# The data-randomisation control: a second surrogate trained on time-shuffled targets,
# only where the workflow trains the surrogate (never for Aurora's checkpoints).
DATA_RANDOMISATION = (
    VALIDATION
    and SURROGATE_TRAINED
    and bool(config["validation"]["data_randomisation"])
)
SHUFFLED_CHECKPOINT = "results/surrogate/shuffled/surrogate.pt"
SHUFFLED_STATE = "results/surrogate/shuffled/resume/state.pt"


def validation_targets(wildcards=None):
    if not VALIDATION:
        return []
    return [
        "results/tables/attribution_truth.csv",
        "results/tables/attribution_searchlight.csv",
        "results/tables/attribution_cascade.csv",
        *expand("results/figures/attribution_truth_{case}.png", case=VALIDATION_CASES),
        *expand(
            "results/figures/attribution_cascade_{case}.png", case=VALIDATION_CASES
        ),
        *(
            [
                "results/tables/attribution_datarand.csv",
                *expand(
                    "results/figures/attribution_datarand_{case}.png",
                    case=VALIDATION_CASES,
                ),
            ]
            if DATA_RANDOMISATION
            else []
        ),
    ]


# --- perturbation (workflow/rules/perturbation.smk) ---
_PERT = config["perturbation"]
PERTURBATION_CASES = sorted(_PERT["cases"])
# The case whose headline rows get the plain names: perturbation.headline_case, or the
# first case when it is empty (so leaving it empty or naming that case are the same).
PERTURBATION_HEADLINE_CASE = SETTINGS.view(PerturbationWiring).headline(
    PERTURBATION_CASES
)


def perturbation_suffix(case):
    """Suffix of a perturbation case's headline metrics: none for the headline case."""
    return "" if case == PERTURBATION_HEADLINE_CASE else f"_{case}"


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
    out = {"store": store_input(wildcards), "checkpoint": model_checkpoint(wildcards)}
    if _PERT["lrp_source"] == "rule" and "lrp" in _PERT["methods"]:
        out["lrp"] = f"results/relevance/{wildcards.case}.nc"
    return out


# --- interventions (workflow/rules/interventions.smk) ---
# Execution setting (how the job runs, never what it computes): a resource.
INTERVENTION_BATCH_SIZE = config["interventions"]["batch_size"]
INTERVENTION_DIRECTIONS = list(config["interventions"]["directions"])
# Directions need the true token geometry (per latent level): none with the published one.
INTERVENTIONS = not config["latents"]["published_geometry"]


def intervention_headline_parts(wildcards=None):
    return ["results/tables/headline/interventions.csv"] if INTERVENTIONS else []


def intervention_pooled(wildcards=None):
    """The pooled latents of the intervention tap (interventions.tap, or latents.tap)."""
    tap = config["interventions"]["tap"] or config["latents"]["tap"]
    if tap not in [config["latents"]["tap"], *(config["latents"]["taps"] or [])]:
        raise ValueError(
            f"interventions.tap: {tap!r} is neither latents.tap nor among latents.taps; "
            "extract its pooled latents first"
        )
    return pooled_path(tap, config["latents"]["tap"])


def sweep_probes(wildcards=None):
    """The probe table, for the planted terms of F in the layer sweep."""
    planted = [q for q in config["probes"]["quantities"] if q.startswith("planted_")]
    return {"probes": "results/tables/probes.csv"} if planted else {}


def intervention_probe_targets(wildcards=None):
    """The probe targets, for the directions along F's planted terms."""
    planted = [
        d for d in config["interventions"]["directions"] if d.startswith("planted_")
    ]
    return {"targets": "results/probes/targets.nc"} if planted else {}


def intervention_targets(wildcards=None):
    if not INTERVENTIONS:
        return []
    return [
        "results/tables/interventions.csv",
        *expand(
            "results/figures/intervention_{direction}.png",
            direction=INTERVENTION_DIRECTIONS,
        ),
    ]


def all_targets():
    return [
        "results/tables/headline.csv",
        "results/report/front.rst",  # the report's front page (workflow/report/workflow.rst)
        "results/tables/pca_explained_variance.csv",
        "results/figures/pca_seasons.png",
        "results/figures/pca_scree.png",
        "results/figures/pc1_annual_cycle.png",
        "results/figures/pca_bootstrap.png",
        "results/figures/storm_calm.png",
        "results/figures/probes.png",
        "results/tables/layer_sweep.csv",  # sweep.smk
        "results/figures/layer_sweep.png",
        *attribution_targets(),
        *(["results/figures/relevance_composites.png"] if COMPOSITES else []),
        *perturbation_targets(),
        *intervention_targets(),  # interventions.smk
        *surrogate_targets(),  # surrogate.smk
        *validation_targets(),  # validation.smk
        *(feature_targets() if FEATURES else []),  # features*.smk, steering.smk
    ]
