"""Resampling that respects the serial dependence of daily samples.

Daily samples are autocorrelated and storm days come in runs: one storm gives several
windy days in a row. Shuffled ``k``-fold splits then put neighbouring days of the same
storm on both sides of a split and inflate held-out scores; an i.i.d. bootstrap of the
dates understates the sampling uncertainty; label permutations that break the runs give
a null distribution that is too narrow. This module holds the time-aware versions:

- **Blocked cross-validation** (:class:`BlockedKFold`, :class:`TimeBlocking`): folds are
  made of whole groups of days, either *episodes* (a run of consecutive calendar days
  with the same label: one storm, or one calm spell) or ISO calendar *weeks*, assigned
  to folds by scikit-learn's ``StratifiedGroupKFold``; then every training day within
  ``gap_days`` days of a test day is dropped from the training fold (a buffer against
  the autocorrelation that outlasts a group).
- **Group (cluster) bootstrap weights** (:func:`group_bootstrap_weights`) for intervals
  of statistics of held-out decisions: groups are resampled as units, within strata of
  their labels; :func:`unit_bootstrap_counts` draws the units of one label.
- **Block label permutations** (:func:`unit_permutations`): the labels of whole
  episodes are shuffled among the episodes held out together, which keeps the runs.
- **Circular moving-block bootstrap** of the dates (:func:`circular_block_indices`) with
  an automatic block length (:func:`optimal_block_length`).

Days are integer day numbers (days since 1970-01-01, UTC; :func:`day_numbers`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pandas as pd

from .applicability import NotApplicableError

__all__ = [
    "BLOCKINGS",
    "BlockedKFold",
    "TimeBlocking",
    "autocorrelation",
    "circular_block_indices",
    "day_numbers",
    "episode_groups",
    "group_bootstrap_weights",
    "label_units",
    "optimal_block_length",
    "unit_bootstrap_counts",
    "unit_permutations",
    "week_groups",
]

#: Values of ``regimes.cv_blocking``: group days by label episode, by ISO calendar week,
#: or not at all (shuffled stratified folds, the published protocol).
BLOCKINGS: tuple[str, ...] = ("episode", "week", "none")

_EPOCH = pd.Timestamp("1970-01-01")


def day_numbers(dates) -> np.ndarray:
    """Integer day numbers ``(n,)`` (days since 1970-01-01) of dates.

    Args:
        dates: ``(n,)`` datetimes (numpy ``datetime64``, pandas, or ISO strings);
            timezone-aware ones are converted to UTC first. The time of day is dropped.

    Raises:
        ValueError: if the dates are not one-dimensional or cannot be parsed.
    """
    arr = np.asarray(dates)
    if arr.ndim != 1:
        raise ValueError(f"dates must be one-dimensional, got shape {arr.shape}")
    idx = pd.DatetimeIndex(pd.to_datetime(arr))
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    if idx.hasnans:
        raise ValueError("dates contain missing values (NaT)")
    return ((idx.normalize() - _EPOCH) // pd.Timedelta(days=1)).to_numpy(dtype=np.int64)


def _check_days(days: np.ndarray, n: int | None = None) -> np.ndarray:
    d = np.asarray(days)
    if d.ndim != 1 or not np.issubdtype(d.dtype, np.integer):
        raise ValueError(f"days must be a one-dimensional integer array of day numbers, got {d.dtype} {d.shape}")
    if n is not None and len(d) != n:
        raise ValueError(f"days must have shape ({n},) to match the samples, got {d.shape}")
    return d.astype(np.int64)


def episode_groups(days: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Episode index ``(n,)`` of each sample: runs of consecutive days with one label.

    Samples are taken in time order; a new episode starts where the label changes or
    where the next sample is more than one calendar day later. Episodes are numbered
    0, 1, ... in time order.

    Args:
        days: ``(n,)`` integer day numbers.
        y: ``(n,)`` labels (any values compared for equality).
    """
    d = _check_days(days)
    lab = np.asarray(y)
    if lab.shape != d.shape:
        raise ValueError(f"y must have shape {d.shape} to match days, got {lab.shape}")
    if len(d) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(d, kind="stable")
    ds, ls = d[order], lab[order]
    new = np.r_[True, (np.diff(ds) > 1) | (ls[1:] != ls[:-1])]
    out = np.empty(len(d), dtype=np.int64)
    out[order] = np.cumsum(new) - 1
    return out


