"""Rules extract_latents and extract_random_latents: run Aurora on one shard of dates and pool
the latents of every tap (extract_random_latents: the probes' random-model control, the
same architecture with random weights, params.control = "random"). With features.enabled
the same forward passes also write the token sample of every feature tap (output tokens:
one <tap>.zarr each)."""

import contextlib
import functools
from pathlib import Path

import pandas as pd
import torch

from aurora_xai.features.settings import TokenSampleSettings, feature_taps
from aurora_xai.features.tokens import TokenSample, TokenSink
from aurora_xai.latents.extract import extract_taps
from aurora_xai.latents.io import write_shard
from aurora_xai.logs import setup_logging
from aurora_xai.model import build_model, checkpoint_id, random_control, resolve_device
from aurora_xai.probes.settings import ProbeControlSettings
from aurora_xai.provenance import provenance
from aurora_xai.settings import Settings

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
settings = Settings(sm.params.settings)
threads = max(1, int(sm.threads))
torch.set_num_threads(threads)
device = resolve_device(sm.resources.model_device)
spec = settings.model
if getattr(sm.params, "control", "") == "random":
    spec = random_control(spec, settings.view(ProbeControlSettings).random_seed)
latents = settings.latents
source = settings.data.open(settings.history_hours)
model = build_model(spec, device=device)
workers = threads - 1  # reader processes beside the model's
log.info(
    "model %s on %s; taps %s; %d dates, %d per forward pass, %d reader processes",
    checkpoint_id(spec),
    device,
    ", ".join(latents.all_taps),
    len(sm.params.times),
    sm.resources.latents_batch_size,
    workers,
)
prov = provenance(sm.params.settings, checkpoint=checkpoint_id(spec))
sink = None
if "tokens" in sm.output.keys():
    chosen = sm.params.settings["features"]["taps"]  # null: every extracted tap
    taps = feature_taps(None if chosen is None else list(chosen), latents.tap, latents.all_taps)
    sample = settings.view(TokenSampleSettings)
    out = Path(sm.output.tokens)
    out.mkdir(parents=True, exist_ok=True)
    sink = TokenSink(
        {tap: out / f"{tap}.zarr" for tap in taps},
        TokenSample(max_tokens=sample.max_tokens, lat_edges=tuple(sample.lat_edges), seed=sample.seed),
        chunk_tokens=sample.chunk_tokens,
        attrs={"model": "random" if getattr(sm.params, "control", "") == "random" else "trained", **prov},
    )
    log.info("token samples of %s to %s (at most %d tokens a date)", ", ".join(taps), out, sample.max_tokens)
with sink if sink is not None else contextlib.nullcontext():
    pooled = extract_taps(
        source,
        model,
        pd.DatetimeIndex(sm.params.times),
        taps=latents.all_taps,
        regions=settings.regions,
        area_weighted=latents.area_weighted,
        stats=list(latents.stats),
        device=device,
        skip_missing=settings.data.on_missing == "skip",
        published_geometry=latents.published_geometry,
        batch_size=sm.resources.latents_batch_size,
        num_workers=workers,
        reopen=functools.partial(settings.data.open, settings.history_hours),
        token_sink=sink,
    )
if sink is not None:
    for tap, writer in sink.writers.items():
        log.info("%s: %d tokens of %d channels, %d dates", tap, writer.n_tokens, writer.n_channels, len(writer.dates))
for ds in pooled.values():
    ds.attrs.update(prov)
write_shard(pooled, latents.tap, sm.output[0])
log.info("wrote %s", sm.output[0])
