"""Normalised model inputs as leaf tensors, packing to a flat vector, and target evaluation.

Relevance is attributed to the **normalised** inputs ``x_n = (x - location) / scale``
(Aurora's own statistics, per variable and pressure level): ``R = x_n * dy/dx_n``. The
model normalises internally, so we make ``x_n`` the leaves and hand the model
``x_n * scale + location``; its normalisation returns ``x_n`` (to rounding). Relevance
of raw inputs times raw values would differ: ``x * dy/dx = (x_n + location/scale) *
dy/dx_n`` charges the climatological mean ``location`` to every cell.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from aurora_xai.latents.geometry import cropped_grid

__all__ = [
    "NormalisedInputs",
    "check_batch",
    "cropped_rows",
    "evaluate_target",
    "history_offsets",
    "normalised_inputs",
    "target_context",
    "target_output",
]


@dataclasses.dataclass
class NormalisedInputs:
    """Normalised surface ``(B, T, H, W)``, static ``(H, W)`` and atmospheric
    ``(B, T, C, H, W)`` tensors plus the batch metadata."""

    surf: dict[str, torch.Tensor]
    static: dict[str, torch.Tensor]
    atmos: dict[str, torch.Tensor]
    metadata: Any
    surf_stats: dict[str, tuple[float, float]]

    def tensors(self) -> list[torch.Tensor]:
        return [*self.surf.values(), *self.static.values(), *self.atmos.values()]

    def keys(self) -> list[tuple[str, str]]:
        return (
            [("surface", k) for k in self.surf]
            + [("static", k) for k in self.static]
            + [("atmospheric", k) for k in self.atmos]
        )

    def replace(self, tensors: list[torch.Tensor]) -> NormalisedInputs:
        it = iter(tensors)
        return dataclasses.replace(
            self,
            surf={k: next(it) for k in self.surf},
            static={k: next(it) for k in self.static},
            atmos={k: next(it) for k in self.atmos},
        )

    def zeros_like(self) -> NormalisedInputs:
        """All-zero inputs: the climatological mean state (normalised value 0)."""
        return self.replace([torch.zeros_like(t) for t in self.tensors()])

    def requires_grad_(self) -> NormalisedInputs:
        return self.replace([t.detach().clone().requires_grad_(True) for t in self.tensors()])

    # Flat packing (for captum): one row per sample, batch size of the inputs must be 1.
    def shapes(self) -> list[torch.Size]:
        return [t.shape for t in self.tensors()]

    def pack(self) -> torch.Tensor:
        return torch.cat([t.reshape(-1) for t in self.tensors()])[None]

    def unpack(self, flat: torch.Tensor) -> NormalisedInputs:
        """Inverse of :meth:`pack` for one row ``flat`` of shape ``(N,)``."""
        out, i = [], 0
        for shape in self.shapes():
            n = math.prod(shape)
            out.append(flat[i : i + n].reshape(shape))
            i += n
        if i != flat.numel():
            raise ValueError(f"unpack: expected {i} values, got {flat.numel()}")
        return self.replace(out)

    def to_batch(self) -> Any:
        """The raw-space ``aurora.Batch`` whose normalisation gives these tensors."""
        from aurora import Batch
        from aurora.normalisation import unnormalise_atmos_var, unnormalise_surf_var

        levels = self.metadata.atmos_levels
        return Batch(
            surf_vars={k: unnormalise_surf_var(v, k, stats=self.surf_stats) for k, v in self.surf.items()},
            static_vars={k: unnormalise_surf_var(v, k, stats=self.surf_stats) for k, v in self.static.items()},
            atmos_vars={k: unnormalise_atmos_var(v, k, levels) for k, v in self.atmos.items()},
            metadata=self.metadata,
        )


def check_batch(batch: Any) -> None:
    """Refuse an ``aurora.Batch`` whose batch size is not 1.

    Raises:
        ValueError: the batch size of the surface variables is not 1.
    """
    b = next(iter(batch.surf_vars.values())).shape[0]
    if b != 1:
        raise ValueError(f"compute_relevance needs a batch of size 1, got {b}")


def normalised_inputs(model: nn.Module, batch: Any, dtype: torch.dtype) -> NormalisedInputs:
    """Normalise ``batch`` with the model's statistics, as ``dtype`` tensors (no grad)."""
    from aurora.normalisation import normalise_atmos_var, normalise_surf_var

    stats = dict(getattr(model, "surf_stats", {}) or {})
    levels = batch.metadata.atmos_levels
    with torch.no_grad():
        surf = {k: normalise_surf_var(v.to(dtype), k, stats=stats) for k, v in batch.surf_vars.items()}
        static = {k: normalise_surf_var(v.to(dtype), k, stats=stats) for k, v in batch.static_vars.items()}
        atmos = {k: normalise_atmos_var(v.to(dtype), k, levels) for k, v in batch.atmos_vars.items()}
    return NormalisedInputs(surf, static, atmos, batch.metadata, stats)


class _Reached(Exception):
    """Raised by the hook of the target module to stop the forward pass there."""


def target_context(model: nn.Module, metadata: Any) -> dict[str, Any]:
    """Geometry a target needs: grid, patch size, latent levels, number of stages."""
    encoder = getattr(model, "encoder", None)
    backbone = getattr(model, "backbone", None)
    return {
        "lat": metadata.lat.detach().cpu().numpy().astype(float),
        "lon": metadata.lon.detach().cpu().numpy().astype(float),
        "patch_size": int(getattr(model, "patch_size", 4)),
        "latent_levels": int(getattr(encoder, "latent_levels", 1)) if encoder is not None else 1,
        "n_stages": int(getattr(backbone, "num_encoder_layers", 1)) if backbone is not None else 1,
    }


def target_output(model: nn.Module, batch: Any, target: Any) -> Any:
    """Run ``model`` on ``batch`` up to the target's module and return what the target
    reads there (its ``hook_module`` extractor applied), the pass stopped at that module.

    Raises:
        RuntimeError: the target's module was not called.
    """
    module, extract = target.hook_module(model)
    store: dict[str, Any] = {}

    def hook(mod: nn.Module, args: Any, out: Any) -> None:
        store["out"] = extract(out)
        raise _Reached

    handle = module.register_forward_hook(hook)
    try:
        model(batch)
    except _Reached:
        pass
    finally:
        handle.remove()
    if "out" not in store:
        raise RuntimeError(f"target module {type(module).__name__} was not called")
    return store["out"]


def evaluate_target(model: nn.Module, batch: Any, target: Any) -> torch.Tensor:
    """Run ``model`` on ``batch`` up to the target's module and reduce to a scalar."""
    return target.reduce(target_output(model, batch, target), target_context(model, batch.metadata))


def cropped_rows(model: nn.Module, lat: np.ndarray) -> np.ndarray:
    """Flag of the latitude rows that Aurora's crop drops."""
    return cropped_grid(lat, int(getattr(model, "patch_size", 4)))[1]


def history_offsets(model: nn.Module, n: int) -> np.ndarray:
    """History coordinate in hours relative to the batch time (oldest first)."""
    step = getattr(model, "timestep", None)
    hours = step.total_seconds() / 3600 if step is not None else 6.0
    return (np.arange(n) - (n - 1)) * hours
