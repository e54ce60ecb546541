# Input functions, targets and headline parts of the steering rules (steering.smk, which
# includes this file first).

STEERING_TAP = SETTINGS.steering.tap
# Steering needs the true token geometry (per latent level), as the interventions.
STEERING = INTERVENTIONS and bool(config["features"]["steering"]["enabled"])


def steering_tap_checked():
    if STEERING_TAP not in SETTINGS.features.taps:
        raise ValueError(
            f"features.steering.tap: {STEERING_TAP!r} is not a feature tap "
            f"({list(SETTINGS.features.taps)}); add it to features.taps"
        )
    return STEERING_TAP


def steering_inputs(wildcards=None):
    """The steered tap's SAE (first seed), its token stores, the pooled latents of the tap
    (PC1 and the storm axis) and the model (the store is the rule's own input)."""
    tap = steering_tap_checked()
    seed = config["features"]["sae"]["seeds"][0]
    return {
        "sae": f"results/features/sae/trained/{tap}/seed{seed}.pt",
        "tokens": expand(
            "results/features/tokens/trained/{shard}", shard=sorted(SHARDS)
        ),
        "pooled": pooled_path(tap, config["latents"]["tap"]),
        "labels": "results/labels/storm_days.tsv",
        "checkpoint": model_checkpoint(wildcards),
    }


def steering_passes(wildcards, input):
    """Forecast passes of the steering: per date the control, the reconstruction only and
    one per push (alphas x (features + 2 axes) x (the direction and its random draws)).
    """
    s = config["features"]["steering"]
    pushes = len(s["alphas"]) * (int(s["features"]) + 2) * (1 + int(s["n_random"]))
    return 2 * int(s["dates_per_class"]) * (2 + pushes)


def steering_targets():
    if not STEERING:
        return []
    return [
        "results/tables/steering.csv",
        "results/figures/steering.png",
        "results/figures/steering_maps.png",
    ]


def steering_headline_parts():
    return ["results/tables/headline/steering.csv"] if STEERING else []
