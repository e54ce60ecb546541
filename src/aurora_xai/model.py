"""Aurora models: construction, and where and in what precision a model runs.

The tiny model is an ``aurora.Aurora`` with small embedding and depths, randomly
initialised from a seed. The surrogate (``surrogate``) is the same architecture with a
residual decoder (:mod:`aurora_xai.surrogate.architecture`), trained on the store by the
rule ``train_surrogate`` (:mod:`aurora_xai.surrogate`) and loaded from its checkpoint file. It runs the embedded default and the tests on a CPU in
milliseconds per sample. Real checkpoints go through ``microsoft-aurora``'s own
loading (the HuggingFace repo at the revision each class pins, or a local file).

Beside the model: :func:`resolve_device` (the ``model.device`` setting),
:func:`model_dtype` (the dtype inputs are cast to) and :func:`forecast_step` (the lead
time of one forward pass). Torch is imported where a model is built or a device
resolved, so :class:`ModelSpec` stays torch-free.

What a model takes and how it normalises it (:class:`ModelInputs`: its variables, its
``surf_stats`` and its ``timestep``) is read from Aurora's own class, without building
the model (:func:`model_inputs`), or from a built model (:func:`inputs_of`). Every
lookup of a normalisation statistic goes through :func:`normalisation_stats`, which
reads Aurora's tables (``aurora.normalisation.locations`` and ``scales``, the model's
``surf_stats`` where they override them) and raises :class:`NormalisationError` naming
the variable, the level and the levels the tables hold, where Aurora itself would stop
with a bare ``KeyError``.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .sections import from_section, section_defaults

if TYPE_CHECKING:  # torch is imported where a model is built, so ModelSpec stays torch-free
    import torch

__all__ = [
    "MODEL_NAMES",
    "SURROGATE_CHECKPOINT",
    "ModelInputs",
    "ModelSpec",
    "NormalisationError",
    "activate_modulation",
    "build_model",
    "checkpoint_id",
    "forecast_step",
    "inputs_of",
    "model_dtype",
    "model_inputs",
    "normalisation_stats",
    "random_control",
    "resolve_device",
]

log = logging.getLogger(__name__)

MODEL_NAMES = ("tiny", "surrogate", "small-pretrained", "pretrained", "finetuned")
#: Models of the tiny architecture (built from :data:`TINY_ARCH`).
TINY_NAMES = ("tiny", "surrogate")
#: The file ``train_surrogate`` writes, relative to the working directory: the surrogate's
#: checkpoint where ``model.checkpoint`` is empty.
SURROGATE_CHECKPOINT = "results/surrogate/surrogate.pt"

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
        seed: Seed of the random initialisation (``tiny``, and a real architecture or
            the surrogate with ``random_weights``).
        checkpoint: Local checkpoint file; when empty, real models download the
            class's default checkpoint from the HuggingFace repo at its pinned revision,
            and :meth:`from_config` gives the surrogate :data:`SURROGATE_CHECKPOINT`
            (the file ``train_surrogate`` writes).
        random_weights: Build a real architecture with random weights: its own
            initialisation drawn from ``seed``, and the adaptive layer norms' modulation
            drawn at random as for ``tiny`` (:func:`activate_modulation`; Aurora zeroes it,
            which makes every Swin block the identity). For memory and timing checks
            without a checkpoint (the rehearsal) and the probes' random-model control.
        autocast: Run the backbone under bf16 autocast (Aurora's ``autocast``; every
            model name, ``tiny`` included).
    """

    name: str
    seed: int
    checkpoint: str
    random_weights: bool
    autocast: bool

    def __post_init__(self) -> None:
        if self.name not in MODEL_NAMES:
            raise ValueError(f"model.name: unknown model {self.name!r}; choose one of {MODEL_NAMES}")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> ModelSpec:
        """Build from the ``model`` section of the workflow config.

        ``device`` (where the model runs, not which model) is accepted and ignored;
        any other unknown key is an error. The surrogate without a checkpoint file (and
        without ``random_weights``) reads :data:`SURROGATE_CHECKPOINT`.
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(cfg) - fields - {"device"}
        if unknown:
            raise ValueError(f"model: unknown keys {sorted(unknown)}")
        spec = from_section(cls, "model", cfg)
        if spec.name == "surrogate" and not spec.checkpoint and not spec.random_weights:
            spec = dataclasses.replace(spec, checkpoint=SURROGATE_CHECKPOINT)
        return spec

    @classmethod
    def from_schema(cls, **fields: Any) -> ModelSpec:
        """The ``model`` section at the schema's defaults with ``fields`` changed: a model
        built outside the workflow (tests, tools), e.g. ``ModelSpec.from_schema(seed=3)``."""
        return cls.from_config({**section_defaults("model"), **fields})


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

    from .surrogate.architecture import ResidualAurora

    return {
        "tiny": aurora.Aurora,
        "surrogate": ResidualAurora,
        "small-pretrained": aurora.AuroraSmallPretrained,
        "pretrained": aurora.AuroraPretrained,
        "finetuned": aurora.Aurora,
    }[name]


def build_model(spec: ModelSpec, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Build the model in evaluation mode on ``device``.

    Returns:
        An ``aurora.Aurora`` instance. For ``tiny`` and ``random_weights`` the parameters
        are drawn from ``torch.manual_seed(spec.seed)`` and the modulation from
        ``spec.seed + 1``, so the same seed gives identical weights. ``surrogate``: a
        :class:`~aurora_xai.surrogate.architecture.ResidualAurora` of the tiny
        architecture, drawn so (the initialisation its training starts from) and loaded
        from ``spec.checkpoint`` unless ``random_weights``.

    Raises:
        ValueError: ``surrogate`` with neither a checkpoint file nor ``random_weights``.
        FileNotFoundError: the checkpoint file does not exist.
    """
    import torch

    cls = _aurora_class(spec.name)
    if spec.name == "surrogate" and not spec.checkpoint and not spec.random_weights:
        raise ValueError(
            "model.checkpoint: the surrogate needs its trained checkpoint (the rule train_surrogate writes "
            f"{SURROGATE_CHECKPOINT}); set model.checkpoint, or model.random_weights for an untrained one"
        )
    if spec.name == "surrogate" and spec.checkpoint and not Path(spec.checkpoint).is_file():
        raise FileNotFoundError(
            f"model.checkpoint: no surrogate checkpoint {spec.checkpoint}; the rule train_surrogate writes it "
            f"(snakemake {SURROGATE_CHECKPOINT})"
        )
    if spec.name in TINY_NAMES:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)
            model = cls(**TINY_ARCH, autocast=spec.autocast)
        activate_modulation(model, seed=spec.seed + 1)
        if spec.checkpoint and not (spec.name == "surrogate" and spec.random_weights):
            _load_local(model, spec.checkpoint)  # the tiny architecture with weights from a file
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
    built, expected = inputs_of(model), model_inputs(spec)
    if built != expected:  # the workflow's start checks read `expected`: they must hold for this model
        raise RuntimeError(
            f"model.name {spec.name!r}: the built model takes {built}, but its class's signature "
            f"(what the config check read) gives {expected}"
        )
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
    ``surrogate``: the surrogate's architecture (its residual decoder included) drawn from
    ``seed``, untrained; a real architecture: its own random initialisation
    (``random_weights``, drawn from ``seed``), no checkpoint. Autocast as ``spec``.

    Raises:
        ValueError: for ``tiny`` without a checkpoint file when ``seed`` equals
            ``model.seed`` (the control would be the model itself), naming both keys.
    """
    if spec.name == "tiny" and not spec.checkpoint and int(seed) == spec.seed:
        raise ValueError(
            f"probes.random_seed ({seed}) equals model.seed: the random-model control of the tiny "
            "model would be the model itself; choose another seed"
        )
    return ModelSpec(
        name=spec.name, seed=int(seed), checkpoint="", random_weights=spec.name != "tiny", autocast=spec.autocast
    )


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
    if spec.name == "surrogate" and not spec.random_weights:
        raise ValueError("model.checkpoint: the surrogate has no checkpoint file to identify")
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


# --------------------------------------------------------------------------------------
# What a model takes: variables, normalisation statistics, time step.
# --------------------------------------------------------------------------------------


class NormalisationError(ValueError):
    """Aurora has no normalisation statistics for a variable (at a pressure level).

    Attributes:
        key: The config key to change (``data.levels`` for a level, ``model.name`` for a
            variable).
    """

    def __init__(self, message: str, key: str = "data.levels"):
        super().__init__(message)
        self.key = key


def _level_hpa(text: str) -> float:
    """Inverse of ``aurora.normalisation.level_to_str`` (``"850"`` -> 850.0, ``"0_5"`` -> 0.5)."""
    return float(text.replace("_", "."))


def _fmt_level(level: float) -> str:
    return f"{float(level):g}"


def _tables() -> tuple[Mapping[str, float], Mapping[str, float]]:
    """Aurora's own normalisation tables (the module's dicts themselves, not copies)."""
    from aurora.normalisation import locations, scales

    return locations, scales


def stats_levels(var: str) -> tuple[float, ...]:
    """Pressure levels (hPa, increasing) at which Aurora's tables hold ``var``'s statistics."""
    from aurora.normalisation import level_to_str

    locations, scales = _tables()
    out = set()
    for key in locations:
        name, sep, level = key.rpartition("_")
        if sep and name == var and key in scales:
            try:
                lv = _level_hpa(level)
            except ValueError:
                continue
            if level_to_str(lv) == level:
                out.add(lv)
    return tuple(sorted(out))


def normalisation_stats(
    var: str, level: float | None = None, surf_stats: Mapping[str, tuple[float, float]] | None = None
) -> tuple[float, float]:
    """``(location, scale)`` with which Aurora normalises ``var``: ``(x - location) / scale``.

    The one lookup of the project, as Aurora's ``normalise_surf_var`` and
    ``normalise_atmos_var`` do it: a surface or static variable (``level=None``) takes
    the model's ``surf_stats`` where they name it, else ``aurora.normalisation``'s
    ``locations[var]`` and ``scales[var]``; an atmospheric one at ``level`` hPa takes
    ``locations[f"{var}_{level}"]`` (``surf_stats`` never apply). Units: those of the
    variable in ERA5 (K, m s-1, Pa, m2 s-2, kg kg-1).

    Raises:
        NormalisationError: the tables lack the variable (at that level); the message
            names the variable, the level and the levels the tables hold for it
            (``key`` ``data.levels`` for a level the variable has elsewhere, else
            ``model.name``).
    """
    if level is None and surf_stats and var in surf_stats:
        loc, scale = surf_stats[var]
        return float(loc), float(scale)
    from aurora.normalisation import level_to_str

    locations, scales = _tables()
    key = var if level is None else f"{var}_{level_to_str(level)}"
    if key in locations and key in scales:
        return float(locations[key]), float(scales[key])
    if level is None:
        raise NormalisationError(
            f"Aurora has no normalisation statistics for the variable {var!r} "
            f"({key!r} is not in aurora.normalisation's locations and scales, nor in the model's surf_stats)",
            key="model.name",
        )
    have = stats_levels(var)
    if not have:
        raise NormalisationError(
            f"Aurora has no normalisation statistics for the atmospheric variable {var!r} at any level "
            f"({key!r} is not in aurora.normalisation's locations and scales)",
            key="model.name",
        )
    raise NormalisationError(
        f"Aurora has no normalisation statistics for {var} at {_fmt_level(level)} hPa ({key!r} is not in "
        f"aurora.normalisation's locations and scales); it has them at {', '.join(map(_fmt_level, have))} hPa "
        "(config key 'data.levels')",
        key="data.levels",
    )


@dataclasses.dataclass(frozen=True)
class ModelInputs:
    """What an Aurora model takes and how it normalises it, as Aurora defines it.

    Attributes:
        model: The Aurora class (``aurora.AuroraPretrained``, ...).
        surf_vars, static_vars, atmos_vars: The variables the model knows.
        surf_stats: ``(location, scale)`` overriding Aurora's statistics of these surface
            and static variables (the model's ``surf_stats``; empty for every class this
            project builds).
        timestep: The model's forecast step, which it also takes as the interval between
            a batch's history steps (an ``aurora.Batch`` does not carry the interval).
    """

    model: str
    surf_vars: tuple[str, ...]
    static_vars: tuple[str, ...]
    atmos_vars: tuple[str, ...]
    surf_stats: tuple[tuple[str, tuple[float, float]], ...]
    timestep: datetime.timedelta

    @property
    def step_hours(self) -> float:
        """:attr:`timestep` in hours."""
        return self.timestep.total_seconds() / 3600

    def stats(self, var: str, level: float | None = None) -> tuple[float, float]:
        """``(location, scale)`` of ``var`` (at ``level`` hPa) for this model (:func:`normalisation_stats`)."""
        return normalisation_stats(var, level, dict(self.surf_stats))

    def supported_levels(self, atmos_vars: Sequence[str] | None = None) -> tuple[float, ...]:
        """Levels (hPa, increasing) at which every one of ``atmos_vars`` (default: the model's) has statistics."""
        sets = [set(stats_levels(v)) for v in (self.atmos_vars if atmos_vars is None else atmos_vars)]
        return tuple(sorted(set.intersection(*sets))) if sets else ()

    def check(
        self,
        levels: Sequence[float],
        surf_vars: Sequence[str] | None = None,
        static_vars: Sequence[str] | None = None,
        atmos_vars: Sequence[str] | None = None,
        label: str = "",
    ) -> None:
        """Check that every statistic a batch of these variables and ``levels`` needs exists.

        Args:
            levels: Pressure levels of the batch, hPa.
            surf_vars, static_vars, atmos_vars: The batch's variables (default: the model's).
            label: How to name the model in messages (default: its class).

        Raises:
            NormalisationError: naming every missing level (``key`` ``data.levels``) with
                the variables lacking it and the levels the model supports, or every
                variable without statistics (``key`` ``model.name``).
        """
        who = label or self.model
        surf = self.surf_vars if surf_vars is None else tuple(surf_vars)
        static = self.static_vars if static_vars is None else tuple(static_vars)
        atmos = self.atmos_vars if atmos_vars is None else tuple(atmos_vars)
        bad_vars = []
        for kind, names in (("surface", surf), ("static", static)):
            for v in names:
                try:
                    self.stats(v)
                except NormalisationError:
                    bad_vars.append(f"{v!r} ({kind})")
        bad_vars += [f"{v!r} (atmospheric)" for v in atmos if not stats_levels(v)]
        if bad_vars:
            raise NormalisationError(
                f"{who} has no normalisation statistics for the variable{'s' if len(bad_vars) > 1 else ''} "
                f"{', '.join(bad_vars)} (not in aurora.normalisation's locations and scales"
                + (", nor in the model's surf_stats" if self.surf_stats else "")
                + ")",
                key="model.name",
            )
        from aurora.normalisation import level_to_str

        locations, scales = _tables()
        missing: dict[float, list[str]] = {}
        for level in levels:
            for v in atmos:
                key = f"{v}_{level_to_str(level)}"
                if key not in locations or key not in scales:
                    missing.setdefault(float(level), []).append(key)
        if missing:
            ok = self.supported_levels(atmos)
            lv = ", ".join(_fmt_level(x) for x in sorted(missing))
            keys = ", ".join(k for ks in missing.values() for k in ks)
            raise NormalisationError(
                f"{who} has no normalisation statistics for level{'s' if len(missing) > 1 else ''} {lv} hPa "
                f"({keys} not in aurora.normalisation's locations and scales); "
                + (
                    f"it supports {', '.join(map(_fmt_level, ok))} hPa"
                    if ok
                    else f"no level has them for all of {', '.join(atmos)}"
                ),
                key="data.levels",
            )


def _inputs(cls: type, values: Mapping[str, Any]) -> ModelInputs:
    stats = values.get("surf_stats") or {}
    return ModelInputs(
        model=f"{cls.__module__.split('.')[0]}.{cls.__name__}",
        surf_vars=tuple(values["surf_vars"]),
        static_vars=tuple(values["static_vars"]),
        atmos_vars=tuple(values["atmos_vars"]),
        surf_stats=tuple(sorted((str(k), (float(v[0]), float(v[1]))) for k, v in stats.items())),
        timestep=values["timestep"],
    )


_INPUT_ARGS = ("surf_vars", "static_vars", "atmos_vars", "surf_stats", "timestep")


def model_inputs(spec: ModelSpec) -> ModelInputs:
    """What the model ``spec`` builds takes, read from its Aurora class without building it.

    Each value is the class's default (its own ``__init__`` or, for arguments it passes
    on, the nearest base class's), overridden by the arguments :func:`build_model`
    passes (the tiny architecture). A checkpoint file changes weights only: Aurora's
    checkpoints hold no normalisation statistics or time step. :func:`build_model`
    checks that the built model agrees.
    """
    import functools
    import inspect

    cls = _aurora_class(spec.name)
    bound: dict[str, Any] = {}  # arguments a partial of the class binds win over its defaults
    while isinstance(cls, functools.partial):
        bound = {**cls.keywords, **bound}
        cls = cls.func
    values: dict[str, Any] = {k: v for k, v in bound.items() if k in _INPUT_ARGS}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for name, p in inspect.signature(init).parameters.items():
            if name in _INPUT_ARGS and name not in values and p.default is not inspect.Parameter.empty:
                values[name] = p.default
    if spec.name in TINY_NAMES:
        values.update({k: v for k, v in TINY_ARCH.items() if k in _INPUT_ARGS})
    missing = [k for k in _INPUT_ARGS if k not in values]
    if missing:
        raise RuntimeError(f"{cls.__name__}: no default for {missing} in its signature")
    return _inputs(cls, values)


def inputs_of(model: torch.nn.Module) -> ModelInputs:
    """What a built Aurora model takes (its attributes); see :class:`ModelInputs`."""
    return _inputs(type(model), {k: getattr(model, k) for k in _INPUT_ARGS})
