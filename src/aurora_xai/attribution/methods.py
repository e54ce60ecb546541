"""Attribution methods in a registry, and ``compute_relevance``, their common entry point.

``compute_relevance`` returns an ``xarray.Dataset`` on the input grid with the
relevance of every variable, pressure level, history step and grid cell, attributed
to the normalised inputs (see :mod:`aurora_xai.attribution.inputs`), computed by the
method named in :data:`METHODS`:

* ``lrp``: layer-wise relevance propagation with the rules of a rule map
  (:mod:`aurora_xai.attribution.rule_maps`) installed by
  :func:`~aurora_xai.attribution.patching.lrp_rules`; the relevance Aurora's constant
  terms absorb is logged (:mod:`aurora_xai.attribution.constants`), and a long pass
  logs the stages it has passed (:mod:`aurora_xai.attribution.pass_progress`);
* ``input_x_gradient`` and ``integrated_gradients``: captum's, on the normalised inputs
  packed into one vector;
* ``saliency``: the plain gradient ``dy/dx_n`` (signed; saliency maps plot its absolute
  value, Simonyan et al. 2014). A sensitivity, not a decomposition of the target: its sum
  is not the target value. It is the reference the synthetic benchmarks of Mamalakis et
  al. (2022) expect to fail against a known attribution.

Products of two input-dependent tensors occur only inside attention (``q @ k^T`` and
``A @ V``): CP-LRP detaches ``A`` (so ``q @ k^T`` carries no relevance), AttnLRP
splits each product with the uniform rule. The adaptive layer norms' scale depends
only on the lead time and is detached as a constant factor; GELU and SiLU (a gated
product ``x * sigmoid(x)``) use the identity rule. The target value recorded for LRP
is that of the forward pass inside the rules (explicit attention instead of the fused
kernel; equal to the plain forward up to rounding).

To add a method, subclass :class:`Method` and add an instance to :data:`METHODS`.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
import xarray as xr
from torch import nn

from aurora_xai.attribution.constants import aurora_constant_terms
from aurora_xai.attribution.grad_mode import (
    gradients_enabled,
    ordinary_metadata,
    ordinary_parameters,
    ordinary_tensor,
    without_inference_tensors,
)
from aurora_xai.attribution.inputs import (
    NormalisedInputs,
    check_batch,
    cropped_rows,
    evaluate_target,
    history_offsets,
    normalised_inputs,
)
from aurora_xai.attribution.pass_progress import stage_progress
from aurora_xai.attribution.patching import checkpointed_model, checkpointing_level, lrp_rules
from aurora_xai.attribution.rule_maps import RuleMap, rule_map
from aurora_xai.attribution.rules import Ledger

__all__ = [
    "METHODS",
    "InputXGradient",
    "IntegratedGradients",
    "LRP",
    "Method",
    "MethodOptions",
    "Relevance",
    "Saliency",
    "compute_relevance",
    "get_method",
]


@dataclasses.dataclass(frozen=True)
class MethodOptions:
    """The settings of :func:`compute_relevance` that methods read (each its own).

    Args:
        attention_rule: LRP: a rule-map preset name (``cp``, ``attnlrp``, ``gradient``)
            or a :class:`~aurora_xai.attribution.rule_maps.RuleMap`.
        epsilon: LRP: epsilon of the linear layers' rule (>= 0).
        baseline: Integrated gradients: ``"zero"`` or an ``aurora.Batch``.
        n_steps: Integrated gradients: number of steps.
        checkpointing: Activation-checkpointing level
            (:data:`~aurora_xai.attribution.patching.CHECKPOINTING_LEVELS`, or a bool).
    """

    attention_rule: str | RuleMap = "cp"
    epsilon: float = 1e-6
    baseline: Any = "zero"
    n_steps: int = 32
    checkpointing: bool | str = "none"


class Relevance(NamedTuple):
    """What a method computes: relevance per input tensor, target value, extra numbers.

    ``relevance`` follows :meth:`NormalisedInputs.tensors` (same shapes); ``extra`` holds
    the LRP ledger totals or the integrated gradients' ``target_at_baseline``.
    """

    relevance: list[torch.Tensor]
    value: float
    extra: dict[str, float]

    @property
    def total(self) -> float:
        """Sum of the relevance of every input (float64)."""
        return float(sum(float(r.double().sum()) for r in self.relevance))


class Method(abc.ABC):
    """An attribution method: relevance of normalised inputs for a scalar target."""

    name: ClassVar[str]

    @abc.abstractmethod
    def relevance(self, model: nn.Module, inputs: NormalisedInputs, target: Any, options: MethodOptions) -> Relevance:
        """Relevance of ``inputs`` for ``target``.

        Runs with gradients on also when called under ``torch.no_grad()`` or
        ``torch.inference_mode()`` (see :mod:`aurora_xai.attribution.grad_mode`).
        """

    def attributes(self, result: Relevance, options: MethodOptions) -> dict[str, Any]:
        """Dataset attributes of this method (after the common ones)."""
        return {}


def _share(part: float, value: float) -> float:
    return part / value if value != 0 else float("nan")


def _ordinary_inputs(inputs: NormalisedInputs) -> NormalisedInputs:
    """``inputs`` without inference tensors (call inside :func:`gradients_enabled`)."""
    out = inputs.replace([ordinary_tensor(t) for t in inputs.tensors()])
    out.metadata = ordinary_metadata(inputs.metadata)
    return out


class LRP(Method):
    """Layer-wise relevance propagation (rules of :func:`~aurora_xai.attribution.patching.lrp_rules`)."""

    name: ClassVar[str] = "lrp"

    def relevance(self, model: nn.Module, inputs: NormalisedInputs, target: Any, options: MethodOptions) -> Relevance:
        ledger = Ledger()
        with gradients_enabled(), ordinary_parameters(model):
            # Leaves that share the inputs' storage (no copy: 0.57 GB at 0.25 deg).
            leaves = _ordinary_inputs(inputs)
            leaves = leaves.replace([t.detach().requires_grad_(True) for t in leaves.tensors()])
            with lrp_rules(model, options.attention_rule, options.epsilon, options.checkpointing, ledger):
                with aurora_constant_terms(model, ledger), stage_progress(model, "LRP"):
                    y = evaluate_target(model, leaves.to_batch(), target)
                    grads = torch.autograd.grad(y, leaves.tensors(), allow_unused=True)
        rel = [(x * g).detach() if g is not None else torch.zeros_like(x) for x, g in zip(leaves.tensors(), grads)]
        return Relevance(rel, float(y.detach()), ledger.totals())

    def attributes(self, result: Relevance, options: MethodOptions) -> dict[str, Any]:
        """``attention_rule``, ``epsilon``, ``absorbed_total``, ``absorbed_<term>``, ``closure_error``."""
        value, ledger = result.value, result.extra
        absorbed = float(sum(ledger.values()))
        attrs: dict[str, Any] = {
            "attention_rule": rule_map(options.attention_rule).name,
            "epsilon": float(options.epsilon),
            "absorbed_total": _share(absorbed, value),
        }
        for k in sorted(ledger):
            attrs[f"absorbed_{k}"] = _share(ledger[k], value)
        denom = abs(value) if value != 0 else float("nan")
        attrs["closure_error"] = abs(result.total + absorbed - value) / denom
        return attrs


class PackedTarget(nn.Module):
    """Maps packed normalised inputs ``(n, N)`` to target values ``(n,)`` (for captum)."""

    def __init__(self, model: nn.Module, template: NormalisedInputs, target: Any) -> None:
        super().__init__()
        self.model = model
        self.template = template
        self.target = target

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        out = []
        for row in flat:
            inputs = self.template.unpack(row)
            out.append(evaluate_target(self.model, inputs.to_batch(), self.target))
        return torch.stack(out)


def _baseline_inputs(model: nn.Module, inputs: NormalisedInputs, baseline: Any) -> NormalisedInputs:
    if isinstance(baseline, str):
        if baseline == "zero":
            return inputs.zeros_like()
        raise ValueError(f"baseline must be 'zero' or an aurora.Batch, got {baseline!r}")
    dtype = inputs.tensors()[0].dtype
    base = normalised_inputs(model, baseline, dtype)
    if base.shapes() != inputs.shapes() or base.keys() != inputs.keys():
        raise ValueError("baseline batch must have the same variables and shapes as the batch")
    return base


def _captum_relevance(
    model: nn.Module,
    inputs: NormalisedInputs,
    target: Any,
    checkpointing: bool | str,
    attribute: Callable[[PackedTarget, torch.Tensor, NormalisedInputs, dict[str, float]], torch.Tensor],
) -> Relevance:
    """Relevance from ``attribute(wrapper, packed inputs, inputs, extra)`` (a captum call)."""
    extra: dict[str, float] = {}
    level = checkpointing_level(checkpointing)
    ctx = checkpointed_model(model, level) if level != "none" else contextlib.nullcontext()
    with gradients_enabled(), ordinary_parameters(model), ctx:
        inputs = _ordinary_inputs(inputs)
        wrapper = PackedTarget(model, inputs, target)
        flat = inputs.pack()
        with torch.no_grad():
            value = float(wrapper(flat)[0])
        attr = attribute(wrapper, flat, inputs, extra)
    rel = [t.detach() for t in inputs.unpack(attr[0]).tensors()]
    return Relevance(rel, value, extra)


class InputXGradient(Method):
    """Input times gradient (captum's ``InputXGradient``)."""

    name: ClassVar[str] = "input_x_gradient"

    def relevance(self, model: nn.Module, inputs: NormalisedInputs, target: Any, options: MethodOptions) -> Relevance:
        from captum.attr import InputXGradient as CaptumInputXGradient

        def attribute(wrapper: PackedTarget, flat: torch.Tensor, inputs: NormalisedInputs, extra: dict) -> torch.Tensor:
            return CaptumInputXGradient(wrapper).attribute(flat)

        return _captum_relevance(model, inputs, target, options.checkpointing, attribute)


class IntegratedGradients(Method):
    """Integrated gradients from a baseline (captum's, Gauss-Legendre steps)."""

    name: ClassVar[str] = "integrated_gradients"

    def relevance(self, model: nn.Module, inputs: NormalisedInputs, target: Any, options: MethodOptions) -> Relevance:
        from captum.attr import IntegratedGradients as CaptumIntegratedGradients

        def attribute(wrapper: PackedTarget, flat: torch.Tensor, inputs: NormalisedInputs, extra: dict) -> torch.Tensor:
            base_flat = _baseline_inputs(model, inputs, options.baseline).pack()
            with torch.no_grad():
                extra["target_at_baseline"] = float(wrapper(base_flat)[0])
            return CaptumIntegratedGradients(wrapper).attribute(
                flat, baselines=base_flat, n_steps=options.n_steps, internal_batch_size=1
            )

        return _captum_relevance(model, inputs, target, options.checkpointing, attribute)

    def attributes(self, result: Relevance, options: MethodOptions) -> dict[str, Any]:
        """``n_steps``, ``baseline``, ``target_at_baseline``, ``completeness_error``."""
        base = result.extra["target_at_baseline"]
        diff = result.value - base
        return {
            "n_steps": int(options.n_steps),
            "baseline": options.baseline if isinstance(options.baseline, str) else "batch",
            "target_at_baseline": base,
            "completeness_error": abs(result.total - diff) / abs(diff) if diff != 0 else float("nan"),
        }


class Saliency(Method):
    """The plain gradient of the target with respect to the normalised inputs (signed)."""

    name: ClassVar[str] = "saliency"

    def relevance(self, model: nn.Module, inputs: NormalisedInputs, target: Any, options: MethodOptions) -> Relevance:
        from captum.attr import Saliency as CaptumSaliency

        def attribute(wrapper: PackedTarget, flat: torch.Tensor, inputs: NormalisedInputs, extra: dict) -> torch.Tensor:
            return CaptumSaliency(wrapper).attribute(flat, abs=False)

        return _captum_relevance(model, inputs, target, options.checkpointing, attribute)

    def attributes(self, result: Relevance, options: MethodOptions) -> dict[str, Any]:
        """``conservation_error`` and ``share_absorbed`` NaN: a gradient does not sum to the target."""
        return {"conservation_error": float("nan"), "share_absorbed": float("nan"), "decomposition": "none (gradient)"}


#: The attribution methods by name.
METHODS: Mapping[str, Method] = MappingProxyType(
    {m.name: m for m in (LRP(), InputXGradient(), IntegratedGradients(), Saliency())}
)


def get_method(name: str) -> Method:
    """The method registered as ``name``.

    Raises:
        ValueError: an unknown name; the message lists the known ones.
    """
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"method must be one of {tuple(METHODS)}, got {name!r}") from None


