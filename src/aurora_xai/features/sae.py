"""A TopK sparse autoencoder of latent tokens, its training and its metrics (needs torch).

The architecture and training follow Gao et al. 2024, "Scaling and evaluating sparse
autoencoders" (arXiv 2406.04093), sections 2.2-2.4 and appendix A:

* encoder ``z = TopK(W_enc (x - b_pre) + b_enc)``: the ``k`` largest pre-activations
  of each token are kept (and clipped at 0), the others set to 0, so at most ``k``
  latents are active;
* decoder ``x_hat = W_dec z + b_pre``, with the pre-encoder bias ``b_pre`` subtracted
  before the encoder and added back after the decoder; ``b_pre`` starts at the mean of
  the first batch, ``W_dec`` at the transpose of ``W_enc`` (columns normalised);
* the columns of ``W_dec`` have unit norm: the gradient's component along each column
  is removed before every step and the columns are normalised after it;
* loss: the normalised reconstruction error ``||x - x_hat||^2 / ||x - mean(x)||^2`` of
  the batch plus ``aux_coef`` times the AuxK loss: the latents that have not fired on
  any of the last ``dead_tokens`` tokens are *dead*; the ``k_aux`` largest of their
  pre-activations reconstruct the residual ``e = x - x_hat`` (detached) through
  ``W_dec`` without bias, and ``||e - e_hat||^2`` over the same total variance, scaled
  by ``min(n_dead / k_aux, 1)``, is added. Its gradient reaches the selected dead
  latents' encoder rows, biases and decoder columns (and ``b_pre``), and pulls them
  towards directions that explain what the live ones miss;
* only the selected latents (``k`` and ``k_aux`` a token) carry a gradient, so the
  encoder's backward pass is a sparse product (``_TopKEncoder``), equal to the dense
  one up to the order of float sums;
* Adam with ``eps = 6.25e-10`` (the paper's); the default learning rate ``2e-4 /
  sqrt(n_latents / 2**14)`` (the paper's fit of the learning rate falling as
  ``1 / sqrt(n_latents)``, in the form eai-sparsify's trainer uses).

Training (:func:`train_sae`) reads batches from a callable ``batches(epoch)`` (e.g.
:class:`aurora_xai.features.tokens.TokenStream` or :func:`array_batches`), is
deterministic for a seed on the CPU (the initial weights come from the seed, the order
from the batch source's own seed), and resumable: with ``state_path`` it writes the
whole state (weights, optimiser, the position in the epoch, the dead-latent counters,
the loss history) atomically every ``checkpoint_every`` steps and at the end, and a
run started on an existing state goes on from it and ends with the weights an
uninterrupted run ends with.

Metrics (:func:`evaluate_sae`): the fraction of variance unexplained over a whole set
of tokens, the dead latents (never firing on it) and the dense ones (firing on more
than ``dense_threshold``, 10 %, of its tokens).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "SAEConfig",
    "SAEMetrics",
    "SAETraining",
    "TopKSAE",
    "array_batches",
    "best_match_cosine",
    "evaluate_sae",
    "load_sae",
    "planted_tokens",
    "save_sae",
    "train_sae",
]

#: A batch source: ``batches(epoch)`` yields ``(b, d)`` token arrays or tensors.
BatchSource = Callable[[int], Iterable[Any]]


@dataclasses.dataclass(frozen=True)
class SAEConfig:
    """Settings of one TopK SAE and its training.

    Attributes:
        expansion: Latents per input channel (``n_latents = expansion * d``).
        k: Active latents per token.
        k_aux: Dead latents in the AuxK loss; None: ``d // 2``.
        aux_coef: Weight of the AuxK loss (Gao et al.: 1/32); 0 switches it off.
        dead_tokens: A latent is dead when it has not fired on any of this many of the
            latest training tokens.
        lr: Adam's learning rate; None: ``2e-4 / sqrt(n_latents / 2**14)``.
        epochs: Passes over the batch source.
        seed: Seed of the initial weights.

    Raises:
        ValueError: for non-positive sizes, a negative ``aux_coef`` or learning rate.
    """

    expansion: int = 8
    k: int = 32
    k_aux: int | None = None
    aux_coef: float = 1 / 32
    dead_tokens: int = 10_000_000
    lr: float | None = None
    epochs: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("expansion", "k", "dead_tokens", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.k_aux is not None and self.k_aux < 1:
            raise ValueError(f"k_aux must be >= 1 or None, got {self.k_aux}")
        if self.aux_coef < 0 or (self.lr is not None and self.lr <= 0):
            raise ValueError(f"aux_coef must be >= 0 and lr > 0, got {self.aux_coef}, {self.lr}")

    def n_latents(self, d_in: int) -> int:
        """Latents for ``d_in`` channels."""
        return self.expansion * d_in

    def learning_rate(self, d_in: int) -> float:
        """The learning rate used for ``d_in`` channels."""
        return self.lr if self.lr is not None else 2e-4 / math.sqrt(self.n_latents(d_in) / 2**14)


class _TopKEncoder(torch.autograd.Function):
    """The encoder's linear map and top-k selections with a sparse backward pass.

    Forward: ``pre = x W^T + b`` ``(b, n)``, its ``k`` largest entries a row and (with a
    dead mask) the ``k_aux`` largest among the dead latents, both clipped at 0. Only the
    selected entries carry a gradient, so the backward pass touches ``k + k_aux``
    entries a row (``O(b (k + k_aux) d)``, a sparse product) where the dense one costs
    ``O(b n d)``; the result is the dense one's (up to the order of float sums).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, k, dead, k_aux):  # type: ignore[override]
        pre = nn.functional.linear(x, weight, bias)
        values, indices = pre.topk(k, dim=-1, sorted=False)
        if dead is not None and k_aux > 0:
            aux_values, aux_indices = pre.masked_fill(~dead, -torch.inf).topk(k_aux, dim=-1, sorted=False)
        else:
            aux_values, aux_indices = pre.new_zeros(len(x), 0), indices.new_zeros(len(x), 0)
        values, aux_values = values.clamp_min(0), aux_values.clamp_min(0)
        selected = torch.cat([indices, aux_indices], dim=1)
        ctx.save_for_backward(x, weight, selected, torch.cat([values > 0, aux_values > 0], dim=1))
        ctx.mark_non_differentiable(indices, aux_indices)
        return values, indices, aux_values, aux_indices

    @staticmethod
    def backward(ctx, g_values, _g_indices, g_aux, _g_aux_indices):  # type: ignore[override]
        x, weight, selected, positive = ctx.saved_tensors
        g = torch.cat([g_values, g_aux], dim=1) * positive  # (b, k + k_aux), 0 where clipped
        grad_x = nn.functional.embedding_bag(selected, weight, mode="sum", per_sample_weights=g)
        rows = torch.arange(len(x), device=x.device).repeat_interleave(selected.shape[1])
        sparse = torch.sparse_coo_tensor(
            torch.stack([selected.reshape(-1), rows]), g.reshape(-1), (weight.shape[0], len(x)), check_invariants=False
        )
        grad_w = torch.sparse.mm(sparse, x)
        grad_b = torch.zeros(weight.shape[0], dtype=g.dtype, device=g.device).index_add_(
            0, selected.reshape(-1), g.reshape(-1)
        )
        return grad_x, grad_w, grad_b, None, None, None


