"""The workflow's settings: the validated config, read into typed sections once.

Defaults live in one place, the JSON schema ``workflow/schemas/config.schema.yaml``:
:func:`validate_config` validates a config in place, fills every default from it and
reads number-like text in number fields as numbers (YAML 1.1, PyYAML's and Snakemake's
reading, takes ``1e-6`` for text), reporting every error at once; :func:`load_config`
reads files with it, and the workflow runs it on its config before anything reads it. :class:`Settings` wraps such a config, or
the part of it that a rule declares (:func:`select`), and builds each section's frozen,
typed object on first use. Asking for a setting the mapping does not hold raises
:class:`UndeclaredSettingError` naming the key, so a rule that reads a setting without
declaring it fails instead of silently using a default.

Execution settings, which choose *how* a job runs but never change its results
(:data:`EXECUTION_KEYS`: the device, activation checkpointing, the perturbation,
extraction and intervention batch sizes), reach scripts as Snakemake ``resources`` and
are not rerun triggers.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

if TYPE_CHECKING:  # pragma: no cover
    from .attribution.cases import AttributionSettings
    from .data.era5 import ERA5Source
    from .data.synthetic import SyntheticSpec
    from .dates import DateSpec
    from .model import ModelSpec
    from .perturbation.settings import Case, PerturbationSettings
    from .regions import Region
    from .storms.catalogue import StormEvent
    from .storms.labels import LabelSpec

__all__ = [
    "EXECUTION_KEYS",
    "SCHEMA_PATH",
    "ConfigValidationError",
    "DataSettings",
    "DownloadSettings",
    "InterventionSettings",
    "LatentSettings",
    "PCASettings",
    "ProbeSettings",
    "RegimeSettings",
    "Settings",
    "UndeclaredSettingError",
    "from_section",
    "load_config",
    "require",
    "leaf_keys",
    "schema",
    "schema_default",
    "select",
    "validate_config",
]

log = logging.getLogger(__name__)

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"

#: Keys that choose how a job runs, never what it computes; passed as resources.
EXECUTION_KEYS: tuple[str, ...] = (
    "model.device",
    "attribution.checkpointing",
    "perturbation.batch_size",
    "latents.batch_size",
    "interventions.batch_size",
)


class UndeclaredSettingError(KeyError):
    """A setting was read that the mapping (a rule's declared settings) does not hold."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


# --------------------------------------------------------------------------------------
# The schema: validation, defaults, keys.
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _load_schema(path: str) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text())


def schema(path: str | Path | None = None) -> dict[str, Any]:
    """The config's JSON schema (a fresh copy)."""
    return json.loads(json.dumps(_load_schema(str(path or SCHEMA_PATH))))


