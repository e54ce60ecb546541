"""The workflow's settings: the validated config, read into typed sections once.

Defaults live in one place, the JSON schema ``workflow/schemas/config.schema.yaml``:
:func:`validate_config` validates a config in place, fills every default from it and
reads number-like text in number fields as numbers (YAML 1.1, PyYAML's and Snakemake's
reading, takes ``1e-6`` for text), reporting every error at once; :func:`load_config`
reads files with it, and the workflow runs it on its config before anything reads it. :class:`Settings` wraps such a config, or
the part of it that a rule declares (:func:`select`), and builds each section's frozen,
typed object on first use. This is the composition root: the section types live beside
the code that consumes them and read their section with the leaf helpers of
:mod:`aurora_xai.sections` (re-exported here); they never import this module. Asking for a setting the mapping does not hold raises
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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import yaml

from .attribution.cases import AttributionSettings, case_event, day_settings
from .attribution.validation_settings import ValidationSettings
from .data.needs import StoreReads
from .data.settings import DataSettings, DownloadSettings
from .data.synthetic import SyntheticSpec
from .dates import DateSpec
from .features.settings import FeatureSettings, SteeringSettings
from .interventions.settings import InterventionSettings
from .latents.settings import LatentSettings
from .model import SURROGATE_CHECKPOINT, ModelSpec
from .perturbation.settings import Case, PerturbationSettings
from .probes.settings import ProbeSettings
from .regimes.settings import PCASettings, RegimeSettings
from .regions import Region, regions_from_config
from .sections import (
    SCHEMA_PATH,
    UndeclaredSettingError,
    from_section,
    leaf_keys,
    require,
    schema,
    schema_default,
    section_defaults,
)
from .storms.catalogue import StormEvent, catalogue_from_config
from .storms.labels import LabelSpec
from .storms.tracks import Storm
from .surrogate.samples import even_pick
from .surrogate.settings import SurrogateSettings

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
    "section_defaults",
    "select",
    "view_keys",
    "validate_config",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Keys that choose how a job runs, never what it computes; passed as resources.
EXECUTION_KEYS: tuple[str, ...] = (
    "model.device",
    "attribution.checkpointing",
    "perturbation.batch_size",
    "latents.batch_size",
    "interventions.batch_size",
)


# --------------------------------------------------------------------------------------
# The schema: validation, defaults, keys.
# --------------------------------------------------------------------------------------


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


def view_keys(*items: str | type) -> list[str]:
    """Dotted config keys: a key as it is, a per-use view type (a frozen dataclass with
    ``SECTION``, read by :meth:`Settings.view`) as the keys of its fields, so that a rule
    declaring a view declares exactly what the view reads, new fields included."""
    out: list[str] = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        else:
            out.extend(f"{item.SECTION}.{f.name}" for f in dataclasses.fields(item))  # type: ignore[attr-defined, arg-type]
    return out


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


# --------------------------------------------------------------------------------------
# All sections together.
# --------------------------------------------------------------------------------------


class Settings:
    """Typed, read-only view of a validated config or of the part a job declared.

    Each section is built once, on first access, into its frozen dataclass, defined
    beside the code that consumes it: ``data`` and ``download``
    (:mod:`aurora_xai.data.settings`), ``dates`` (:class:`~aurora_xai.dates.DateSpec`),
    ``model`` (:class:`~aurora_xai.model.ModelSpec`), ``latents``
    (:class:`~aurora_xai.latents.settings.LatentSettings`), ``regions`` (name ->
    :class:`~aurora_xai.regions.Region`, ``globe`` included), ``pca`` and ``regimes``
    (:mod:`aurora_xai.regimes.settings`), ``probes``
    (:class:`~aurora_xai.probes.settings.ProbeSettings`), ``attribution``
    (:class:`~aurora_xai.attribution.cases.AttributionSettings`), ``perturbation``
    (:class:`~aurora_xai.perturbation.settings.PerturbationSettings`),
    ``perturbation_cases``, ``labels`` (:class:`~aurora_xai.storms.labels.LabelSpec`),
    ``storms`` (name -> :class:`~aurora_xai.storms.catalogue.StormEvent`), ``synthetic``
    (:class:`~aurora_xai.data.synthetic.SyntheticSpec`) and ``interventions``
    (:class:`~aurora_xai.interventions.settings.InterventionSettings`) and ``surrogate``
    (:class:`~aurora_xai.surrogate.settings.SurrogateSettings`); beside them a few
    values composed from several sections (``history_hours``, ``attribution_days``,
    ``labels_data``, ``store_reads``, :meth:`case_event`). Where a rule reads only a
    part of a section, :meth:`view` builds that part's own type (its fields are the keys
    the rule declares). Scripts read these typed values only; the plain mapping is private.

    Raises:
        UndeclaredSettingError: on access to a section or key the mapping does not hold.
        ValueError: a section's values are inconsistent (the message names the key).
    """

    def __init__(self, config: Mapping[str, Any]):
        self._cfg = config

    def __repr__(self) -> str:
        return f"Settings({sorted(self._cfg)})"

    def view(self, cls: type[_T]) -> _T:
        """The part ``cls`` of a section that one use reads: a frozen dataclass whose
        fields are keys of the section ``cls.SECTION`` (e.g.
        :class:`~aurora_xai.regimes.settings.BootstrapSettings`), read with
        :func:`~aurora_xai.sections.from_section`; a rule declares exactly those keys.

        Raises:
            UndeclaredSettingError: a field's key is not declared, naming it.
        """
        return from_section(cls, cls.SECTION, self._section(cls.SECTION))  # type: ignore[attr-defined]

    def _raw(self, key: str) -> Any:
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
        sec = self._raw(name)
        return sec if sec is not None else {}

    @functools.cached_property
    def seed(self) -> int:
        return int(self._raw("seed"))

    @functools.cached_property
    def data(self) -> DataSettings:
        return DataSettings.from_config(self._section("data"))

    @functools.cached_property
    def dates(self) -> DateSpec:
        return DateSpec.from_config(self._section("dates"))

    @functools.cached_property
    def history_hours(self) -> float:
        """``dates.history_hours``, the one date setting most rules need."""
        return float(self._raw("dates.history_hours"))

    @functools.cached_property
    def target_hour(self) -> int:
        """``dates.target_hour`` (the labelled days' sample hour)."""
        return int(self._raw("dates.target_hour"))

    @functools.cached_property
    def model(self) -> ModelSpec:
        return ModelSpec.from_config(self._section("model"))

    @functools.cached_property
    def latents(self) -> LatentSettings:
        return LatentSettings.from_config(self._section("latents"))

    @functools.cached_property
    def regions(self) -> dict[str, Region]:
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
        return AttributionSettings.from_config(self._section("attribution"))

    @functools.cached_property
    def attribution_days(self) -> AttributionSettings:
        """The computation keys of the labelled days (:func:`~aurora_xai.attribution.cases.day_settings`)."""
        return day_settings(self._section("attribution"))

    @functools.cached_property
    def validation(self) -> ValidationSettings:
        return ValidationSettings.from_config(self._section("validation"))

    @functools.cached_property
    def features(self) -> FeatureSettings:
        """``features.enabled`` and the feature taps (``features.taps`` resolved against
        ``latents.tap`` and ``latents.taps``)."""
        return FeatureSettings.from_config(
            self._section("features"), self._raw("latents.tap"), list(self._raw("latents.taps") or [])
        )

    @functools.cached_property
    def steering(self) -> SteeringSettings:
        """``features.steering`` with an empty tap resolved to ``latents.tap``."""
        return SteeringSettings.from_config(self._section("features.steering"), self._raw("latents.tap"))

    @functools.cached_property
    def steering_region(self) -> str:
        """The region ``features.steering`` steers and reads: ``interventions.region``, or
        ``pca.region`` when it is empty (as the interventions)."""
        return str(self._raw("interventions.region") or self._raw("pca.region"))

    def case_event(self, case: str) -> StormEvent:
        """The catalogued storm of the attribution case ``case`` (``storms.<case>`` is
        declared), checked by :func:`~aurora_xai.attribution.cases.case_event`."""
        try:
            event = self.storm(case)
        except KeyError:
            event = None
        return case_event(case, event)

    @functools.cached_property
    def perturbation(self) -> PerturbationSettings:
        return PerturbationSettings.from_config(self._section("perturbation"), self.seed)

    @functools.cached_property
    def perturbation_cases(self) -> dict[str, Case]:
        cases = self._raw("perturbation.cases") or {}
        regions = self.regions
        return {name: Case.from_config(name, entry, regions) for name, entry in cases.items()}

    @functools.cached_property
    def labels(self) -> LabelSpec:
        return LabelSpec.from_config(self._section("labels"), self.regions)

    @functools.cached_property
    def labels_data(self) -> DataSettings:
        """The store the labels read: ``data``, or ``labels.path`` (with ``labels.source``,
        else ``data.source``) where it is set."""
        labels = self._section("labels")
        data = self.data
        if require("labels", labels, "path"):
            source = require("labels", labels, "source") or data.source
            data = dataclasses.replace(data, path=labels["path"], source=source, static_path="")
        return data

    @functools.cached_property
    def storms(self) -> dict[str, StormEvent]:
        return catalogue_from_config(self._section("storms"))

    def storm(self, name: str) -> StormEvent:
        """The catalogued storm ``name`` (the job may declare only ``storms.<name>``)."""
        entry = self._raw(f"storms.{name}")
        return catalogue_from_config({name: entry})[name]

    @functools.cached_property
    def synthetic(self) -> SyntheticSpec:
        storms = tuple(Storm.from_config(name, entry) for name, entry in (self._raw("storms") or {}).items())
        sec = self._section("synthetic")
        periods = tuple((str(a), str(b)) for a, b in require("synthetic", sec, "periods"))
        return from_section(
            SyntheticSpec, "synthetic", sec, seed=self.seed, storms=storms, periods=periods, compress=STORE_COMPRESSED
        )

    @functools.cached_property
    def surrogate(self) -> SurrogateSettings:
        """The training keys of ``surrogate`` (:class:`~aurora_xai.surrogate.settings.SurrogateSettings`)."""
        return self.view(SurrogateSettings)

    @functools.cached_property
    def download(self) -> DownloadSettings:
        return DownloadSettings.from_config(self._section("download"))

    @functools.cached_property
    def interventions(self) -> InterventionSettings:
        sec = self._section("interventions")
        return InterventionSettings.from_config(
            sec,
            tap=sec.get("tap") or self._raw("latents.tap"),
            region=sec.get("region") or self._raw("pca.region"),
        )

    @functools.cached_property
    def store_reads(self) -> StoreReads:
        """What the rules reading the store in ``data.path`` read (:mod:`aurora_xai.data.needs`)."""
        history = self.dates.history
        attribution_cases = tuple(self.storm(name).case_time for name in self._raw("attribution.cases"))
        labels_read_store = not self._raw("labels.path")
        composites = bool(self._raw("attribution.composites"))
        label_times = self.labels.times() if labels_read_store or composites else pd.DatetimeIndex([])
        return StoreReads(
            dates=self.dates.times(),
            history=history,
            attribution_cases=tuple(t for t in attribution_cases if t is not None),
            perturbation_cases=tuple(c.time for c in self.perturbation_cases.values() if c.time is not None),
            labels=label_times if labels_read_store else pd.DatetimeIndex([]),
            labelled_days=(
                label_times.normalize() + pd.Timedelta(hours=self.target_hour) if composites else pd.DatetimeIndex([])
            ),
            **self._surrogate_and_validation_reads(),
        )

    def _surrogate_and_validation_reads(self) -> dict[str, Any]:
        """The store times the surrogate's training and scoring and the attribution checks read."""
        out: dict[str, Any] = {}
        trained = self._raw("model.name") == "surrogate" and self.model.checkpoint == SURROGATE_CHECKPOINT
        if trained:
            first, last = self.surrogate.period
            out["surrogate_period"] = pd.date_range(first, last, freq="6h")
            picked = even_pick(self.dates.times(), int(self._raw("surrogate.eval_times")))
            out["surrogate_scored"] = picked + pd.Timedelta(hours=6)
        if self._raw("validation.enabled"):
            names = self._raw("validation.cases") or self._raw("attribution.cases")
            times = tuple(self.storm(name).case_time for name in names)
            out["validation_cases"] = tuple(t for t in times if t is not None)
        return out


#: The workflow writes the synthetic store with compressed chunks.
STORE_COMPRESSED = True


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
