"""Rule download_era5: fetch exactly the study's times, variables and levels into a local zarr."""

from aurora_xai.data.download import download_from_settings
from aurora_xai.logs import setup_logging
from aurora_xai.settings import Settings

log = setup_logging(snakemake.log[0])  # noqa: F821
path = download_from_settings(Settings(snakemake.params.settings), snakemake.output[0])  # noqa: F821
log.info("done: %s", path)
