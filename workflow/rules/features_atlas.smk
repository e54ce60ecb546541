# The feature atlas: per feature, its top dates, maps per latent level, seasonal profile,
# correlations with the storm labels and the probe quantities, and the match of planted
# structure to features.


def atlas_targets():
    return []


def atlas_headline_parts():
    return []
