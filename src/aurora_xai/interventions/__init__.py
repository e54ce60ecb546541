"""Interventions along latent directions: push a region's tokens, read the forecast's response."""
