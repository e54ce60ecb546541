"""Aurora models: construction, and where and in what precision a model runs.

The tiny model is an ``aurora.Aurora`` with small embedding and depths, randomly
initialised from a seed. It runs the embedded default and the tests on a CPU in
milliseconds per sample. Real checkpoints go through ``microsoft-aurora``'s own
loading (the HuggingFace repo at the revision each class pins, or a local file).

Beside the model: :func:`resolve_device` (the ``model.device`` setting),
:func:`model_dtype` (the dtype inputs are cast to) and :func:`forecast_step` (the lead
time of one forward pass). Torch is imported where a model is built or a device
resolved, so :class:`ModelSpec` stays torch-free.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where a model is built, so ModelSpec stays torch-free
    import torch

__all__ = [
    "MODEL_NAMES",
    "ModelSpec",
    "activate_modulation",
    "build_model",
    "checkpoint_id",
    "forecast_step",
    "model_dtype",
    "random_control",
    "resolve_device",
]

log = logging.getLogger(__name__)

MODEL_NAMES = ("tiny", "small-pretrained", "pretrained", "finetuned")

#: Architecture of the tiny random model (keyword arguments of ``aurora.Aurora``).
TINY_ARCH: dict[str, Any] = dict(
    embed_dim=32,
    num_heads=4,
    encoder_depths=(1, 1, 1),
    encoder_num_heads=(2, 4, 8),
    decoder_depths=(1, 1, 1),
    decoder_num_heads=(8, 4, 2),
    window_size=(2, 6, 12),
    mlp_ratio=2.0,
    dec_mlp_ratio=2.0,
    use_lora=False,
)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What model to build.

    Args:
        name: One of :data:`MODEL_NAMES`.
        seed: Seed of the random initialisation (``tiny``, and a real architecture
            with ``random_weights``).
        checkpoint: Local checkpoint file; when empty, real models download the
            class's default checkpoint from the HuggingFace repo at its pinned revision.
        random_weights: Build a real architecture with random weights: its own
            initialisation drawn from ``seed``, and the adaptive layer norms' modulation
            drawn at random as for ``tiny`` (:func:`activate_modulation`; Aurora zeroes it,
            which makes every Swin block the identity). For memory and timing checks
            without a checkpoint (the rehearsal) and the probes' random-model control.
        autocast: Run the backbone under bf16 autocast (Aurora's ``autocast``; every
            model name, ``tiny`` included).
    """

    name: str = "tiny"
    seed: int = 0
    checkpoint: str = ""
    random_weights: bool = False
    autocast: bool = False

    def __post_init__(self) -> None:
        if self.name not in MODEL_NAMES:
            raise ValueError(f"model.name: unknown model {self.name!r}; choose one of {MODEL_NAMES}")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> ModelSpec:
        """Build from the ``model`` section of the workflow config.

        ``device`` (where the model runs, not which model) is accepted and ignored;
        any other unknown key is an error.
        """
        from .settings import require

        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(cfg) - fields - {"device"}
        if unknown:
            raise ValueError(f"model: unknown keys {sorted(unknown)}")
        return cls(**{name: require("model", cfg, name) for name in sorted(fields)})


def activate_modulation(model: torch.nn.Module, seed: int = 1, bias_std: float = 0.0) -> None:
    """Random adaptive-layer-norm modulation (scale ~ 1, shift ~ 0.1), optionally biases.

    Aurora's initialisation zeroes the modulation of every adaptive layer norm (the
    res-post-norm of the Swin blocks), so in a freshly initialised model each Swin block
    adds ``0 * ln(x) + 0`` to its residual stream and the backbone's attention and MLPs do
    nothing. A trained checkpoint has no such zeros; the tiny random model and real
    architectures with ``random_weights`` get this seeded modulation so that their backbone
    acts like one.
    """
    import torch
    from aurora.model.film import AdaptiveLayerNorm

    with torch.no_grad():
        _modulate(model, torch.Generator().manual_seed(seed), bias_std, AdaptiveLayerNorm)


def _modulate(model, g, bias_std: float, adaln_type: type) -> None:
    import torch

    for mod in model.modules():
        if isinstance(mod, adaln_type):
            lin = mod.ln_modulation[-1]
            d = mod.ln.normalized_shape[0]
            lin.weight.copy_(0.3 * torch.randn(lin.weight.shape, generator=g))
            lin.bias[:d].copy_(0.1 * torch.randn(d, generator=g))
            lin.bias[d:].copy_(1.0 + 0.2 * torch.randn(d, generator=g))
    if bias_std:
        for name, p in model.named_parameters():
            if name.endswith("bias") and "ln_modulation" not in name:
                p.copy_(bias_std * torch.randn(p.shape, generator=g))


