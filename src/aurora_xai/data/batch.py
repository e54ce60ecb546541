"""Reading one field out of an ``aurora.Batch`` (inputs or a model's prediction).

Surface variables are stored ``(batch, history, lat, lon)`` and atmospheric ones
``(batch, history, level, lat, lon)``, the levels in the order of
``batch.metadata.atmos_levels`` (which need not be sorted). :func:`select_field` takes
one history step and, for an atmospheric variable, one pressure level, so every caller
indexes batches the same way. Torch-free at import (it only indexes tensors).
"""

from __future__ import annotations

from typing import Any

__all__ = ["select_field"]


def select_field(batch: Any, variable: str, level: float | None = None, history: int = -1) -> Any:
    """The field ``(batch, lat, lon)`` of ``variable`` at one history step (and level).

    Args:
        batch: An ``aurora.Batch``: the model's inputs or its prediction. A tensor
            without a history axis (surface ``(b, h, w)``, atmospheric ``(b, c, h, w)``)
            is read as it is.
        variable: Aurora name: a surface variable (``2t``, ``10u``, ``10v``, ``msl``)
            when ``level`` is None, else an atmospheric one (``z``, ``u``, ``v``, ``t``,
            ``q``).
        level: Pressure level in hPa, looked up in ``batch.metadata.atmos_levels``.
        history: Index into the history axis (default ``-1``: the current time, or the
            prediction's only step).

    Returns:
        A view of the batch's tensor (no copy, same dtype and device), units as stored.

    Raises:
        KeyError: the batch has no such surface or atmospheric variable, or no such
            level; the message lists what it has.
    """
    if level is None:
        if variable not in batch.surf_vars:
            raise KeyError(f"no surface variable {variable!r} in the batch (it has {sorted(batch.surf_vars)})")
        x = batch.surf_vars[variable]
        return x[:, history] if x.ndim == 4 else x
    if variable not in batch.atmos_vars:
        raise KeyError(f"no atmospheric variable {variable!r} in the batch (it has {sorted(batch.atmos_vars)})")
    levels = [float(v) for v in batch.metadata.atmos_levels]
    if float(level) not in levels:
        raise KeyError(f"level {float(level):g} hPa of {variable!r} not in the batch (it has {levels})")
    x = batch.atmos_vars[variable]
    x = x[:, history] if x.ndim == 5 else x
    return x[:, levels.index(float(level))]
