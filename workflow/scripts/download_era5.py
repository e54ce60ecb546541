"""Rule download_era5: add what the store's readers need to the local zarr in data.path, and its manifest."""

from aurora_xai.data.download import download_from_request
from aurora_xai.logs import setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
path = download_from_request(sm.params.request, sm.params.store, manifest=sm.output[0], cds_dir=sm.resources.cds_dir)
log.info("done: %s (manifest %s)", path, sm.output[0])