def _walk(node: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    props = node.get("properties")
    if node.get("type") == "object" and props:
        for key, sub in props.items():
            yield from _walk(sub, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix, node


def leaf_keys(path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Every leaf key of the schema (dotted) with its schema node.

    A leaf is a key whose value is not an object with declared properties: scalars,
    arrays and free-form mappings (``regions``, ``storms``, ``perturbation.cases``).
    """
    return {k: dict(v) for k, v in _walk(schema(path))}


def schema_default(key: str, path: str | Path | None = None) -> Any:
    """The schema's default of the dotted ``key``; ``KeyError`` if it has none."""
    node: Mapping[str, Any] = schema(path)
    for part in key.split("."):
        node = node["properties"][part]
    if "default" not in node:
        raise KeyError(f"schema key {key!r} has no default")
    return node["default"]


def _validator(path: str | Path | None):
    import jsonschema

    base = jsonschema.validators.validator_for(schema(path))

    def set_defaults(validator, properties, instance, node):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = json.loads(json.dumps(sub["default"]))
        yield from base.VALIDATORS["properties"](validator, properties, instance, node)

    return jsonschema.validators.extend(base, {"properties": set_defaults})(schema(path))


class ConfigValidationError(ValueError):
    """The config does not satisfy the schema.

    Attributes:
        errors: One message per error, each starting ``config key '<dotted key>':``.
    """

    def __init__(self, errors: Sequence[str]):
        self.errors = list(errors)
        n = len(self.errors)
        head = self.errors[0] if n == 1 else f"{n} errors in the config:\n  " + "\n  ".join(self.errors)
        super().__init__(head)


#: Text that is a decimal number (YAML 1.1 reads ``1e-6`` or ``1.0e6`` as text).
_NUMBER_TEXT = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")


def _yaml_number(value: float | int) -> str:
    """How to write ``value`` so that YAML 1.1 reads a number (``1.0e-6``, ``1.0e+6``, ``1000``)."""
    if isinstance(value, int):
        return str(value)
    if value == 0 or 1e-3 <= abs(value) < 1e6:
        text = repr(value)
        return text if "." in text else f"{text}.0"
    mantissa, exp = f"{value:e}".split("e")
    mantissa = mantissa.rstrip("0")
    return f"{mantissa}{'0' if mantissa.endswith('.') else ''}e{int(exp):+d}"


def _key(path: Iterable[Any]) -> str:
    """A dotted key with list indices in brackets (``probes.alphas[0]``)."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _types(value: Any) -> set[str]:
    return {value} if isinstance(value, str) else set(value or ())


def _number_fixes(err: Any) -> Iterator[tuple[tuple[Any, ...], int | float]]:
    """``(path, number)`` for each number-like text at a place the schema wants a number."""
    if err.validator == "type" and isinstance(err.instance, str) and _NUMBER_TEXT.match(err.instance.strip()):
        want = _types(err.validator_value)
        value = float(err.instance.strip())
        if "number" in want:
            yield tuple(err.absolute_path), value
        elif "integer" in want and value.is_integer():
            yield tuple(err.absolute_path), int(value)
    for sub in err.context or ():
        yield from _number_fixes(sub)


def _message(err: Any) -> list[str]:
    """The messages of one validation error, each naming its dotted key."""
    key = _key(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, Mapping):
        known = set(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in known]
        if extra and known:
            return [
                f"config key '{_key([*err.absolute_path, k])}': unknown key; known here: {sorted(known)}" for k in extra
            ]
    msg = err.message
    if err.validator in ("oneOf", "anyOf") and err.context:
        msg += " (" + "; ".join(dict.fromkeys(c.message for c in err.context)) + ")"
    return [f"config key '{key}': {msg}"]


def validate_config(cfg: dict[str, Any], path: str | Path | None = None) -> list[str]:
    """Validate ``cfg`` against the schema, in place: defaults filled, number text converted.

    YAML 1.1 (PyYAML's ``safe_load``, and Snakemake's config reading) reads ``1e-6`` and
    ``1.0e6`` as text; wherever the schema wants a number (or an integer, for integral
    values) such text is replaced by the number, so the settings, their hash and the
    provenance see numbers. Every other error is collected and reported at once.

    Args:
        cfg: The config (a mapping as read from YAML); changed in place.
        path: The schema (default: :data:`SCHEMA_PATH`).

    Returns:
        One note per converted value, naming the key, the text and how to write it
        (also logged as a warning).

    Raises:
        ConfigValidationError: every remaining error, each naming its dotted key.
    """
    validator = _validator(path)
    notes: list[str] = []
    for _ in range(50):  # a conversion may reveal further errors below it
        fixes = {p: v for err in validator.iter_errors(cfg) for p, v in _number_fixes(err)}
        if not fixes:
            break
        for where, value in sorted(fixes.items(), key=lambda kv: _key(kv[0])):
            node: Any = cfg
            for part in where[:-1]:
                node = node[part]
            text = node[where[-1]]
            node[where[-1]] = value
            why = (
                "is text in YAML 1.1 (an exponent needs a decimal point and a signed exponent there)"
                if "e" in text.lower()
                else "is quoted text"
            )
            note = (
                f"config key '{_key(where)}': {text!r} {why}; read as the number {value!r}. "
                f"Write {_yaml_number(value)} to give a number"
            )
            notes.append(note)
            log.warning("%s", note)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (_key(e.absolute_path), e.message))
    if errors:
        raise ConfigValidationError(list(dict.fromkeys(m for e in errors for m in _message(e))))
    return notes


def load_config(
    config: str | Path | Mapping[str, Any] | None = None, *overlays: str | Path | Mapping[str, Any]
) -> dict[str, Any]:
    """A validated config with every default filled in from the schema.

    Validation is :func:`validate_config`: number-like text in number fields (``1e-6``)
    becomes a number, with a logged note.

    Args:
        config: A YAML file or a mapping (``None``: an empty config, i.e. all defaults).
        overlays: Further files or mappings merged on top, key by key (as Snakemake merges
            ``--configfile`` files).

    Raises:
        ConfigValidationError: (a ``ValueError``) the config does not satisfy the schema;
            the message names every bad key.
    """

    def read(c) -> dict[str, Any]:
        if c is None:
            return {}
        if isinstance(c, Mapping):
            return json.loads(json.dumps(c, default=str))
        return yaml.safe_load(Path(c).read_text()) or {}

    cfg = read(config)
    for extra in overlays:
        cfg = _merge(cfg, read(extra))
    validate_config(cfg)
    return cfg


def _merge(a: dict[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


def _canonical(value: Any) -> Any:
    """Mappings with sorted keys, tuples as lists: a stable ``repr`` for Snakemake's params."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def select(config: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The part of ``config`` holding exactly the dotted ``keys``, as a nested mapping.

    ``select(cfg, ["pca", "regimes.n_permutations"])`` is
    ``{"pca": {...}, "regimes": {"n_permutations": ...}}``, with keys sorted at every level
    (its ``repr`` is what Snakemake compares to decide a rerun). The execution keys
    (:data:`EXECUTION_KEYS`) are left out of any section selected whole.

    Raises:
        KeyError: a key is not in the config, naming it.
    """
    out: dict[str, Any] = {}
    for key in keys:
        node: Any = config
        parts = key.split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, Mapping) or part not in node:
                raise KeyError(f"config key '{'.'.join(parts[: i + 1])}' is not set")
            node = node[part]
        dst = out
        for part in parts[:-1]:
            dst = dst.setdefault(part, {})
        dst[parts[-1]] = node
    for key in EXECUTION_KEYS:  # how a job runs is not a rerun trigger: see the module docstring
        *parents, leaf = key.split(".")
        dst = out
        for part in parents:
            dst = dst.get(part) if isinstance(dst, dict) else None
        if isinstance(dst, dict):
            dst.pop(leaf, None)
    return _canonical(out)


# --------------------------------------------------------------------------------------
# Sections without a home of their own elsewhere.
# --------------------------------------------------------------------------------------


def require(section: str, sec: Mapping[str, Any], key: str) -> Any:
    """``sec[key]``, or :class:`UndeclaredSettingError` naming ``section.key``."""
    if key not in sec:
        raise UndeclaredSettingError(f"setting '{section}.{key}' is not among the settings this job declared")
    return sec[key]


_T = TypeVar("_T")

#: Conversion of a validated value by its field's annotation (``None`` is an empty string).
_SCALARS: dict[Any, Any] = {str: lambda v: "" if v is None else str(v), int: int, float: float, bool: bool}


def _convert(hint: Any, value: Any, key: str) -> Any:
    if hint in _SCALARS:
        return _SCALARS[hint](value)
    if typing.get_origin(hint) is tuple and typing.get_args(hint)[1:] == (Ellipsis,):
        item = typing.get_args(hint)[0]
        return tuple(_convert(item, v, key) for v in (value or ()))
    raise TypeError(f"setting '{key}': no conversion for a field of type {hint!r}; pass its value")


def from_section(cls: type[_T], section: str, sec: Mapping[str, Any], **values: Any) -> _T:
    """The frozen dataclass ``cls`` with each field read from the config section ``sec``.

    Every field is required (:func:`require`) and converted by its annotation: ``str``,
    ``int``, ``float``, ``bool`` and ``tuple[X, ...]`` of those. ``values`` gives fields
    read otherwise (other types, derived values); they are not looked up in ``sec``.

    Raises:
        UndeclaredSettingError: a field's key is not in ``sec``, naming ``section.key``.
        TypeError: a field of another type without a value in ``values``.
    """
    hints = typing.get_type_hints(cls)
    kwargs = dict(values)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in kwargs:
            kwargs[f.name] = _convert(hints[f.name], require(section, sec, f.name), f"{section}.{f.name}")
    return cls(**kwargs)


@dataclasses.dataclass(frozen=True)
class DataSettings:
    """The ``data`` section: where ERA5 comes from (see the schema for each key)."""

    source: str
    path: str | tuple[str, ...]
    static_path: str
    levels: tuple[int, ...]
    on_missing: str
    orientation_check: str
    flipped_times: tuple[str, ...]
    imprecise_times: str
    variable_names: Mapping[str, Mapping[str, str]]

    @classmethod
    def from_config(cls, sec: Mapping[str, Any]) -> DataSettings:
        path = require("data", sec, "path")
        names = require("data", sec, "variable_names") or {}
        return from_section(
            cls,
            "data",
            sec,
            path=path if isinstance(path, str) else tuple(str(p) for p in path),
            variable_names={k: dict(v) for k, v in names.items()},
        )

    def open(self, history_hours: float) -> ERA5Source:
        """Open the store (:func:`aurora_xai.data.era5.open_source`)."""
        import pandas as pd

        from .data.era5 import open_source

        return open_source(
            self.source,
            self.path if isinstance(self.path, str) else list(self.path),
            levels=self.levels,
            history=pd.Timedelta(hours=float(history_hours)),
            static_path=self.static_path or None,
            on_missing=self.on_missing,
            names=self.variable_names or None,
            orientation_check=self.orientation_check,
            flipped_times=self.flipped_times,
            imprecise_times=self.imprecise_times,
        )


@dataclasses.dataclass(frozen=True)
class LatentSettings:
    """The ``latents`` section: the tapped layers and their pooling.

    Attributes:
        tap: The analysis tap (PCA, regimes).
        taps: Further taps read from the same forward passes (``latents.taps``).
        stats: Pooling statistics.
        area_weighted: Weight tokens by the area of their patch.
        published_geometry: Pool with the published token geometry.

    (``latents.batch_size`` is an execution setting: it reaches the extraction as a
    Snakemake resource, not through this section.)
    """

    tap: str
    taps: tuple[str, ...]
    stats: tuple[str, ...]
    area_weighted: bool
    published_geometry: bool

    @property
    def all_taps(self) -> tuple[str, ...]:
        """The analysis tap first, then the further taps, each once."""
        return tuple(dict.fromkeys((self.tap, *self.taps)))

    @classmethod
    def from_config(cls, sec: Mapping[str, Any]) -> LatentSettings:
        return from_section(cls, "latents", sec)


@dataclasses.dataclass(frozen=True)
class PCASettings:
    """The ``pca`` section: which pooled features enter the PCA."""

    region: str
    levels: tuple[str, ...]
    n_components: int
    standardize: bool

    @classmethod
    def from_config(cls, sec: Mapping[str, Any]) -> PCASettings:
        return from_section(cls, "pca", sec)


@dataclasses.dataclass(frozen=True)
class RegimeSettings:
    """The ``regimes`` section: resampling and cross-validation of the regime statistics."""

    n_bootstrap: int
    bootstrap_k: int
    n_permutations: int
    cv_folds: int
    separability_pcs: int

    @classmethod
    def from_config(cls, sec: Mapping[str, Any]) -> RegimeSettings:
        return from_section(cls, "regimes", sec)


@dataclasses.dataclass(frozen=True)
class ProbeSettings:
    """The ``probes`` section: linear probes of the latents and their controls (see the schema)."""

    region: str
    quantities: tuple[str, ...]
    folds: int
    inner_folds: int
    gap_days: int
    alphas: tuple[float, ...]
    n_bootstrap: int
    random_seed: int

    @classmethod
    def from_config(cls, sec: Mapping[str, Any]) -> ProbeSettings:
        return from_section(cls, "probes", sec)


@dataclasses.dataclass(frozen=True)
class DownloadSettings:
    """The ``download`` section: copying the study's subset into ``data.path``."""

    enabled: bool
    method: str
    url: str
    cds_dir: str

    @classmethod
    def from_config(cls, sec: Mapping[str, Any]) -> DownloadSettings:
        return from_section(cls, "download", sec)


@dataclasses.dataclass(frozen=True)
class InterventionSettings:
    """The ``interventions`` section, with the defaults it names resolved.

    Attributes:
        tap: Where to push (``interventions.tap``; empty: ``latents.tap``).
        region: Region pushed and read (``interventions.region``; empty: ``pca.region``).
        directions, quantities, alphas, n_random, dates_per_class, n_boot: As the schema.
    """

    tap: str
    region: str
    directions: tuple[str, ...]
    quantities: tuple[str, ...]
    alphas: tuple[float, ...]
    n_random: int
    dates_per_class: int
    n_boot: int

    @classmethod
    def from_settings(cls, settings: Settings) -> InterventionSettings:
        """Read ``interventions.*`` (and ``latents.tap``/``pca.region`` for empty defaults).

        Raises:
            ValueError: naming ``interventions.region`` for a region not in ``regions``,
                ``interventions.alphas`` when every alpha is zero.
        """
        raw = settings.raw
        tap = str(raw("interventions.tap") or raw("latents.tap"))
        region = str(raw("interventions.region") or raw("pca.region"))
        if region not in settings.regions:
            raise ValueError(f"interventions.region: unknown region {region!r}; known: {sorted(settings.regions)}")
        alphas = tuple(float(a) for a in raw("interventions.alphas"))
        if not any(alphas):
            raise ValueError("interventions.alphas: at least one non-zero alpha is needed")
        return cls(
            tap=tap,
            region=region,
            directions=tuple(str(d) for d in raw("interventions.directions")),
            quantities=tuple(str(q) for q in raw("interventions.quantities")),
            alphas=alphas,
            n_random=int(raw("interventions.n_random")),
            dates_per_class=int(raw("interventions.dates_per_class")),
            n_boot=int(raw("interventions.n_boot")),
        )


# --------------------------------------------------------------------------------------
# All sections together.
# --------------------------------------------------------------------------------------


class Settings:
    """Typed, read-only view of a validated config or of the part a job declared.

    Each section is built once, on first access, into its frozen dataclass:
    ``data`` (:class:`DataSettings`), ``dates`` (:class:`~aurora_xai.dates.DateSpec`),
    ``model`` (:class:`~aurora_xai.model.ModelSpec`), ``latents``, ``regions``
    (name -> :class:`~aurora_xai.regions.Region`, ``globe`` included), ``pca``,
    ``regimes``, ``probes`` (:class:`ProbeSettings`), ``attribution`` (:class:`~aurora_xai.attribution.cases.AttributionSettings`),
    ``perturbation`` (:class:`~aurora_xai.perturbation.settings.PerturbationSettings`),
    ``perturbation_cases``, ``labels`` (:class:`~aurora_xai.storms.labels.LabelSpec`), ``storms``
    (name -> :class:`~aurora_xai.storms.catalogue.StormEvent`), ``synthetic``
    (:class:`~aurora_xai.data.synthetic.SyntheticSpec`) and ``download``.

    Raises:
        UndeclaredSettingError: on access to a section or key the mapping does not hold.
        ValueError: a section's values are inconsistent (the message names the key).
    """

    def __init__(self, config: Mapping[str, Any]):
        self._cfg = config

    def __repr__(self) -> str:
        return f"Settings({sorted(self._cfg)})"

    def raw(self, key: str) -> Any:
        """The plain value of a dotted key (e.g. ``"attribution.map_levels"``)."""
        node: Any = self._cfg
        parts = key.split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, Mapping) or part not in node:
                raise UndeclaredSettingError(
                    f"setting '{'.'.join(parts[: i + 1])}' is not among the settings this job declared"
                )
            node = node[part]
        return node

    def _section(self, name: str) -> Mapping[str, Any]:
        sec = self.raw(name)
        return sec if sec is not None else {}

    @functools.cached_property
    def seed(self) -> int:
        return int(self.raw("seed"))

    @functools.cached_property
    def data(self) -> DataSettings:
        return DataSettings.from_config(self._section("data"))

    @functools.cached_property
    def dates(self) -> DateSpec:
        from .dates import DateSpec

        return DateSpec.from_config(self._section("dates"))

    @functools.cached_property
    def history_hours(self) -> float:
        """``dates.history_hours``, the one date setting most rules need."""
        return float(self.raw("dates.history_hours"))

    @functools.cached_property
    def model(self) -> ModelSpec:
        from .model import ModelSpec

        return ModelSpec.from_config(self._section("model"))

    @functools.cached_property
    def latents(self) -> LatentSettings:
        return LatentSettings.from_config(self._section("latents"))

    @functools.cached_property
    def regions(self) -> dict[str, Region]:
        from .regions import regions_from_config

        return regions_from_config(self._section("regions"))

    @functools.cached_property
    def pca(self) -> PCASettings:
        return PCASettings.from_config(self._section("pca"))

    @functools.cached_property
    def regimes(self) -> RegimeSettings:
        return RegimeSettings.from_config(self._section("regimes"))

    @functools.cached_property
    def probes(self) -> ProbeSettings:
        return ProbeSettings.from_config(self._section("probes"))

    @functools.cached_property
    def attribution(self) -> AttributionSettings:
        from .attribution.cases import AttributionSettings

        return AttributionSettings.from_config(self._section("attribution"))

    @functools.cached_property
    def perturbation(self) -> PerturbationSettings:
        from .perturbation.settings import PerturbationSettings

        return PerturbationSettings.from_config(self._section("perturbation"), self.seed)

    @functools.cached_property
    def perturbation_cases(self) -> dict[str, Case]:
        from .perturbation.settings import Case

        cases = self.raw("perturbation.cases") or {}
        regions = self.regions
        return {name: Case.from_config(name, entry, regions) for name, entry in cases.items()}

    @functools.cached_property
    def labels(self) -> LabelSpec:
        from .storms.labels import LabelSpec

        return LabelSpec.from_config(self._section("labels"), self.regions)

    @functools.cached_property
    def storms(self) -> dict[str, StormEvent]:
        from .storms.catalogue import catalogue_from_config

        return catalogue_from_config(self._section("storms"))

    def storm(self, name: str) -> StormEvent:
        """The catalogued storm ``name`` (the job may declare only ``storms.<name>``)."""
        from .storms.catalogue import catalogue_from_config

        entry = self.raw(f"storms.{name}")
        return catalogue_from_config({name: entry})[name]

    @functools.cached_property
    def synthetic(self) -> SyntheticSpec:
        from .data.synthetic import Storm, SyntheticSpec

        syn = dict(self._section("synthetic"))
        storms = tuple(Storm.from_config(name, entry) for name, entry in (self.raw("storms") or {}).items())
        periods = tuple((str(a), str(b)) for a, b in require("synthetic", syn, "periods"))
        fields = {f.name for f in dataclasses.fields(SyntheticSpec)} - {"seed", "storms", "periods"}
        missing = sorted(k for k in fields if k not in syn and _in_schema(f"synthetic.{k}"))
        if missing:
            raise UndeclaredSettingError(
                f"setting 'synthetic.{missing[0]}' is not among the settings this job declared"
            )
        kwargs = {k: v for k, v in syn.items() if k != "periods"}
        return SyntheticSpec(seed=self.seed, storms=storms, periods=periods, **kwargs)

    @functools.cached_property
    def download(self) -> DownloadSettings:
        return DownloadSettings.from_config(self._section("download"))

    @functools.cached_property
    def interventions(self) -> InterventionSettings:
        return InterventionSettings.from_settings(self)


def _in_schema(key: str) -> bool:
    return key in leaf_keys()


def declared_keys(settings: Mapping[str, Any], prefix: str = "") -> Sequence[str]:
    """The dotted keys a nested settings mapping holds (its leaves)."""
    out: list[str] = []
    for k, v in settings.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping) and v and key not in leaf_keys():
            out.extend(declared_keys(v, key))
        else:
            out.append(key)
    return out
