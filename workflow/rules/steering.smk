# Steering with four arms (control, reconstruction only, +alpha x a feature's decoder
# direction, random directions of equal norm), sharing their seeds.


def steering_targets():
    return []


def steering_headline_parts():
    return []
