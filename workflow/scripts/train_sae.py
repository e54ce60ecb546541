"""Rule train_sae: a TopK SAE on one tap's tokens of the dates not held out (all shards), for one
model (trained | random) and seed; resumable from params.state."""

import time
from pathlib import Path

import numpy as np
import torch
import zarr

from aurora_xai.features.sae import SAEConfig, save_sae, train_sae
from aurora_xai.features.split import holdout_dates
from aurora_xai.features.tokens import TokenStream
from aurora_xai.logs import duration_text, setup_logging

sm = snakemake  # noqa: F821
log = setup_logging(sm.log[0])
torch.set_num_threads(max(1, int(sm.threads)))
sae_sec = sm.params.settings["features"]["sae"]
every = int(sm.params.settings["features"]["evaluation"]["holdout_every"])
tap, model, seed = sm.wildcards.tap, sm.wildcards.model, int(sm.wildcards.seed)
name = sm.resources.sae_device
device = torch.device("cuda" if name == "auto" and torch.cuda.is_available() else ("cpu" if name == "auto" else name))
config = SAEConfig(
    expansion=int(sae_sec["expansion"]),
    k=int(sae_sec["k"]),
    k_aux=None if sae_sec["k_aux"] is None else int(sae_sec["k_aux"]),
    aux_coef=float(sae_sec["aux_coef"]),
    dead_tokens=int(sae_sec["dead_tokens"]),
    lr=None if sae_sec["learning_rate"] is None else float(sae_sec["learning_rate"]),
    epochs=int(sae_sec["epochs"]),
    seed=seed,
)
stores = [Path(s) / f"{tap}.zarr" for s in sm.input.stores]
stream = TokenStream(
    stores, batch_size=int(sae_sec["batch_size"]), seed=seed, keep=lambda dates: ~holdout_dates(dates, every)
)
dates = np.unique(np.concatenate([np.unique(zarr.open_group(str(s), mode="r")["date"][:]) for s in stores]))
dates = dates.astype("datetime64[s]")
train_dates = dates[~holdout_dates(dates, every)]
checkpoint = str(zarr.open_group(str(stores[0]), mode="r").attrs.get("checkpoint", ""))
log.info(
    "%s model, tap %s, seed %d: %d training tokens of %d channels from %d dates (%d held out), %d shards; %s; on %s",
    model,
    tap,
    seed,
    stream.n_tokens,
    stream.n_channels,
    len(train_dates),
    len(dates) - len(train_dates),
    len(stores),
    config,
    device,
)
state = Path(sm.params.state)
state.parent.mkdir(parents=True, exist_ok=True)
per_epoch = -(-stream.n_tokens // stream.batch_size)
start = time.perf_counter()
for epoch in range(config.epochs):  # one call an epoch: a progress line each, resumable in between
    try:
        run = train_sae(stream, stream.n_channels, config, state, max_steps=(epoch + 1) * per_epoch, device=device)
    except ValueError as err:  # a state of other settings (an interrupted run before a change)
        log.warning("%s; training afresh", err)
        state.unlink()
        run = train_sae(stream, stream.n_channels, config, state, max_steps=(epoch + 1) * per_epoch, device=device)
    last = np.mean([h[0] for h in run.history[-per_epoch:]])
    log.info(
        "epoch %d/%d: %d steps, %d tokens, training FVU %.4f (mean of the epoch's batches), %s",
        epoch + 1,
        config.epochs,
        run.steps,
        run.tokens_seen,
        last,
        duration_text(time.perf_counter() - start),
    )
seconds = time.perf_counter() - start
meta = {
    "tap": tap,
    "model": model,
    "seed": seed,
    "train_dates": [str(np.datetime64(t, "s")) for t in train_dates],
    "holdout_every": every,
    "checkpoint_id": checkpoint,
    "tokens_seen": int(run.tokens_seen),
    "steps": int(run.steps),
}
sae_id = save_sae(sm.output[0], run.sae, config, meta)
state.unlink(missing_ok=True)  # finished: a later run (new settings or code) trains afresh
log.info(
    "trained in %s (%.0f tokens/s), %d latents dead at the end; wrote %s (%s)",
    duration_text(seconds),
    run.tokens_seen / max(seconds, 1e-9),
    run.dead_latents,
    sm.output[0],
    sae_id,
)
