# Sparse-autoencoder features: the token samples (written by extract_latents and
# extract_random_latents), SAE training per tap and seed, and their evaluation.


def sae_targets():
    """Outputs of the SAE training and evaluation."""
    return []


def sae_headline_parts():
    return []


def feature_targets():
    """Every output of the feature rules (features.smk, features_atlas.smk, steering.smk)."""
    return [*sae_targets(), *atlas_targets(), *steering_targets()]


def feature_headline_parts():
    return [*sae_headline_parts(), *atlas_headline_parts(), *steering_headline_parts()]
