"""Directions in token channel space, from the pooled-latent analyses, and their controls.

A direction is an array ``u`` of shape ``(C, D)`` (latent level, channel) of unit
Frobenius norm: pushing a region's tokens by ``alpha * u`` adds ``alpha * u[c]`` to every
token of latent level ``c`` whose patch centre lies in the region
(:mod:`aurora_xai.interventions.push`).

From a feature-space axis to a token direction
----------------------------------------------
The analyses fit axes on the pooled features of one region
(:func:`~aurora_xai.latents.io.feature_matrix`: ``"<latent level>/<stat>/<channel>"``
for the latent levels of ``pca.levels`` and the statistics of ``latents.stats``),
standardised: ``z = (x - mean) / scale``. A score ``s = w . z`` along an axis ``w``
changes under a uniform shift ``delta`` ``(C, D)`` of the region's tokens through the
pooled ``mean`` features by exactly ``sum_{c,d} w[c, mean, d] / scale[c, mean, d] *
delta[c, d]`` (the area-weighted mean of shifted tokens moves by the shift; the ``std``
features do not move; the ``rms`` features move non-linearly and are left out). The
token direction of an axis is therefore its gradient with respect to the shift,
``u[c, d] ∝ w[c, mean, d] / scale[c, mean, d]`` on the axis's latent levels (zero on the
others), normalised to unit norm; :attr:`Direction.mean_share` records the fraction of
``|w|^2`` on the ``mean`` features.

Registry
--------
:data:`DIRECTIONS` maps a name (``interventions.directions``) to a builder taking a
:class:`DirectionData` (the pooled latents of the tap, the label table and the ``pca``
settings) and returning a :class:`Direction`:

* ``pc1``: the first principal axis of the pooled features (the fit of
  :func:`~aurora_xai.regimes.analysis.pca_dataset`, i.e. ``results/pca/pca.nc``), its
  sign chosen so that summer (JJA) scores exceed winter (DJF) ones when both seasons
  are sampled (else the fit's sign, largest loading positive);
* ``storm_axis``: the storm-minus-calm axis of the standardised features
  (:func:`~aurora_xai.regimes.classifiers.contrastive_axis`, the LDA direction at full
  shrinkage) fitted on all labelled days (one axis, not one per fold), positive towards
  storm;
* the planted directions (:data:`PLANTED_DIRECTIONS`, synthetic store only): the ridge
  probe axis of a term of F's planted dynamics (:data:`aurora_xai.probes.targets.PLANTED`,
  the probe target ``results/probes/targets.nc`` holds it) on the standardised pooled
  features, fitted on every date with the regularisation chosen by blocked folds
  (:func:`~aurora_xai.probes.ridge.probe_axis`), positive towards a larger term. F says which way the forecast
  must move when the latents are pushed along it (:class:`PlantedDirection`).

A further axis on the same pooled features (e.g. a probe's weight vector) is one
builder calling :meth:`Direction.from_feature_axis`. Imports without torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..latents.geometry import LATENT_LEVEL_DIM
from ..latents.io import feature_matrix
from ..perturbation.masks import rng_for

__all__ = [
    "DIRECTIONS",
    "PLANTED_DIRECTIONS",
    "Direction",
    "DirectionData",
    "PlantedDirection",
    "build_directions",
    "choose_dates",
    "predicted_sign",
    "random_directions",
]


@dataclasses.dataclass(frozen=True)
class DirectionData:
    """What the direction builders read.

    Attributes:
        pooled: Pooled latents of the tap (``pooled (date, region, latent_level, stat,
            channel)``).
        labels: The storm/calm label table (``date``, ``label``).
        region: Region whose pooled features define the axes (``pca.region``).
        levels: Latent levels whose features enter (``pca.levels``).
        standardize: Z-score the features (``pca.standardize``; PC1 only: the
            storm axis always standardises, as the storm/calm analysis).
        targets: The probe targets (``results/probes/targets.nc``: ``target (date,
            quantity)``); needed by the planted directions only.
    """

    pooled: xr.Dataset
    labels: pd.DataFrame
    region: str
    levels: tuple[str, ...]
    standardize: bool = True
    targets: xr.Dataset | None = None

    @property
    def latent_levels(self) -> tuple[str, ...]:
        """All latent levels of the pooled latents, in token order."""
        return tuple(str(v) for v in self.pooled[LATENT_LEVEL_DIM].values)

    @property
    def n_channels(self) -> int:
        return int(self.pooled.sizes["channel"])


@dataclasses.dataclass(frozen=True)
class Direction:
    """A unit direction in token channel space.

    Attributes:
        name: Registry name.
        vector: ``(C, D)`` float64, unit Frobenius norm (C latent levels in token order).
        latent_levels: Names of the ``C`` latent levels.
        description: What the axis is, in words.
        mean_share: Fraction of the feature axis's squared norm on the ``mean`` features.
    """

    name: str
    vector: np.ndarray
    latent_levels: tuple[str, ...]
    description: str
    mean_share: float

    @property
    def level_norms(self) -> np.ndarray:
        """``(C,)`` norm of the direction on each latent level."""
        return np.linalg.norm(self.vector, axis=1)

    @classmethod
    def from_feature_axis(
        cls,
        name: str,
        axis: np.ndarray,
        scale: np.ndarray,
        feature_names: Sequence[str],
        latent_levels: Sequence[str],
        n_channels: int,
        description: str,
    ) -> Direction:
        """The token direction of an axis on standardised pooled features (module docstring).

        Args:
            name: Registry name.
            axis: ``(p,)`` axis ``w`` on the standardised features.
            scale: ``(p,)`` standard deviations the features were divided by (ones when
                they were only centred).
            feature_names: ``(p,)`` names ``"<latent level>/<stat>/<channel>"``.
            latent_levels: All latent levels in token order (rows of the result).
            n_channels: Channels ``D`` of the tap.
            description: What the axis is.

        Raises:
            ValueError: naming ``latents.stats`` if no ``mean`` feature is among the
                features, naming ``latents.published_geometry`` for features of the
                published geometry (latent level ``all``), or if the axis has no
                ``mean`` part.
        """
        axis = np.asarray(axis, dtype=np.float64)
        scale = np.asarray(scale, dtype=np.float64)
        if axis.shape != (len(feature_names),) or scale.shape != axis.shape:
            raise ValueError(f"axis {axis.shape}, scale {scale.shape} and {len(feature_names)} feature names differ")
        levels = list(latent_levels)
        if "all" in levels:
            raise ValueError(
                "latents.published_geometry: pooled latents of the published geometry have no latent levels; "
                "interventions need the true token geometry"
            )
        vec = np.zeros((len(levels), n_channels))
        on_mean = np.zeros(len(feature_names), dtype=bool)
        for i, fname in enumerate(feature_names):
            level, stat, channel = fname.split("/")
            if level not in levels:
                raise ValueError(
                    f"latents.published_geometry: feature {fname!r} has no latent level of the token grid "
                    f"{levels}; interventions need the true token geometry"
                )
            if stat == "mean":
                on_mean[i] = True
                vec[levels.index(level), int(channel)] = axis[i] / scale[i]
        if not on_mean.any():
            raise ValueError("latents.stats: interventions map axes through the 'mean' features; add 'mean'")
        norm = float(np.linalg.norm(vec))
        if norm == 0:
            raise ValueError(f"direction {name!r}: the axis has no weight on the 'mean' features")
        share = float(np.sum(axis[on_mean] ** 2) / np.sum(axis**2))
        return cls(name, vec / norm, tuple(levels), description, share)


def _pc1(data: DirectionData) -> Direction:
    from ..regimes.pca import fit_pca

    x, names = feature_matrix(data.pooled, data.region, list(data.levels))
    pca = fit_pca(x, 1, standardize=data.standardize)
    axis = pca.components[0]
    seasons = data.pooled["season"].values.astype(str)
    scores = pca.scores[:, 0]
    orient = "the fit's sign (largest loading positive)"
    if (seasons == "JJA").any() and (seasons == "DJF").any():
        if scores[seasons == "JJA"].mean() < scores[seasons == "DJF"].mean():
            axis = -axis
        orient = "oriented summer (JJA) minus winter (DJF)"
    desc = f"PC1 of the pooled features of region {data.region} ({orient})"
    return Direction.from_feature_axis("pc1", axis, pca.scale, names, data.latent_levels, data.n_channels, desc)


def _storm_axis(data: DirectionData) -> Direction:
    from ..regimes.classifiers import contrastive_axis
    from ..regimes.study import storm_calm_subset

    x, y, *_ = storm_calm_subset(data.pooled, data.labels, data.region, list(data.levels))
    ax = contrastive_axis(x, y)
    _, names = feature_matrix(data.pooled, data.region, list(data.levels))
    desc = (
        f"storm-minus-calm axis of the standardised pooled features of region {data.region} "
        f"({int(y.sum())} storm, {int(len(y) - y.sum())} calm days, all labelled days)"
    )
    return Direction.from_feature_axis(
        "storm_axis", ax.direction, ax.scale, names, data.latent_levels, data.n_channels, desc
    )


@dataclasses.dataclass(frozen=True)
class PlantedDirection:
    """A direction along a term of F's planted dynamics, and what F predicts for it.

    Attributes:
        quantity: The probe target (a name of :data:`aurora_xai.probes.targets.PLANTED`).
        reads: The forecast quantity whose response F predicts (``interventions.quantities``).
        coefficient: F's coefficient (:class:`~aurora_xai.data.dynamics.PlantedDynamics`
            field) whose sign is the predicted sign, or None when the quantity is already
            the increment F adds (predicted sign +1).
        reason: F's term in words.
    """

    quantity: str
    reads: str
    coefficient: str | None
    reason: str


#: Planted direction name -> what it is and what F predicts (``interventions.directions``).
PLANTED_DIRECTIONS: dict[str, PlantedDirection] = {
    "planted_tanh_t850": PlantedDirection(
        "planted_tanh_t850",
        "10v",
        None,
        "F adds beta tanh(T850 anomaly / t_scale), the probed quantity itself, to 10 m v every 6 h",
    ),
    "planted_z500_upstream": PlantedDirection(
        "planted_z500_upstream",
        "msl",
        "kappa",
        "F adds kappa times the 500 hPa geopotential anomaly upstream to msl every 6 h",
    ),
}


def predicted_sign(direction: PlantedDirection, dynamics=None) -> int:
    """The sign (+1 or -1) of the response of ``direction.reads`` to a push along ``direction``.

    Args:
        direction: The planted direction.
        dynamics: F's coefficients (default: the store's,
            :data:`~aurora_xai.data.dynamics.DEFAULT_DYNAMICS`).

    Raises:
        ValueError: if the coefficient is zero (F predicts no response).
    """
    from ..data.dynamics import DEFAULT_DYNAMICS

    if direction.coefficient is None:
        return 1
    value = float(getattr(dynamics or DEFAULT_DYNAMICS, direction.coefficient))
    if value == 0:
        raise ValueError(f"F's {direction.coefficient} is zero: no response predicted for {direction.quantity}")
    return 1 if value > 0 else -1


def _planted(name: str) -> Callable[[DirectionData], Direction]:
    def build(data: DirectionData) -> Direction:
        from ..probes.ridge import probe_axis

        planted = PLANTED_DIRECTIONS[name]
        if data.targets is None or planted.quantity not in [str(q) for q in data.targets["quantity"].values]:
            raise ValueError(
                f"interventions.directions: {name!r} is the probe axis of {planted.quantity!r}; add it to "
                "probes.quantities (the probe targets hold no such quantity)"
            )
        target = data.targets["target"].sel(quantity=planted.quantity)
        dates = pd.DatetimeIndex(data.pooled["date"].values)
        tdates = pd.DatetimeIndex(target["date"].values)
        common = dates.intersection(tdates)
        if len(common) < 10:
            raise ValueError(
                f"interventions.directions: {name!r}: only {len(common)} dates of the pooled latents have a probe target"
            )
        x, names = feature_matrix(data.pooled, data.region, list(data.levels))
        x = x[dates.get_indexer(common)]
        y = target.sel(date=common).values
        axis, scale = probe_axis(x, y, common)
        desc = (
            f"ridge probe axis of {planted.quantity} on the standardised pooled features of region "
            f"{data.region} ({len(common)} dates), positive towards a larger {planted.quantity}"
        )
        return Direction.from_feature_axis(name, axis, scale, names, data.latent_levels, data.n_channels, desc)

    return build


#: Direction name -> builder (``interventions.directions``).
DIRECTIONS: dict[str, Callable[[DirectionData], Direction]] = {
    "pc1": _pc1,
    "storm_axis": _storm_axis,
    **{name: _planted(name) for name in PLANTED_DIRECTIONS},
}


def build_directions(names: Sequence[str], data: DirectionData) -> dict[str, Direction]:
    """Build the named directions.

    Raises:
        ValueError: naming ``interventions.directions`` and the known names for an
            unknown direction; as the builders otherwise.
    """
    unknown = [n for n in names if n not in DIRECTIONS]
    if unknown:
        raise ValueError(f"interventions.directions: unknown directions {unknown}; known: {sorted(DIRECTIONS)}")
    return {n: DIRECTIONS[n](data) for n in names}


def random_directions(direction: Direction, k: int, seed: int) -> np.ndarray:
    """``k`` random controls ``(k, C, D)`` with the per-level norms of ``direction``.

    Each control is Gaussian on every latent level where ``direction`` is non-zero,
    scaled to the direction's norm on that level (zero elsewhere), so it pushes the same
    levels as hard, and its total norm equals the direction's (1). Seeded by
    ``rng_for(seed, "interventions", direction.name)``.
    """
    rng = rng_for(seed, "interventions", direction.name)
    c, d = direction.vector.shape
    g = rng.standard_normal((k, c, d))
    norms = direction.level_norms
    g /= np.linalg.norm(g, axis=2, keepdims=True)
    return g * norms[None, :, None]


def choose_dates(labels: pd.DataFrame, sample_times: Sequence, per_class: int) -> pd.DataFrame:
    """``per_class`` storm and calm days, evenly spread over each class's labelled days.

    Args:
        labels: Label table (``date``, ``label`` in ``storm``/``calm``).
        sample_times: Times of the latent samples; a day's sample is the one on that day.
        per_class: Days per class at most (fewer when a class has fewer days).

    Returns:
        Columns ``time`` (the sample time), ``label`` (1 storm, 0 calm), in time order.

    Raises:
        ValueError: if no labelled day has a sample.
    """
    times = pd.DatetimeIndex(pd.to_datetime(list(sample_times)))
    days = times.normalize()
    rows = []
    for name, y in (("storm", 1), ("calm", 0)):
        lab = pd.DatetimeIndex(pd.to_datetime(labels.loc[labels["label"] == name, "date"])).sort_values()
        lab = lab[lab.isin(days)]
        if not len(lab):
            continue
        idx = np.unique(np.round(np.linspace(0, len(lab) - 1, min(per_class, len(lab)))).astype(int))
        for day in lab[idx]:
            rows.append({"time": times[np.flatnonzero(days == day)[0]], "label": y})
    if not rows:
        raise ValueError("interventions.dates_per_class: no labelled day has a latent sample")
    return pd.DataFrame(rows).sort_values("time").reset_index(drop=True)