def _param_dtype(model: nn.Module) -> torch.dtype:
    p = next(model.parameters(), None)
    return p.dtype if p is not None else torch.get_default_dtype()


@contextlib.contextmanager
def _computation_dtype(model: nn.Module, dtype: torch.dtype | None) -> Iterator[torch.dtype]:
    """Temporarily up-cast the model to ``dtype`` (lossless round trip only); no autocast."""
    current = _param_dtype(model)
    dtype = current if dtype is None else dtype
    cast = dtype != current
    if cast and torch.finfo(dtype).bits < torch.finfo(current).bits:
        raise ValueError(
            f"model parameters are {current}; computing in {dtype} would not be reversible. "
            f"Pass dtype={current} or None."
        )
    flags = {}
    for name in ("autocast_encoder", "autocast_backbone", "autocast_decoder"):
        if getattr(model, name, False):
            flags[name] = True
            setattr(model, name, False)
    if cast:
        model.to(dtype)
    try:
        yield dtype
    finally:
        if cast:
            model.to(current)
        for name in flags:
            setattr(model, name, True)


def _to_dataset(
    model: nn.Module,
    batch: Any,
    inputs: NormalisedInputs,
    rel: list[torch.Tensor],
) -> xr.Dataset:
    meta = batch.metadata
    lat = meta.lat.detach().cpu().numpy().astype(float)
    lon = meta.lon.detach().cpu().numpy().astype(float)
    levels = np.asarray([float(v) for v in meta.atmos_levels])
    T = next(iter(inputs.surf.values())).shape[1]
    dropped = cropped_rows(model, lat)
    coords = {
        "latitude": ("latitude", lat, {"units": "degrees_north"}),
        "longitude": ("longitude", lon, {"units": "degrees_east"}),
        "level": ("level", levels, {"units": "hPa", "long_name": "pressure level"}),
        "history": (
            "history",
            history_offsets(model, T),
            {"units": "hours", "long_name": "input time relative to the batch time"},
        ),
        "cropped": (
            "latitude",
            dropped,
            {"long_name": "row dropped by the model's crop (zero relevance)"},
        ),
    }
    data_vars = {}
    for (kind, name), r in zip(inputs.keys(), rel):
        a = r.detach().to(torch.float64).cpu().numpy()
        attrs = {"kind": kind, "source_variable": name, "input_space": "normalised"}
        if kind == "surface":
            data_vars[name] = (("history", "latitude", "longitude"), a[0], attrs)
        elif kind == "atmospheric":
            data_vars[name] = (("history", "level", "latitude", "longitude"), a[0], attrs)
        else:
            data_vars[f"static_{name}"] = (("latitude", "longitude"), a, attrs)
    ds = xr.Dataset(data_vars, coords=coords)
    if "lsm" in batch.static_vars:
        ds = ds.assign_coords(
            land_sea_mask=(
                ("latitude", "longitude"),
                batch.static_vars["lsm"].detach().to(torch.float64).cpu().numpy(),
            )
        )
    ds.attrs["cropped_latitudes"] = [float(v) for v in lat[dropped]]
    ds.attrs["time"] = str(meta.time[0])
    return ds