class TopKSAE(nn.Module):
    """A TopK sparse autoencoder (see the module docstring).

    Args:
        d_in: Input channels ``d``.
        n_latents: Latents ``n``.
        k: Active latents per token, ``1 <= k <= n``.
        seed: Seed of the initial weights: the encoder as ``torch.nn.Linear``'s default
            (uniform in ``+-1/sqrt(d)``), the decoder its transpose with unit-norm
            columns (as the paper's reference code, openai/sparse_autoencoder).

    Shapes: ``W_enc (n, d)``, ``b_enc (n,)``, ``W_dec (d, n)``, ``b_pre (d,)``; the
    decoder is stored as its transpose, ``decoder (n, d)``, a latent's direction a
    contiguous row (what ``embedding_bag`` reads).

    Raises:
        ValueError: for ``k`` out of range.
    """

    def __init__(self, d_in: int, n_latents: int, k: int, seed: int = 0) -> None:
        super().__init__()
        if not 1 <= k <= n_latents:
            raise ValueError(f"k must be in [1, {n_latents}], got {k}")
        self.d_in, self.n_latents, self.k = d_in, n_latents, k
        g = torch.Generator().manual_seed(seed)
        bound = 1 / math.sqrt(d_in)  # torch.nn.Linear's default: rows of norm about 1/sqrt(3)
        w_enc = (torch.rand(n_latents, d_in, generator=g) * 2 - 1) * bound
        self.W_enc = nn.Parameter(w_enc)
        self.decoder = nn.Parameter(w_enc / w_enc.norm(dim=1, keepdim=True))
        self.b_enc = nn.Parameter(torch.zeros(n_latents))
        self.b_pre = nn.Parameter(torch.zeros(d_in))

    @property
    def W_dec(self) -> torch.Tensor:
        """``(d, n)`` decoder, a view of :attr:`decoder` (one unit-norm column a latent)."""
        return self.decoder.T

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """``(b, d) -> (b, n)``: ``W_enc (x - b_pre) + b_enc``."""
        return nn.functional.linear(x - self.b_pre, self.W_enc, self.b_enc)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The active latents of each token: ``(values, indices)``, each ``(b, k)``
        (values >= 0; a value of 0 is not firing)."""
        values, indices = self.pre_activations(x).topk(self.k, dim=-1, sorted=False)
        return values.relu(), indices

    def dense_code(self, values: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """``(b, n)`` latent code from ``(b, k)`` values and indices."""
        return torch.zeros(values.shape[0], self.n_latents, dtype=values.dtype, device=values.device).scatter(
            -1, indices, values
        )

    def decode_sparse(self, values: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """``(b, d)``: ``W_dec z`` from the ``(b, k)`` active latents (no bias), summed over
        the active columns only (``embedding_bag``: ``O(b k d)``, not ``O(b n d)``)."""
        return nn.functional.embedding_bag(indices, self.decoder, per_sample_weights=values, mode="sum")

    def decode(self, values: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """``(b, d)`` reconstruction ``W_dec z + b_pre``."""
        return self.decode_sparse(values, indices) + self.b_pre

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(b, d) -> (b, d)`` reconstruction."""
        return self.decode(*self.encode(x))

    @torch.no_grad()
    def normalise_decoder(self) -> None:
        """Scale the decoder columns to unit norm."""
        self.decoder /= self.decoder.norm(dim=1, keepdim=True).clamp_min(1e-12)

    @torch.no_grad()
    def project_decoder_grad(self) -> None:
        """Remove the gradient's component along each (unit) decoder column."""
        if self.decoder.grad is not None:
            self.decoder.grad -= (self.decoder.grad * self.decoder).sum(1, keepdim=True) * self.decoder


