"""The storm/calm report: every separability statistic of the labelled days, as one typed result.

:func:`storm_calm_report` computes the statistics of :mod:`aurora_xai.regimes.cv` and
:mod:`aurora_xai.regimes.separability` for one set of labelled days; each statistic that
the days do not allow is recorded as not applicable with its reason (it is then None in
the :class:`StormCalmReport`), and everything else is still computed.
:meth:`StormCalmReport.to_dict` is its flat ``storm_calm_*`` form, the JSON report of
rule ``score_storm_calm`` and the names of its headline rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from aurora_xai.regimes.applicability import NotApplicableError
from aurora_xai.regimes.blocking import TimeBlocking
from aurora_xai.regimes.classifiers import check_xy
from aurora_xai.regimes.cv import (
    ClassifierCVResult,
    _repeat_seeds,
    circular_shift_pvalue,
    cv_classifier_scores,
    cv_contrastive_auc,
    permutation_pvalue,
    within_season_auc,
)
from aurora_xai.regimes.seasonal import residualise_annual
from aurora_xai.regimes.separability import LinearSeparability, linear_separability, separability_in_pc_space

__all__ = ["PUBLISHED_KEYS", "AllDates", "BlockedScores", "Score", "StormCalmReport", "storm_calm_report"]

#: The published statistics: shuffled stratified folds of single days (i.i.d. days), and
#: for the permutation tests days' labels permuted within test folds. Autocorrelated
#: features and seasonally clustered labels inflate them (kept for comparison; the
#: ``_blocked`` / ``_block`` statistics are the ones that respect the dependence).
PUBLISHED_KEYS: tuple[str, ...] = (
    "storm_calm_auc",
    "storm_calm_balanced_accuracy",
    "storm_calm_perm_p",
    "storm_calm_contrastive_auc",
    "storm_calm_residualised_auc",
    "storm_calm_residualised_perm_p",
    "storm_calm_auc_logistic",
    "storm_calm_contrastive_auc_in_sample",
)


@dataclasses.dataclass(frozen=True)
class AllDates:
    """The features of all dates (labelled or not), for the statistics that need them.

    Attributes:
        x: ``(N, p)`` features of all dates in time order.
        positions: ``(n,)`` row of ``x`` of every labelled day (in the order of the labels).
        day_of_year: ``(N,)`` day of year of every date.
        decorrelation_days: Decorrelation length of the features in dates (the least
            circular shift of the label null).
    """

    x: np.ndarray
    positions: np.ndarray
    day_of_year: np.ndarray
    decorrelation_days: int


T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Score:
    """A cross-validated score and its 95 % percentile interval."""

    value: float
    ci_low: float
    ci_high: float

    @classmethod
    def auc(cls, res: ClassifierCVResult) -> Score:
        """The ROC AUC of a cross-validation and its interval."""
        return cls(res.auc, float(res.auc_ci[0]), float(res.auc_ci[1]))

    @classmethod
    def balanced_accuracy(cls, res: ClassifierCVResult) -> Score:
        """The balanced accuracy of a cross-validation and its interval."""
        return cls(res.balanced_accuracy, float(res.balanced_accuracy_ci[0]), float(res.balanced_accuracy_ci[1]))


@dataclasses.dataclass(frozen=True)
class BlockedScores:
    """The statistics of folds blocked in time (beside the published ones of shuffled days).

    Attributes:
        kind: ``'episode'`` or ``'week'``.
        gap_days: Days left out of training around every test day.
        n_blocks: Groups of the labelled days.
        n_storm_episodes, n_calm_episodes: Label episodes of each class.
        auc, balanced_accuracy, residualised_auc: As in :class:`StormCalmReport`, on the
            blocked folds, with intervals from a bootstrap of whole groups.
        perm_p: Permutation p-value of the blocked AUC under ``perm_null``.
        contrastive_auc: Held-out AUC of the contrastive axis on the blocked folds.
        perm_null: ``'circular_shift'`` (the features of all dates shifted circularly
            against the labels by at least ``perm_min_shift`` dates, ``perm_draws``
            shifts: the null keeps the labels' runs and seasonal clustering) or
            ``'within_folds'`` (label episodes permuted within test folds, when the
            features of all dates are not given; too narrow a null for seasonally
            clustered labels).
        perm_min_shift, perm_draws: Least shift in dates and number of shifts or
            permutations of the null.
        gap_rule: How ``gap_days`` was chosen (:attr:`~aurora_xai.regimes.blocking.TimeBlocking.gap_rule`).
        decorrelation_days: The features' measured decorrelation length (None: not measured).
        residualised_fit: Where the annual harmonics of ``residualised_auc`` were fitted:
            ``'all dates'`` (every date's features, no labels) or ``'training folds'``.
    """

    kind: str
    gap_days: int
    n_blocks: int
    n_storm_episodes: int
    n_calm_episodes: int
    auc: Score | None = None
    balanced_accuracy: Score | None = None
    perm_p: float | None = None
    contrastive_auc: float | None = None
    residualised_auc: Score | None = None
    perm_null: str = "within_folds"
    perm_min_shift: int = 0
    perm_draws: int = 0
    gap_rule: str = ""
    decorrelation_days: int | None = None
    residualised_fit: str = "training folds"


@dataclasses.dataclass(frozen=True)
class StormCalmReport:
    """Headline storm-versus-calm numbers (None: not applicable, see ``not_applicable``).

    Attributes:
        model: The classifier (``'lda'`` or ``'logistic'``).
        k: Folds.
        n, n_storm, n_calm: Labelled days, of which storm and calm.
        n_pcs: ``N = min(n_pcs, n - 2)``, the PCs of the PC-space separability (in
            ``n - 1`` or more PC dimensions any labelling of ``n`` points is separable).
        auc, balanced_accuracy: Repeated stratified CV scores of ``model``
            (:func:`~aurora_xai.regimes.cv.cv_classifier_scores`).
        perm_p: :func:`~aurora_xai.regimes.cv.permutation_pvalue` of the same model.
        separability: :func:`~aurora_xai.regimes.separability.linear_separability` in the
            full standardised space.
        separability_pc: The same in the space of ``n_pcs`` leading PCs.
        contrastive_auc: Held-out AUC of the contrastive axis.
        contrastive_auc_in_sample: The contrastive axis fitted and scored on the same
            days (set by :func:`~aurora_xai.regimes.study.storm_calm_analysis`).
        residualised_auc, residualised_perm_p: The model's AUC and permutation p-value
            after regressing two annual harmonics out of every feature inside each
            training fold.
        auc_logistic: CV AUC of the logistic model (if requested).
        within_season_auc: Season -> its AUC (NaN where skipped).
        blocked: The statistics of folds blocked in time (None without a blocking).
        not_applicable: ``{key: reason}`` (keys as in :meth:`to_dict`) for every
            statistic the labelled days do not allow.
    """

    model: str
    k: int
    n: int
    n_storm: int
    n_calm: int
    n_pcs: int
    auc: Score | None = None
    balanced_accuracy: Score | None = None
    perm_p: float | None = None
    separability: LinearSeparability | None = None
    separability_pc: LinearSeparability | None = None
    contrastive_auc: float | None = None
    contrastive_auc_in_sample: float | None = None
    residualised_auc: Score | None = None
    residualised_perm_p: float | None = None
    auc_logistic: float | None = None
    within_season_auc: Mapping[str, float] | None = None
    blocked: BlockedScores | None = None
    not_applicable: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The flat report: ``storm_calm_<statistic>`` -> value, statistics that are not
        applicable left out, and ``storm_calm_not_applicable``: ``{key: reason}``.

        Keys: ``storm_calm_model``, ``_k``, ``_auc_n`` (days), ``_n_storm``, ``_n_calm``,
        ``_n_pcs``; ``storm_calm_auc``, ``_balanced_accuracy``, ``_residualised_auc``
        (each with ``_ci_low`` / ``_ci_high``); ``_perm_p``, ``_residualised_perm_p``,
        ``_auc_logistic``, ``_contrastive_auc``, ``_contrastive_auc_in_sample``;
        ``_linearly_separable`` (1/0), ``_margin``, ``_trivially_separable`` (1/0);
        ``_linearly_separable_pcN``, ``_margin_pcN``; ``_within_season_auc_<SEASON>``;
        with a blocking ``_auc_blocked``, ``_balanced_accuracy_blocked``,
        ``_residualised_auc_blocked`` (with intervals), ``_contrastive_auc_blocked``,
        ``_perm_p_block``, ``_cv_blocking``, ``_cv_gap_days``, ``_n_blocks``,
        ``_n_storm_episodes``, ``_n_calm_episodes``, ``_perm_p_block_null``,
        ``_perm_p_block_min_shift``, ``_perm_p_block_draws``, ``_cv_gap_rule``,
        ``_cv_decorrelation_days``, ``_residualised_auc_blocked_fit``;
        ``storm_calm_published``: the keys of the published statistics present
        (:data:`PUBLISHED_KEYS`: i.i.d. days, shuffled folds; kept for comparison).
        """
        out: dict[str, Any] = {
            "storm_calm_model": self.model,
            "storm_calm_k": self.k,
            "storm_calm_auc_n": self.n,
            "storm_calm_n_storm": self.n_storm,
            "storm_calm_n_calm": self.n_calm,
            "storm_calm_n_pcs": self.n_pcs,
        }

        def put(key: str, value: Score | float | None) -> None:
            if isinstance(value, Score):
                out.update({key: value.value, f"{key}_ci_low": value.ci_low, f"{key}_ci_high": value.ci_high})
            elif value is not None:
                out[key] = value

        put("storm_calm_auc", self.auc)
        put("storm_calm_balanced_accuracy", self.balanced_accuracy)
        put("storm_calm_perm_p", self.perm_p)
        if self.separability is not None:
            out["storm_calm_linearly_separable"] = int(self.separability.separable)
            out["storm_calm_margin"] = self.separability.margin
            out["storm_calm_trivially_separable"] = int(self.separability.trivially_separable)
        if self.separability_pc is not None:
            out[f"storm_calm_linearly_separable_pc{self.n_pcs}"] = int(self.separability_pc.separable)
            out[f"storm_calm_margin_pc{self.n_pcs}"] = self.separability_pc.margin
        put("storm_calm_contrastive_auc", self.contrastive_auc)
        put("storm_calm_residualised_auc", self.residualised_auc)
        put("storm_calm_residualised_perm_p", self.residualised_perm_p)
        put("storm_calm_auc_logistic", self.auc_logistic)
        for season, auc in (self.within_season_auc or {}).items():
            out[f"storm_calm_within_season_auc_{season}"] = auc
        if self.blocked is not None:
            b = self.blocked
            out.update(
                storm_calm_cv_blocking=b.kind,
                storm_calm_cv_gap_days=b.gap_days,
                storm_calm_n_blocks=b.n_blocks,
                storm_calm_n_storm_episodes=b.n_storm_episodes,
                storm_calm_n_calm_episodes=b.n_calm_episodes,
                storm_calm_cv_gap_rule=b.gap_rule,
                storm_calm_residualised_auc_blocked_fit=b.residualised_fit,
            )
            if b.decorrelation_days is not None:
                out["storm_calm_cv_decorrelation_days"] = b.decorrelation_days
            if b.perm_p is not None:
                out.update(
                    storm_calm_perm_p_block_null=b.perm_null,
                    storm_calm_perm_p_block_min_shift=b.perm_min_shift,
                    storm_calm_perm_p_block_draws=b.perm_draws,
                )
            put("storm_calm_auc_blocked", b.auc)
            put("storm_calm_balanced_accuracy_blocked", b.balanced_accuracy)
            put("storm_calm_perm_p_block", b.perm_p)
            put("storm_calm_contrastive_auc_blocked", b.contrastive_auc)
            put("storm_calm_residualised_auc_blocked", b.residualised_auc)
        put("storm_calm_contrastive_auc_in_sample", self.contrastive_auc_in_sample)
        out["storm_calm_published"] = [key for key in PUBLISHED_KEYS if key in out]
        out["storm_calm_not_applicable"] = dict(self.not_applicable)
        return out


def storm_calm_report(
    x: np.ndarray,
    y: np.ndarray,
    day_of_year: np.ndarray,
    seasons: Sequence[str] | np.ndarray,
    seed: int = 0,
    n_permutations: int = 1000,
    k: int = 5,
    n_pcs: int = 10,
    n_repeats: int = 5,
    n_boot: int = 1000,
    model: str = "lda",
    include_logistic: bool = True,
    blocking: TimeBlocking | None = None,
    all_dates: AllDates | None = None,
) -> StormCalmReport:
    """Headline storm-versus-calm numbers (see :class:`StormCalmReport`).

    A statistic the labelled days do not allow (fewer than ``k`` days of a class for the
    cross-validated ones, fewer than ``k`` groups holding a class for the blocked ones, no
    day of a class, dates covering too little of the year for the annual
    residualisation, fewer than 3 days for the PC space) is None, with its reason under
    ``not_applicable``.

    Args:
        x: ``(n, p)`` features; y: ``(n,)`` 0/1 labels; day_of_year: ``(n,)``;
        seasons: ``(n,)`` season labels. Other arguments as in
            :func:`~aurora_xai.regimes.cv.cv_classifier_scores` and
            :func:`~aurora_xai.regimes.cv.permutation_pvalue`; ``blocking`` None
            computes no blocked statistic (beside the published ones, which use shuffled
            folds of single days). A gap chosen from the decorrelation length is
            lowered where the folds need it (:meth:`~aurora_xai.regimes.blocking.TimeBlocking.feasible`).
        all_dates: The features of all dates. With a blocking, the blocked permutation
            test is then the circular-shift test
            (:func:`~aurora_xai.regimes.cv.circular_shift_pvalue`, least shift the
            decorrelation length), and the blocked residualised AUC regresses the annual
            harmonics fitted on all dates (no labels) out of the features; without,
            label episodes are permuted within test folds and the harmonics are fitted
            on the labelled training days (which, where they line up with seasonal
            labels, also remove real non-seasonal signal).

    Raises:
        ValueError: for malformed input (shapes, non-finite features, labels other than
            0/1, unknown model); never for too few days (those statistics are listed
            under ``not_applicable``).
    """
    x, y = check_xy(x, y, min_per_class=0)
    if blocking is not None and len(blocking.days) != len(y):
        raise ValueError(f"the blocking has {len(blocking.days)} days but there are {len(y)} labelled days")
    if all_dates is not None and all_dates.positions.shape != y.shape:
        raise ValueError(f"all_dates has {all_dates.positions.shape} positions but there are {len(y)} labelled days")
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    npc = min(n_pcs, len(y) - 2)
    if npc < 1:
        npc = n_pcs  # not applicable; reported under the requested name
    notes: dict[str, str] = {}

    def attempt(keys: Sequence[str], compute: Callable[[], T]) -> T | None:
        try:
            return compute()
        except NotApplicableError as err:
            notes.update({key: str(err) for key in keys})
            return None

    def cv(**kwargs) -> ClassifierCVResult:
        return cv_classifier_scores(x, y, model=model, k=k, n_repeats=n_repeats, seed=seed, n_boot=n_boot, **kwargs)

    def separable_pc() -> LinearSeparability:
        if len(y) - 2 < 1:
            raise NotApplicableError(
                f"{len(y)} labelled days leave no PC space below the {max(len(y) - 1, 0)} dimensions in "
                "which any labelling is separable"
            )
        return separability_in_pc_space(x, y, npc)

    def residualised() -> tuple[Score, float]:
        cv_r = cv(day_of_year=day_of_year, n_harmonics=2)
        perm_r = permutation_pvalue(
            x, y, model=model, k=k, n_permutations=n_permutations, seed=seed, day_of_year=day_of_year, n_harmonics=2
        )
        return Score.auc(cv_r), perm_r.p_value

    def within() -> dict[str, float]:
        table = within_season_auc(x, y, seasons, k=k, seed=seed, model=model)
        return {str(row.season): float(row.auc) for row in table.itertuples()}

    main = attempt(["storm_calm_auc", "storm_calm_balanced_accuracy"], cv)
    perm_p = attempt(
        ["storm_calm_perm_p"],
        lambda: permutation_pvalue(x, y, model=model, k=k, n_permutations=n_permutations, seed=seed).p_value,
    )
    sep = attempt(["storm_calm_linearly_separable", "storm_calm_margin"], lambda: linear_separability(x, y))
    sep_pc = attempt([f"storm_calm_linearly_separable_pc{npc}", f"storm_calm_margin_pc{npc}"], separable_pc)
    contrastive = attempt(["storm_calm_contrastive_auc"], lambda: cv_contrastive_auc(x, y, k=k, seed=seed).auc)
    resid = attempt(["storm_calm_residualised_auc", "storm_calm_residualised_perm_p"], residualised)
    logistic = None
    if include_logistic:
        logistic = attempt(
            ["storm_calm_auc_logistic"],
            lambda: cv_classifier_scores(x, y, model="logistic", k=k, n_repeats=1, seed=seed, n_boot=n_boot).auc,
        )
    seasonal = attempt(["storm_calm_within_season_auc"], within)
    blocked = None
    if blocking is not None:
        if min(n_pos, n_neg) >= 1:
            blocking = blocking.feasible(y, k, [seed] + _repeat_seeds(seed, n_repeats - 1))
        groups = blocking.groups(y)
        episodes = TimeBlocking("episode", blocking.days, 0).groups(y)
        main_b = attempt(
            ["storm_calm_auc_blocked", "storm_calm_balanced_accuracy_blocked"], lambda: cv(blocking=blocking)
        )
        if all_dates is not None:
            shift = max(int(all_dates.decorrelation_days), 1)
            perm_res = attempt(
                ["storm_calm_perm_p_block"],
                lambda: circular_shift_pvalue(
                    all_dates.x,
                    all_dates.positions,
                    y,
                    model=model,
                    k=k,
                    seed=seed,
                    blocking=blocking,
                    min_shift=shift,
                    max_shifts=n_permutations,
                ),
            )
        else:
            perm_res = attempt(
                ["storm_calm_perm_p_block"],
                lambda: permutation_pvalue(
                    x, y, model=model, k=k, n_permutations=n_permutations, seed=seed, blocking=blocking
                ),
            )
        contrastive_b = attempt(
            ["storm_calm_contrastive_auc_blocked"],
            lambda: cv_contrastive_auc(x, y, k=k, seed=seed, blocking=blocking).auc,
        )

        def residualised_blocked() -> ClassifierCVResult:
            if all_dates is None:
                return cv(day_of_year=day_of_year, n_harmonics=2, blocking=blocking)
            resid = residualise_annual(all_dates.x, all_dates.day_of_year, n_harmonics=2)
            return cv_classifier_scores(
                resid[all_dates.positions],
                y,
                model=model,
                k=k,
                n_repeats=n_repeats,
                seed=seed,
                n_boot=n_boot,
                blocking=blocking,
            )

        resid_b = attempt(["storm_calm_residualised_auc_blocked"], residualised_blocked)
        blocked = BlockedScores(
            kind=blocking.kind,
            gap_days=blocking.gap_days,
            n_blocks=len(np.unique(groups)),
            n_storm_episodes=len(np.unique(episodes[y == 1])),
            n_calm_episodes=len(np.unique(episodes[y == 0])),
            auc=None if main_b is None else Score.auc(main_b),
            balanced_accuracy=None if main_b is None else Score.balanced_accuracy(main_b),
            perm_p=None if perm_res is None else perm_res.p_value,
            contrastive_auc=contrastive_b,
            residualised_auc=None if resid_b is None else Score.auc(resid_b),
            perm_null="within_folds" if perm_res is None else perm_res.null,
            perm_min_shift=0 if perm_res is None else perm_res.min_shift,
            perm_draws=0 if perm_res is None else perm_res.n_permutations,
            gap_rule=blocking.gap_rule,
            decorrelation_days=(
                blocking.decorrelation_days if all_dates is None else int(all_dates.decorrelation_days)
            ),
            residualised_fit="training folds" if all_dates is None else "all dates",
        )
    return StormCalmReport(
        model=model,
        k=k,
        n=len(y),
        n_storm=n_pos,
        n_calm=n_neg,
        n_pcs=npc,
        auc=None if main is None else Score.auc(main),
        balanced_accuracy=None if main is None else Score.balanced_accuracy(main),
        perm_p=perm_p,
        separability=sep,
        separability_pc=sep_pc,
        contrastive_auc=contrastive,
        residualised_auc=None if resid is None else resid[0],
        residualised_perm_p=None if resid is None else resid[1],
        auc_logistic=logistic,
        within_season_auc=seasonal,
        blocked=blocked,
        not_applicable=notes,
    )