def week_groups(days: np.ndarray) -> np.ndarray:
    """ISO calendar week index ``(n,)`` of each sample, numbered 0, 1, ... in time order."""
    d = _check_days(days)
    if len(d) == 0:
        return np.zeros(0, dtype=np.int64)
    iso = pd.DatetimeIndex(pd.to_datetime(d, unit="D")).isocalendar()
    key = iso["year"].to_numpy(dtype=np.int64) * 100 + iso["week"].to_numpy(dtype=np.int64)
    return np.unique(key, return_inverse=True)[1].astype(np.int64)


def _min_distance(a: np.ndarray, b_sorted: np.ndarray) -> np.ndarray:
    """Distance ``(len(a),)`` from each value of ``a`` to the nearest value of sorted ``b``."""
    pos = np.searchsorted(b_sorted, a)
    left = b_sorted[np.clip(pos - 1, 0, len(b_sorted) - 1)]
    right = b_sorted[np.clip(pos, 0, len(b_sorted) - 1)]
    return np.minimum(np.abs(a - left), np.abs(right - a))


class BlockedKFold:
    """``k``-fold splits of whole groups of days with a gap between training and test.

    A scikit-learn style splitter (``split(X, y, groups)``, ``get_n_splits``): groups
    (episodes, weeks) are assigned to folds by ``StratifiedGroupKFold`` (class
    proportions kept as equal across folds as the groups allow), then every training
    sample whose day lies within ``gap_days`` days of any test day is dropped from that
    training fold. With ``gap_days = 0`` the splits are exactly ``StratifiedGroupKFold``'s.

    Args:
        n_splits: Number of folds ``k`` (>= 2).
        days: ``(n,)`` integer day numbers of the samples that ``split`` receives.
        gap_days: Buffer in days (>= 0): training days with ``|day - test day| <= gap_days``
            are left out.
        shuffle: Shuffle the groups before the assignment (as ``StratifiedGroupKFold``).
        random_state: Seed of the shuffle.

    Raises:
        ValueError: for ``n_splits < 2``, a negative gap, or ``days`` that do not match
            the samples.
    """

    def __init__(
        self,
        n_splits: int,
        days: np.ndarray,
        gap_days: int,
        shuffle: bool = True,
        random_state: int | None = None,
    ) -> None:
        if int(n_splits) < 2:
            raise ValueError(f"n_splits must be >= 2, got {n_splits}")
        if int(gap_days) < 0:
            raise ValueError(f"gap_days must be >= 0, got {gap_days}")
        self.n_splits = int(n_splits)
        self.days = _check_days(days)
        self.gap_days = int(gap_days)
        self.shuffle = bool(shuffle)
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None) -> int:  # noqa: N803 - scikit-learn's signature
        return self.n_splits

    def split(self, X, y, groups) -> Iterator[tuple[np.ndarray, np.ndarray]]:  # noqa: N803
        """Yield ``(train_idx, test_idx)`` for ``X`` ``(n, ...)``, labels and groups ``(n,)``."""
        n = len(y)
        if len(self.days) != n or len(groups) != n:
            raise ValueError(f"days {self.days.shape}, y ({n},) and groups {np.shape(groups)} must have equal length")
        from sklearn.model_selection import StratifiedGroupKFold  # not needed by the plotting env

        inner = StratifiedGroupKFold(
            n_splits=self.n_splits,
            shuffle=self.shuffle,
            random_state=self.random_state if self.shuffle else None,
        )
        for train, test in inner.split(np.zeros((n, 1)), y, groups):
            if self.gap_days > 0 and len(test):
                dist = _min_distance(self.days[train], np.unique(self.days[test]))
                train = train[dist > self.gap_days]
            yield train, test