@dataclasses.dataclass
class SAETraining:
    """The result of :func:`train_sae`.

    Attributes:
        sae: The trained model (on the CPU).
        config: Its settings.
        steps: Optimiser steps taken (over all runs of a resumed training).
        tokens_seen: Training tokens read.
        finished: False when stopped early by ``max_steps`` (the state is saved).
        dead_latents: Latents dead at the end (no firing in the last ``dead_tokens``
            training tokens; 0 when fewer tokens were read).
        history: Per step ``(fvu, aux loss)`` of the training batches.
    """

    sae: TopKSAE
    config: SAEConfig
    steps: int
    tokens_seen: int
    finished: bool
    dead_latents: int
    history: list[tuple[float, float]]


def _as_tensor(batch: Any, device: torch.device) -> torch.Tensor:
    tokens = getattr(batch, "tokens", batch)
    t = tokens if isinstance(tokens, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(tokens))
    return t.to(device=device, dtype=torch.float32)


def _save_atomic(state: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train_sae(
    batches: BatchSource,
    d_in: int,
    config: SAEConfig = SAEConfig(),
    state_path: str | Path | None = None,
    checkpoint_every: int = 100,
    max_steps: int | None = None,
    device: torch.device | str = "cpu",
    initial: TopKSAE | None = None,
) -> SAETraining:
    """Train a TopK SAE on the tokens of ``batches``, or go on with a saved state.

    Args:
        batches: ``batches(epoch)`` yields ``(b, d_in)`` tokens (arrays, tensors, or
            objects with ``.tokens``) in the same order every time for the same epoch.
        d_in: Channels of the tokens.
        config: The SAE's settings.
        state_path: Where the training state is written (atomically: a temporary file
            beside it, then a rename); when it exists, training goes on from it.
        checkpoint_every: Steps between states written (and one at the end).
        max_steps: Stop after this many steps in all (for a bounded run); None: train
            ``config.epochs`` epochs.
        device: Where the SAE trains.
        initial: Start from a copy of these weights instead of the seed's (``b_pre`` is
            still set from the first batch); its sizes must match ``config``.

    Returns:
        The trained SAE and its training record.

    Raises:
        ValueError: if a saved state was written with other settings or channels, or
            a batch has the wrong number of channels.
    """
    device = torch.device(device)
    n = config.n_latents(d_in)
    k_aux = min(config.k_aux if config.k_aux is not None else max(d_in // 2, 1), n)
    sae = TopKSAE(d_in, n, config.k, seed=config.seed)
    if initial is not None:
        sae.load_state_dict(initial.state_dict())
    sae = sae.to(device)
    opt = torch.optim.Adam(sae.parameters(), lr=config.learning_rate(d_in), eps=6.25e-10)
    since_fired = torch.zeros(n, dtype=torch.int64, device=device)
    step = epoch = batch_in_epoch = tokens_seen = 0
    history: list[tuple[float, float]] = []
    path = Path(state_path) if state_path is not None else None
    if path is not None and path.exists():
        state = torch.load(path, map_location=device, weights_only=False)
        if state["config"] != dataclasses.asdict(config) or state["d_in"] != d_in:
            raise ValueError(
                f"the state in {path} was written with other settings: {state['config']}, d_in {state['d_in']}"
            )
        sae.load_state_dict(state["sae"])
        opt.load_state_dict(state["optimizer"])
        since_fired = state["since_fired"].to(device)
        step, epoch, batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        tokens_seen, history = state["tokens_seen"], list(state["history"])

    def save() -> None:
        if path is not None:
            _save_atomic(
                {
                    "config": dataclasses.asdict(config),
                    "d_in": d_in,
                    "sae": sae.state_dict(),
                    "optimizer": opt.state_dict(),
                    "since_fired": since_fired.cpu(),
                    "step": step,
                    "epoch": epoch,
                    "batch_in_epoch": batch_in_epoch,
                    "tokens_seen": tokens_seen,
                    "history": history,
                },
                path,
            )

    stopped = False
    while epoch < config.epochs and not stopped:
        for i, batch in enumerate(batches(epoch)):
            if i < batch_in_epoch:  # already trained on (a resumed run)
                continue
            if max_steps is not None and step >= max_steps:
                stopped = True
                break
            x = _as_tensor(batch, device)
            if x.ndim != 2 or x.shape[1] != d_in:
                raise ValueError(f"a batch of shape {tuple(x.shape)}, expected (b, {d_in})")
            if step == 0:
                with torch.no_grad():
                    sae.b_pre.copy_(x.mean(0))
            fvu, aux, fired = _loss(sae, x, since_fired >= config.dead_tokens, k_aux, config.aux_coef > 0)
            opt.zero_grad(set_to_none=True)
            (fvu + config.aux_coef * aux).backward()
            sae.project_decoder_grad()
            opt.step()
            sae.normalise_decoder()
            since_fired += x.shape[0]
            since_fired[fired] = 0
            step, batch_in_epoch, tokens_seen = step + 1, i + 1, tokens_seen + x.shape[0]
            history.append((float(fvu.detach()), float(aux.detach())))
            if step % checkpoint_every == 0:
                save()
        else:
            epoch, batch_in_epoch = epoch + 1, 0
    save()
    dead = int((since_fired >= config.dead_tokens).sum()) if tokens_seen >= config.dead_tokens else 0
    return SAETraining(sae.cpu().eval(), config, step, tokens_seen, not stopped, dead, history)


def _loss(
    sae: TopKSAE, x: torch.Tensor, dead: torch.Tensor, k_aux: int, use_aux: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(fvu, aux, fired)``: the batch's normalised error, the AuxK loss (0 without dead
    latents) and the ``(n,)`` flags of the latents that fired on the batch."""
    n_dead = int(dead.sum()) if use_aux else 0
    k_dead = min(k_aux, n_dead)
    values, indices, aux_values, aux_indices = _TopKEncoder.apply(
        x - sae.b_pre, sae.W_enc, sae.b_enc, sae.k, dead if k_dead else None, k_dead
    )
    e = x - sae.decode(values, indices)
    total = (x - x.mean(0)).pow(2).sum().clamp_min(1e-12)
    fvu = e.pow(2).sum() / total
    fired = torch.zeros(sae.n_latents, dtype=torch.bool, device=x.device)
    fired[indices[values > 0]] = True
    aux = torch.zeros((), device=x.device)
    if k_dead:
        e_hat = sae.decode_sparse(aux_values, aux_indices)
        aux = min(n_dead / k_aux, 1.0) * (e_hat - e.detach()).pow(2).sum() / total
    return fvu, aux, fired


@dataclasses.dataclass(frozen=True)
class SAEMetrics:
    """Metrics of an SAE on a set of tokens.

    Attributes:
        fvu: Fraction of variance unexplained, ``sum ||x - x_hat||^2 / sum ||x -
            mean(x)||^2`` over all tokens (the mean over all tokens, per channel).
        n_tokens: Tokens evaluated.
        firing_rate: ``(n,)`` fraction of the tokens on which each latent fires.
        dead_fraction: Fraction of latents that never fire.
        dense_fraction: Fraction of latents firing on more than ``dense_threshold``.
        dense_threshold: The threshold (0.1).
    """

    fvu: float
    n_tokens: int
    firing_rate: np.ndarray
    dead_fraction: float
    dense_fraction: float
    dense_threshold: float


@torch.no_grad()
def evaluate_sae(
    sae: TopKSAE, batches: Iterable[Any], dense_threshold: float = 0.1, device: torch.device | str = "cpu"
) -> SAEMetrics:
    """FVU, dead and dense latents of ``sae`` over the tokens of ``batches`` (one pass,
    sums in float64).

    Raises:
        ValueError: for an empty set of tokens.
    """
    device = torch.device(device)
    sae = sae.to(device)
    err = 0.0
    n_tok = 0
    sx = torch.zeros(sae.d_in, dtype=torch.float64, device=device)
    sxx = torch.zeros_like(sx)
    counts = torch.zeros(sae.n_latents, dtype=torch.int64, device=device)
    for batch in batches:
        x = _as_tensor(batch, device)
        values, indices = sae.encode(x)
        err += float((x - sae.decode(values, indices)).double().pow(2).sum())
        sx += x.double().sum(0)
        sxx += x.double().pow(2).sum(0)
        counts += torch.bincount(indices[values > 0], minlength=sae.n_latents)
        n_tok += x.shape[0]
    if not n_tok:
        raise ValueError("no tokens to evaluate")
    total = float((sxx - sx**2 / n_tok).sum())
    rate = (counts.double() / n_tok).cpu().numpy()
    return SAEMetrics(
        fvu=err / max(total, 1e-300),
        n_tokens=n_tok,
        firing_rate=rate,
        dead_fraction=float((rate == 0).mean()),
        dense_fraction=float((rate > dense_threshold).mean()),
        dense_threshold=dense_threshold,
    )


def best_match_cosine(reference: np.ndarray | torch.Tensor, learned: np.ndarray | torch.Tensor) -> np.ndarray:
    """For each reference direction, the largest absolute cosine with a learned one.

    Args:
        reference: ``(d, m)`` directions (columns), e.g. planted atoms or another
            seed's decoder.
        learned: ``(d, n)`` directions (columns), e.g. ``sae.W_dec``.

    Returns:
        ``(m,)`` best-match cosines in [0, 1].
    """
    a = torch.as_tensor(
        np.asarray(reference.detach() if hasattr(reference, "detach") else reference), dtype=torch.float64
    )
    b = torch.as_tensor(np.asarray(learned.detach() if hasattr(learned, "detach") else learned), dtype=torch.float64)
    a = a / a.norm(dim=0, keepdim=True)
    b = b / b.norm(dim=0, keepdim=True)
    return (a.T @ b).abs().max(dim=1).values.numpy()


def save_sae(path: str | Path, sae: TopKSAE, config: SAEConfig, meta: dict[str, Any] | None = None) -> str:
    """Write a trained SAE (weights, settings, ``meta``) atomically; return its id.

    The bytes depend on the weights, settings and ``meta`` only (saved through a buffer:
    ``torch.save`` to a path names the archive after the file), so the same SAE gives the
    same file and id on every run.

    Args:
        path: The file (``.pt``).
        sae: The SAE (any device; saved from the CPU).
        config: Its settings.
        meta: JSON-like facts kept with it (tap, model, training dates, the model's
            checkpoint id, tokens seen, ...).

    Returns:
        ``sha256:<hex>`` of the file's bytes.
    """
    buf = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in sae.state_dict().items()}
    torch.save(
        {
            "config": dataclasses.asdict(config),
            "d_in": sae.d_in,
            "n_latents": sae.n_latents,
            "sae": state,
            "meta": dict(meta or {}),
        },
        buf,
    )
    data = buf.getvalue()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return "sha256:" + hashlib.sha256(data).hexdigest()


def load_sae(path: str | Path) -> tuple[TopKSAE, SAEConfig, dict[str, Any]]:
    """Read an SAE written by :func:`save_sae`: ``(sae, config, meta)`` (on the CPU, eval mode).

    Raises:
        FileNotFoundError: the file does not exist (naming it).
        ValueError: the file is not an SAE written by :func:`save_sae` (naming it).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no SAE at {path}")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or not {"config", "d_in", "n_latents", "sae"} <= set(state):
        raise ValueError(f"{path} is not an SAE written by aurora_xai.features.sae.save_sae")
    config = SAEConfig(**state["config"])
    sae = TopKSAE(int(state["d_in"]), int(state["n_latents"]), config.k)
    sae.load_state_dict(state["sae"])
    return sae.eval(), config, dict(state.get("meta", {}))


def array_batches(x: np.ndarray, batch_size: int, seed: int = 0, shuffle: bool = True) -> BatchSource:
    """A batch source over an in-memory ``(N, d)`` array: a seeded permutation per epoch.

    Raises:
        ValueError: for ``batch_size < 1``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    x = np.asarray(x, dtype=np.float32)

    def batches(epoch: int) -> Iterator[np.ndarray]:
        rng = np.random.default_rng(np.random.SeedSequence([seed % 2**64, epoch]))
        order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
        for s in range(0, len(x), batch_size):
            yield x[order[s : s + batch_size]]

    return batches


def planted_tokens(
    n_tokens: int,
    d: int,
    n_atoms: int,
    k_true: int,
    noise: float = 0.05,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic tokens made of a known sparse dictionary, for known-answer tests.

    Each token is the sum of ``k_true`` distinct unit-norm atoms (drawn uniformly) with
    coefficients uniform in [1, 2], plus Gaussian noise of standard deviation ``noise``
    per channel.

    Returns:
        ``(tokens (n_tokens, d) float32, atoms (d, n_atoms) float64)``.

    Raises:
        ValueError: for ``k_true > n_atoms``.
    """
    if k_true > n_atoms:
        raise ValueError(f"k_true {k_true} > n_atoms {n_atoms}")
    rng = np.random.default_rng(seed)
    atoms = rng.standard_normal((d, n_atoms))
    atoms /= np.linalg.norm(atoms, axis=0, keepdims=True)
    active = np.argsort(rng.random((n_tokens, n_atoms)), axis=1)[:, :k_true]
    coef = np.zeros((n_tokens, n_atoms))
    np.put_along_axis(coef, active, rng.uniform(1.0, 2.0, (n_tokens, k_true)), axis=1)
    x = coef @ atoms.T + noise * rng.standard_normal((n_tokens, d))
    return x.astype(np.float32), atoms