def _aurora_class(name: str) -> type:
    import aurora

    return {
        "tiny": aurora.Aurora,
        "small-pretrained": aurora.AuroraSmallPretrained,
        "pretrained": aurora.AuroraPretrained,
        "finetuned": aurora.Aurora,
    }[name]


def build_model(spec: ModelSpec, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Build the model in evaluation mode on ``device``.

    Returns:
        An ``aurora.Aurora`` instance. For ``tiny`` and ``random_weights`` the parameters
        are drawn from ``torch.manual_seed(spec.seed)`` and the modulation from
        ``spec.seed + 1``, so the same seed gives identical weights.
    """
    import torch

    cls = _aurora_class(spec.name)
    if spec.name == "tiny":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)
            model = cls(**TINY_ARCH, autocast=spec.autocast)
        activate_modulation(model, seed=spec.seed + 1)
        if spec.checkpoint:  # the tiny architecture with weights from a file
            _load_local(model, spec.checkpoint)
    else:
        kwargs: dict[str, Any] = {}
        if spec.autocast:
            kwargs["autocast"] = True
        if spec.random_weights and not spec.checkpoint:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(spec.seed)
                model = cls(**kwargs)
            # Aurora's initialisation zeroes the adaptive layer norms' modulation: every Swin
            # block would be the identity and each backbone tap equal the encoder's output.
            activate_modulation(model, seed=spec.seed + 1)
        else:
            model = cls(**kwargs)
        if spec.checkpoint:
            _load_local(model, spec.checkpoint)
        elif not spec.random_weights:
            log.info(
                "loading %s at revision %s from the HuggingFace hub",
                cls.default_checkpoint_name,
                cls.default_checkpoint_revision,
            )
            model.load_checkpoint()
    model.eval()
    return model.to(device)


def _load_local(model: torch.nn.Module, checkpoint: str) -> None:
    """Load a checkpoint file (``torch.save`` of a state dict, Aurora's format)."""
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"model.checkpoint: no such file {path}")
    log.info("loading checkpoint from %s", path)
    model.load_checkpoint_local(str(path))


def random_control(spec: ModelSpec, seed: int) -> ModelSpec:
    """The probes' random-model control of ``spec``: the same architecture, random weights.

    ``tiny`` (with or without a checkpoint file): the tiny model drawn from ``seed``;
    a real architecture: its own random initialisation (``random_weights``, drawn from
    ``seed``), no checkpoint. Autocast as ``spec``.

    Raises:
        ValueError: for ``tiny`` without a checkpoint file when ``seed`` equals
            ``model.seed`` (the control would be the model itself), naming both keys.
    """
    if spec.name == "tiny" and not spec.checkpoint and int(seed) == spec.seed:
        raise ValueError(
            f"probes.random_seed ({seed}) equals model.seed: the random-model control of the tiny "
            "model would be the model itself; choose another seed"
        )
    return ModelSpec(name=spec.name, seed=int(seed), random_weights=spec.name != "tiny", autocast=spec.autocast)


def checkpoint_id(spec: ModelSpec) -> str:
    """A string that identifies the weights: file hash, seed, or repo file and revision."""
    if spec.checkpoint:
        h = hashlib.sha256()
        with open(spec.checkpoint, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return f"file:{Path(spec.checkpoint).name}:sha256:{h.hexdigest()[:16]}"
    if spec.name == "tiny":
        return f"tiny-random-seed{spec.seed}"
    if spec.random_weights:
        return f"{spec.name}-random-weights-seed{spec.seed}"
    cls = _aurora_class(spec.name)
    return f"hf:microsoft/aurora/{cls.default_checkpoint_name}@{cls.default_checkpoint_revision}"


def resolve_device(name: str = "auto") -> torch.device:
    """The device named by ``model.device``: ``auto`` picks CUDA when available, else the CPU.

    Raises:
        RuntimeError: ``name`` is not a device torch knows (e.g. ``gpu``).
    """
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def model_dtype(model: torch.nn.Module) -> torch.dtype:
    """The dtype of the model's parameters (torch's default dtype for a model without any).

    Inputs are cast to it before a forward pass.
    """
    import torch

    p = next(model.parameters(), None)
    return p.dtype if p is not None else torch.get_default_dtype()


def forecast_step(model: torch.nn.Module) -> datetime.timedelta:
    """Lead time of one forward pass: the model's ``timestep`` (Aurora: 6 hours), 6 hours if it has none.

    The history steps of a batch are the same interval apart.
    """
    step = getattr(model, "timestep", None)
    return step if step is not None else datetime.timedelta(hours=6)