def compute_relevance(
    model: nn.Module,
    batch: Any,
    target: Any,
    method: str = "lrp",
    attention_rule: str | RuleMap = "cp",
    epsilon: float = 1e-6,
    baseline: str | Any = "zero",
    n_steps: int = 32,
    checkpointing: bool | str = "none",
    dtype: torch.dtype | None = torch.float32,
) -> xr.Dataset:
    """Relevance of every input variable, level, history step and grid cell for ``target``.

    Args:
        model: An ``aurora.Aurora`` (or a module with the same ``Batch -> Batch`` interface).
        batch: An ``aurora.Batch`` of batch size 1 (raw physical units).
        target: :class:`~aurora_xai.attribution.targets.ForecastTarget` or
            :class:`~aurora_xai.attribution.targets.LatentTarget`.
        method: A name in :data:`METHODS`: ``"lrp"``, ``"input_x_gradient"``,
            ``"integrated_gradients"`` or ``"saliency"``.
        attention_rule: LRP only: a rule-map preset, ``"cp"`` (detached attention
            weights), ``"attnlrp"`` or ``"gradient"``, or a
            :class:`~aurora_xai.attribution.rule_maps.RuleMap`.
        epsilon: LRP only: epsilon of the linear layers' rule.
        baseline: Integrated gradients only: ``"zero"`` (normalised value 0, i.e. the
            climatological mean state of Aurora's statistics) or an ``aurora.Batch``.
        n_steps: Integrated gradients only: number of steps (Gauss-Legendre).
        checkpointing: Activation checkpointing, an execution setting (less memory, the
            same relevance): ``"none"``, ``"stage"`` (each backbone stage),
            ``"block"`` (each Swin block), ``"block+perceiver"`` (each Swin block and
            the Perceiver encoder's and decoder's level work in chunks of rows;
            :mod:`aurora_xai.attribution.patching`), ``True`` (the finest) or ``False``.
        dtype: Dtype of the computation; ``None`` keeps the model's. A wider dtype than
            the model's casts it temporarily (lossless); a narrower one is refused.
            Autocast flags of the model are switched off during the call.

    Returns:
        ``xr.Dataset``: surface variables ``(history, latitude, longitude)``, atmospheric
        variables ``(history, level, latitude, longitude)``, static variables as
        ``static_<name>`` ``(latitude, longitude)``; relevance ``R = x_n * modified
        gradient`` of the normalised inputs ``x_n``. Rows dropped by the model's crop
        carry zero relevance and are flagged by the ``cropped`` coordinate. Attributes:
        ``method``, ``attention_rule``, ``epsilon``, ``target``, ``target_value``,
        ``relevance_sum``, ``conservation_error`` (``|sum R - target| / |target|``),
        ``share_absorbed`` (``1 - sum R / target``: the share taken by constant terms),
        ``checkpointing`` (the level),
        for LRP ``absorbed_<term>`` (share of the target absorbed by each constant
        term) and ``closure_error`` (``|sum R + absorbed - target| / |target|``); for
        integrated gradients ``target_at_baseline`` and ``completeness_error``.

    Gradients are turned on for the call: under ``torch.no_grad()`` or
    ``torch.inference_mode()`` (a batch, baseline or model created there included) the
    relevance is the same as that of a plain call
    (:mod:`aurora_xai.attribution.grad_mode`).

    Raises:
        ValueError: unknown ``method``, ``attention_rule`` or ``checkpointing`` level
            (naming the known ones),
            a negative ``epsilon``, a batch size other than 1, a ``dtype`` narrower
            than the model's, a baseline batch whose variables or shapes differ.
    """
    implementation = get_method(method)
    checkpointing = checkpointing_level(checkpointing)
    check_batch(batch)
    with gradients_enabled(), ordinary_parameters(model):
        batch = without_inference_tensors(batch)
        if not isinstance(baseline, str):
            baseline = without_inference_tensors(baseline)
        options = MethodOptions(attention_rule, epsilon, baseline, n_steps, checkpointing)
        with _computation_dtype(model, dtype) as dt:
            inputs = normalised_inputs(model, batch, dt)
            result = implementation.relevance(model, inputs, target, options)
    ds = _to_dataset(model, batch, inputs, result.relevance)
    value, total = result.value, result.total
    denom = abs(value) if value != 0 else float("nan")
    attrs: dict[str, Any] = {
        "method": method,
        "target": target.describe(),
        "target_value": value,
        "relevance_sum": total,
        "conservation_error": abs(total - value) / denom,
        "share_absorbed": (value - total) / value if value != 0 else float("nan"),
        "dtype": str(dt).replace("torch.", ""),
        "input_space": "normalised: (x - location) / scale with Aurora's statistics",
        "checkpointing": checkpointing,
    }
    attrs.update(implementation.attributes(result, options))
    ds.attrs.update(attrs)
    return ds
