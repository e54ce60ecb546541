"""Linear probes of the pooled latents: targets from the model's inputs, blocked-CV ridge, figures."""
