"""Regime analysis of pooled latents: PCA, seasonal diagnostics, bootstrap, separability."""
