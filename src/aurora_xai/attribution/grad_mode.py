"""Autograd on for attribution, whatever grad mode the caller is in.

Attribution needs a backward pass. Called from a notebook cell under
``torch.no_grad()`` or ``torch.inference_mode()`` (as Aurora's own examples run the
model), torch would refuse it with "element 0 of tensors does not require grad". Every
attribution entry point therefore runs inside :func:`gradients_enabled` and hands the
model only tensors that autograd may save:

* :func:`gradients_enabled` leaves inference mode (``torch.inference_mode(False)``) and
  turns gradients on (``torch.enable_grad()``) for the block; the caller's modes are
  restored on exit;
* tensors created under inference mode ("inference tensors") cannot be saved for the
  backward pass: :func:`without_inference_tensors` returns a batch in which they are
  replaced by ordinary copies (no copy when there are none), and
  :func:`ordinary_parameters` temporarily replaces a model's parameters and buffers that
  are inference tensors (a model built, loaded or moved under inference mode) by
  ordinary copies, putting the originals back on exit.

The relevance is the same as that of a plain call: only the grad mode and the storage
of the tensors change, not one value.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

__all__ = [
    "gradients_enabled",
    "ordinary_metadata",
    "ordinary_parameters",
    "ordinary_tensor",
    "without_inference_tensors",
]


@contextlib.contextmanager
def gradients_enabled() -> Iterator[None]:
    """Gradients on for the block, also inside ``torch.no_grad()`` and ``torch.inference_mode()``."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


def ordinary_tensor(t: torch.Tensor) -> torch.Tensor:
    """``t`` itself, or an ordinary copy of it when it is an inference tensor.

    Must be called outside inference mode (inside :func:`gradients_enabled`), where a
    clone is an ordinary tensor.
    """
    if torch.is_tensor(t) and t.is_inference():
        if torch.is_inference_mode_enabled():
            raise RuntimeError("ordinary_tensor: called inside torch.inference_mode(); use gradients_enabled()")
        return t.clone()
    return t


def ordinary_metadata(metadata: Any) -> Any:
    """The ``aurora.Metadata`` with inference-tensor ``lat``/``lon`` copied (itself if none)."""
    if not (metadata.lat.is_inference() or metadata.lon.is_inference()):
        return metadata
    return dataclasses.replace(metadata, lat=ordinary_tensor(metadata.lat), lon=ordinary_tensor(metadata.lon))


def without_inference_tensors(batch: Any) -> Any:
    """The ``aurora.Batch`` with its inference tensors (also ``metadata.lat/lon``) copied.

    Returns ``batch`` itself when none of its tensors is an inference tensor. Call inside
    :func:`gradients_enabled`.
    """
    tensors = [
        *batch.surf_vars.values(),
        *batch.static_vars.values(),
        *batch.atmos_vars.values(),
        batch.metadata.lat,
        batch.metadata.lon,
    ]
    if not any(torch.is_tensor(t) and t.is_inference() for t in tensors):
        return batch
    return dataclasses.replace(
        batch,
        surf_vars={k: ordinary_tensor(v) for k, v in batch.surf_vars.items()},
        static_vars={k: ordinary_tensor(v) for k, v in batch.static_vars.items()},
        atmos_vars={k: ordinary_tensor(v) for k, v in batch.atmos_vars.items()},
        metadata=ordinary_metadata(batch.metadata),
    )


@contextlib.contextmanager
def ordinary_parameters(model: nn.Module) -> Iterator[nn.Module]:
    """Temporarily replace the model's inference-tensor parameters and buffers by copies.

    A model built, loaded or cast under ``torch.inference_mode()`` holds inference
    tensors, which autograd cannot save. Inside the block they are ordinary copies
    (parameters shared between modules stay shared); on exit, also when the block
    raises, the original objects are put back. A model without inference tensors is
    not touched (no copy). Call inside :func:`gradients_enabled`.
    """
    swapped: list[tuple[dict[str, Any], str, Any]] = []
    copies: dict[int, Any] = {}
    try:
        for module in model.modules():
            for store in (module._parameters, module._buffers):
                for name, value in list(store.items()):
                    if value is None or not value.is_inference():
                        continue
                    new = copies.get(id(value))
                    if new is None:
                        data = value.detach().clone()
                        if isinstance(value, nn.Parameter):
                            new = nn.Parameter(data, requires_grad=value.requires_grad)
                        else:
                            new = data
                        copies[id(value)] = new
                    swapped.append((store, name, value))
                    store[name] = new
        yield model
    finally:
        for store, name, value in reversed(swapped):
            store[name] = value