@dataclasses.dataclass(frozen=True)
class TimeBlocking:
    """How the cross-validation of dated samples is blocked in time.

    Attributes:
        kind: ``'episode'`` (runs of consecutive days with one label, see
            :func:`episode_groups`) or ``'week'`` (ISO calendar weeks).
        days: ``(n,)`` integer day numbers of the samples (:func:`day_numbers`).
        gap_days: Training days within this many days of a test day are dropped (>= 0).
        decorrelation_days: The measured decorrelation length of the features (days)
            when the gap was chosen from it (``regimes.cv_gap_days: auto``), else None.
            :meth:`feasible` then lowers the gap only as far as the folds require.

    Raises:
        ValueError: for an unknown kind (``'none'`` means no blocking: pass no
            :class:`TimeBlocking` at all), a negative gap or malformed days.
    """

    kind: str
    days: np.ndarray
    gap_days: int
    decorrelation_days: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in BLOCKINGS or self.kind == "none":
            raise ValueError(
                f"blocking kind must be one of {[b for b in BLOCKINGS if b != 'none']}, got {self.kind!r} "
                "(regimes.cv_blocking 'none' means no TimeBlocking)"
            )
        if int(self.gap_days) < 0:
            raise ValueError(f"gap_days (regimes.cv_gap_days) must be >= 0, got {self.gap_days}")
        object.__setattr__(self, "days", _check_days(self.days))
        object.__setattr__(self, "gap_days", int(self.gap_days))

    @classmethod
    def from_dates(cls, kind: str, dates, gap_days: int, decorrelation_days: int | None = None) -> TimeBlocking:
        """A blocking of samples on ``dates`` (``(n,)`` datetimes, see :func:`day_numbers`)."""
        return cls(kind=kind, days=day_numbers(dates), gap_days=gap_days, decorrelation_days=decorrelation_days)

    @property
    def gap_rule(self) -> str:
        """How the gap was chosen, in words."""
        if self.decorrelation_days is None:
            return f"fixed: {self.gap_days} days (regimes.cv_gap_days)"
        if self.gap_days >= self.decorrelation_days:
            return f"auto: the decorrelation length of the features, {self.decorrelation_days} days"
        return (
            f"auto: the decorrelation length of the features is {self.decorrelation_days} days; lowered to "
            f"{self.gap_days} days, the largest gap leaving both classes in every training fold"
        )

    def feasible(self, y: np.ndarray, k: int, seeds: list[int]) -> TimeBlocking:
        """This blocking, with an automatic gap lowered until every fold is valid.

        A gap chosen from the decorrelation length (``decorrelation_days`` set) can
        leave a training fold without a class when the labels cluster in season; the
        gap is then lowered to the largest one for which the folds of every seed in
        ``seeds`` keep both classes in training (:attr:`gap_rule` says so). A fixed
        gap is returned unchanged (its folds then raise as before).
        """
        if self.decorrelation_days is None or self.gap_days == 0:
            return self

        def ok(gap: int) -> bool:
            trial = dataclasses.replace(self, gap_days=gap)
            try:
                for s in seeds:
                    trial.folds(y, k, s)
            except NotApplicableError:
                return False
            return True

        if ok(self.gap_days):
            return self
        lo, hi = 0, self.gap_days  # ok(lo) assumed, not ok(hi): bisect the largest valid gap
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if ok(mid) else (lo, mid)
        return dataclasses.replace(self, gap_days=lo)

    def subset(self, mask: np.ndarray) -> TimeBlocking:
        """The same blocking of the samples selected by a boolean or index array."""
        return dataclasses.replace(self, days=self.days[np.asarray(mask)])

    def groups(self, y: np.ndarray) -> np.ndarray:
        """Group index ``(n,)`` of every sample for labels ``y`` ``(n,)``."""
        if len(y) != len(self.days):
            raise ValueError(f"y has {len(y)} samples but the blocking has {len(self.days)} days")
        return episode_groups(self.days, y) if self.kind == "episode" else week_groups(self.days)

    def folds(self, y: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Blocked ``k``-fold ``(train_idx, test_idx)`` pairs, deterministic for ``seed``.

        Raises:
            NotApplicableError: if fewer than ``k`` groups hold a day of either class, or
                if a training fold is left without a day of a class once the gap is
                dropped.
        """
        y = np.asarray(y).astype(np.int64)
        if k < 2:
            raise ValueError(f"k must be >= 2 folds, got {k}")
        groups = self.groups(y)
        n_pos = len(np.unique(groups[y == 1]))
        n_neg = len(np.unique(groups[y == 0]))
        if min(n_pos, n_neg) < k:
            raise NotApplicableError(
                f"{k}-fold CV blocked by {self.kind} needs at least {k} {self.kind}s holding days of each class, "
                f"got {n_pos} with storm (1) and {n_neg} with calm (0) days"
            )
        splitter = BlockedKFold(k, self.days, self.gap_days, shuffle=True, random_state=int(seed) % (2**32))
        folds = list(splitter.split(None, y, groups))
        for f, (train, _) in enumerate(folds):
            tr_pos = int(y[train].sum())
            if tr_pos == 0 or tr_pos == len(train):
                raise NotApplicableError(
                    f"fold {f + 1} of {k} (blocked by {self.kind}, gap {self.gap_days} days) leaves "
                    f"{tr_pos} storm and {len(train) - tr_pos} calm training days"
                )
        return folds


# ----------------------------------------------------------------------------- group bootstrap


def group_bootstrap_weights(groups: np.ndarray, y: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap counts ``(n_boot, n)`` of the samples when whole groups are resampled.

    Groups are resampled with replacement within strata of their composition (only
    storm days, only calm days, both), so every resample holds both classes; a sample's
    count is the number of times its group was drawn.

    Args:
        groups: ``(n,)`` group index of every sample.
        y: ``(n,)`` 0/1 labels.
        n_boot: Number of resamples.
        rng: Random generator.
    """
    g = np.asarray(groups)
    lab = np.asarray(y).astype(np.int64)
    if g.shape != lab.shape or g.ndim != 1:
        raise ValueError(f"groups and y must be equal-length 1-d arrays, got {g.shape} and {lab.shape}")
    _, inv = np.unique(g, return_inverse=True)
    n_groups = int(inv.max()) + 1 if len(inv) else 0
    has_pos = np.bincount(inv, weights=lab, minlength=n_groups) > 0
    has_neg = np.bincount(inv, weights=1 - lab, minlength=n_groups) > 0
    stratum = has_pos.astype(int) + 2 * has_neg.astype(int)
    counts = np.zeros((n_boot, n_groups))
    for s in np.unique(stratum):
        members = np.flatnonzero(stratum == s)
        m = len(members)
        counts[:, members] = rng.multinomial(m, np.full(m, 1.0 / m), size=n_boot)
    return counts[:, inv]


def unit_bootstrap_counts(units: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap counts ``(n_boot, n)`` of the samples when whole units are drawn with replacement.

    Every resample draws as many units as there are, uniformly and with replacement (no
    strata: the samples are of one label, e.g. the episodes of :func:`episode_groups`
    of the storm days); a sample's count is the number of times its unit was drawn.

    Args:
        units: ``(n,)`` unit index of every sample, numbered 0, 1, ... (``n >= 1``).
        n_boot: Number of resamples.
        rng: Random generator.
    """
    n_units = int(units.max()) + 1
    draws = rng.integers(0, n_units, size=(n_boot, n_units))
    offsets = (np.arange(n_boot) * n_units)[:, None]
    counts = np.bincount((draws + offsets).ravel(), minlength=n_boot * n_units).reshape(n_boot, n_units)
    return counts[:, units].astype(float)


# ----------------------------------------------------------------------------- block permutations


def label_units(days: np.ndarray, y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Unit index ``(n,)``: the label episodes (:func:`episode_groups`) cut by the groups.

    A unit is a run of consecutive days with one label inside one group; with episode
    groups the units are the episodes, with weeks the parts of episodes in each week.
    Numbered 0, 1, ... in time order of their first day.
    """
    ep = episode_groups(days, y)
    g = np.asarray(groups)
    if g.shape != ep.shape:
        raise ValueError(f"groups must have shape {ep.shape}, got {g.shape}")
    if len(ep) == 0:
        return ep
    pairs = np.stack([ep, np.unique(g, return_inverse=True)[1]], axis=1)
    _, first, inv = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(_check_days(days)[first], kind="stable"), kind="stable")
    return rank[inv.ravel()].astype(np.int64)


def unit_permutations(
    y: np.ndarray,
    units: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    n_permutations: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Label sequences ``(n_permutations, n)`` with whole units' labels permuted within test folds.

    Within each test fold the labels of its units (e.g. the storm and calm episodes
    held out together) are shuffled among those units, and every day takes its unit's
    new label. Runs of labels stay runs (the label process keeps its serial
    dependence, which a permutation of single days destroys), the folds stay valid and
    every test fold keeps its number of storm and calm units; the number of storm days
    may change, as units differ in length.

    Args:
        y: ``(n,)`` labels, constant within every unit.
        units: ``(n,)`` unit index of every sample (:func:`label_units`).
        folds: ``(train_idx, test_idx)`` pairs whose test sets partition the samples,
            each unit inside one test set.
        n_permutations: Number of label sequences.
        rng: Random generator.

    Raises:
        ValueError: if a unit holds two labels or spans two test folds.
    """
    lab = np.asarray(y)
    u = np.asarray(units)
    if u.shape != lab.shape:
        raise ValueError(f"units must have shape {lab.shape}, got {u.shape}")
    out = np.empty((n_permutations, len(lab)), dtype=lab.dtype)
    for _, test in folds:
        ids, inv = np.unique(u[test], return_inverse=True)
        unit_lab = np.empty(len(ids), dtype=lab.dtype)
        unit_lab[inv] = lab[test]
        if np.any(unit_lab[inv] != lab[test]):
            raise ValueError("every unit must hold a single label")
        perm = rng.permuted(np.tile(unit_lab, (n_permutations, 1)), axis=1)
        out[:, test] = perm[:, inv]
    whole = np.concatenate([np.unique(u[test]) for _, test in folds]) if folds else np.zeros(0)
    if len(whole) != len(np.unique(whole)):
        raise ValueError("every unit must lie inside one test fold")
    return out


# ----------------------------------------------------------------------------- block bootstrap


def autocorrelation(series: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelation ``(max_lag + 1,)`` of a series at lags ``0..max_lag``.

    The biased estimator ``sum_t (x_t - m)(x_{t+k} - m) / sum_t (x_t - m)^2`` (lag 0 is 1;
    a constant series gives 0 at every lag above 0).
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"series must be one-dimensional, got shape {x.shape}")
    e = x - x.mean()
    denom = float(e @ e)
    out = np.zeros(max_lag + 1)
    out[0] = 1.0
    if denom <= 0:
        return out
    for k in range(1, min(max_lag, len(x) - 1) + 1):
        out[k] = float(e[k:] @ e[:-k]) / denom
    return out


def optimal_block_length(series: np.ndarray) -> int:
    """Automatic block length of the circular block bootstrap of a series.

    The rule of Politis & White (2004), with the correction of Patton, Politis & White
    (2009) for the circular bootstrap:

    1. ``K = max(5, ceil(sqrt(log10 n)))``; ``m`` is the smallest lag after which ``K``
       consecutive sample autocorrelations are all below ``2 sqrt(log10(n) / n)`` in
       absolute value (searched up to ``ceil(sqrt(n)) + K``); ``M = min(2 max(m, 1),
       ceil(sqrt(n)) + K)``.
    2. With the flat-top lag window ``w(t) = 1`` for ``|t| <= 1/2``, ``2 (1 - |t|)`` up to
       1, and the sample autocovariances ``R(k)``:
       ``G = sum_{|k| <= M} w(k/M) |k| R(k)`` and ``g = sum_{|k| <= M} w(k/M) R(k)``.
    3. ``b = (2 G^2 / D)^(1/3) n^(1/3)`` with ``D = (4/3) g^2`` (circular bootstrap),
       rounded, at least 1 and at most ``ceil(min(3 sqrt(n), n / 3))``.

    White noise gives ``b`` of 1 to a few (median 2 for ``n = 365``: the estimated
    ``G`` is noise); an AR(1) series with coefficient ``phi`` gives blocks that grow with
    ``phi`` (for ``n = 365`` typically about 4 for ``phi = 0.3``, 12 for 0.7, 27 for 0.9).

    References:
        Politis, D. N. and White, H. (2004). Automatic block-length selection for the
        dependent bootstrap. Econometric Reviews 23(1), 53-70.
        Patton, A., Politis, D. N. and White, H. (2009). Correction to "Automatic
        block-length selection for the dependent bootstrap". Econometric Reviews 28(4),
        372-375.

    Args:
        series: ``(n,)`` series in time order (regularly spaced; the block length is in
            samples).

    Returns:
        The block length in samples (1 for fewer than 4 samples or a constant series).

    Raises:
        ValueError: for a non-finite or multi-dimensional series.
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 1 or not np.all(np.isfinite(x)):
        raise ValueError("the block length needs a finite one-dimensional series")
    n = len(x)
    if n < 4:
        return 1
    e = x - x.mean()
    r0 = float(e @ e) / n
    if r0 <= 0:
        return 1
    b_max = int(np.ceil(min(3.0 * np.sqrt(n), n / 3.0)))
    k_n = max(5, int(np.ceil(np.sqrt(np.log10(n)))))
    m_max = int(np.ceil(np.sqrt(n))) + k_n
    acf = autocorrelation(x, m_max + k_n)
    threshold = 2.0 * np.sqrt(np.log10(n) / n)
    small = np.abs(acf) < threshold
    m_hat = None
    for m in range(0, m_max + 1):
        window = small[m + 1 : m + 1 + k_n]
        if len(window) == k_n and bool(np.all(window)):
            m_hat = m
            break
    big_m = min(2 * max(m_hat, 1), m_max) if m_hat is not None else m_max
    big_m = min(big_m, n - 1)
    lags = np.arange(1, big_m + 1)
    t = lags / big_m
    w = np.where(t <= 0.5, 1.0, 2.0 * (1.0 - t))
    acov = acf[1 : big_m + 1] * r0
    g_big = 2.0 * float(np.sum(w * lags * acov))
    g0 = r0 + 2.0 * float(np.sum(w * acov))
    if g0 <= 0:
        return 1
    d_cb = 4.0 / 3.0 * g0**2
    b = (2.0 * g_big**2 / d_cb) ** (1.0 / 3.0) * n ** (1.0 / 3.0)
    return int(min(max(round(b), 1), b_max))


def circular_block_indices(n: int, block: int, n_boot: int, seed: int) -> np.ndarray:
    """Row indices ``(n_boot, n)`` of a circular moving-block bootstrap of ``n`` ordered rows.

    Each resample concatenates ``ceil(n / block)`` blocks of ``block`` consecutive rows
    starting at uniformly drawn rows, wrapping from the last row to the first, and keeps
    the first ``n`` indices. ``block = 1`` is the i.i.d. bootstrap (not the same draws as
    :func:`~aurora_xai.regimes.bootstrap.bootstrap_indices`). Deterministic for ``seed``.

    Raises:
        ValueError: for ``block`` outside ``1..n`` or ``n``, ``n_boot`` below 1.
    """
    if n < 1 or n_boot < 1:
        raise ValueError(f"n and n_boot must be >= 1, got {n} and {n_boot}")
    if not 1 <= block <= n:
        raise ValueError(f"block length must be in 1..{n} for {n} dates, got {block}")
    rng = np.random.default_rng(seed)
    n_blocks = -(-n // block)
    starts = rng.integers(0, n, size=(n_boot, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]) % n
    return idx.reshape(n_boot, n_blocks * block)[:, :n]
