"""ERA5 data: the synthetic embedded default and readers of real stores, as Aurora batches."""
