"""Evaluation of the SAEs of a tap: held-out reconstruction, dead and dense latents with
week-bootstrap intervals, stability across seeds with its chance level, and SAE probes
against dense probes (needs torch).

**Held-out metrics** (:func:`heldout_metrics`). One pass over the held-out dates'
tokens (:func:`aurora_xai.features.split.holdout_dates`) accumulates, per held-out ISO
week ``w``, the squared reconstruction error ``E_w``, the token count ``n_w``, the
channel sums ``S_w`` and sums of squares ``Q_w`` ``(d,)``, and the firing counts
``F_w`` ``(n_latents,)``. With week counts ``c_w`` (1 each for the estimate; a
resample of whole weeks with replacement for the bootstrap):

* FVU ``= sum_w c_w E_w / sum_ch (sum_w c_w Q_w - (sum_w c_w S_w)^2 / sum_w c_w n_w)``
  (:func:`aurora_xai.features.sae.evaluate_sae`'s, exactly, for ``c = 1``);
* dead fraction: the fraction of latents with ``sum_w c_w F_w = 0``;
* dense fraction: the fraction with ``sum_w c_w F_w / sum_w c_w n_w > threshold``.

The interval is the percentile interval of ``n_boot`` such resamples (a block
bootstrap with weeks as blocks: tokens of one week, and of one date, are correlated).
A latent dead in the sample is dead in every resample, so the dead fraction's interval
only reaches down (a resample can drop the weeks where a rare latent fires).

**Seed stability** (:func:`seed_stability`): the median over the first SAE's decoder
columns of the best-match absolute cosine with the second's
(:func:`~aurora_xai.features.sae.best_match_cosine`); its chance level
(:func:`chance_stability`) is the same statistic for two freshly initialised SAEs of
the same sizes (the decoders a training starts from, which share nothing): what the
median is without any learned structure. It is a description (no test, no interval):
two seeds give one value.

**SAE probes** (:func:`region_means`): per date, the mean over the tokens of a region
(token centres inside the region's box, all latent levels) of the SAE code ``(n,)``
and of the tokens themselves ``(d,)``; ridge probes of the probe targets on either are
fitted with :func:`aurora_xai.probes.ridge.fit_probes` on the same outer folds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..regions import Region
from .sae import TopKSAE, best_match_cosine
from .split import holdout_weeks, week_counts

__all__ = [
    "HeldoutMetrics",
    "NoRegionTokens",
    "WeekSums",
    "chance_stability",
    "heldout_metrics",
    "region_means",
    "sae_evaluation_table",
    "sae_headline",
    "seed_stability",
    "store_dates",
    "week_sums",
]


class NoRegionTokens(ValueError):
    """No token of a tap has its centre inside the region on some dates (a coarse tap)."""


@dataclasses.dataclass(frozen=True)
class WeekSums:
    """Per held-out week sums of one SAE's evaluation (see the module docstring).

    Attributes:
        weeks: ``(m,)`` week labels (``iso_year * 100 + week``).
        err: ``(m,)`` squared reconstruction error.
        n: ``(m,)`` tokens.
        sx, sxx: ``(m, d)`` channel sums and sums of squares.
        fired: ``(m, n_latents)`` tokens on which each latent fired.
    """

    weeks: np.ndarray
    err: np.ndarray
    n: np.ndarray
    sx: np.ndarray
    sxx: np.ndarray
    fired: np.ndarray


@dataclasses.dataclass(frozen=True)
class HeldoutMetrics:
    """FVU, dead and dense fractions with their week-bootstrap intervals.

    Attributes:
        fvu, dead_fraction, dense_fraction: The estimates over all held-out tokens.
        fvu_ci, dead_ci, dense_ci: ``(low, high)`` percentile intervals.
        n_tokens: Held-out tokens; n_weeks: held-out weeks (the bootstrap's blocks).
        firing_rate: ``(n_latents,)`` fraction of held-out tokens each latent fires on.
    """

    fvu: float
    fvu_ci: tuple[float, float]
    dead_fraction: float
    dead_ci: tuple[float, float]
    dense_fraction: float
    dense_ci: tuple[float, float]
    n_tokens: int
    n_weeks: int
    firing_rate: np.ndarray


@torch.no_grad()
def week_sums(sae: TopKSAE, batches: Iterable[Any]) -> WeekSums:
    """Accumulate :class:`WeekSums` over batches with ``tokens (b, d)`` and ``date (b,)``
    (seconds since 1970-01-01 UTC, as :class:`~aurora_xai.features.tokens.TokenBatch`).

    Raises:
        ValueError: for no tokens or a batch without dates.
    """
    acc: dict[int, list[Any]] = {}
    for batch in batches:
        if batch.date is None:
            raise ValueError("week_sums needs each token's date")
        x = torch.from_numpy(np.ascontiguousarray(batch.tokens, dtype=np.float32))
        values, indices = sae.encode(x)
        err = (x - sae.decode(values, indices)).double().pow(2).sum(1).numpy()
        weeks = holdout_weeks(np.asarray(batch.date).astype("datetime64[s]"))
        xd = x.double().numpy()
        for w in np.unique(weeks):
            sel = weeks == w
            a = acc.setdefault(
                int(w), [0.0, 0, np.zeros(sae.d_in), np.zeros(sae.d_in), np.zeros(sae.n_latents, np.int64)]
            )
            a[0] += float(err[sel].sum())
            a[1] += int(sel.sum())
            a[2] += xd[sel].sum(0)
            a[3] += (xd[sel] ** 2).sum(0)
            v, i = values[torch.from_numpy(sel)], indices[torch.from_numpy(sel)]
            a[4] += np.bincount(i[v > 0].numpy(), minlength=sae.n_latents)
    if not acc:
        raise ValueError("no tokens to evaluate")
    weeks = np.array(sorted(acc), dtype=np.int64)
    return WeekSums(
        weeks=weeks,
        err=np.array([acc[w][0] for w in weeks]),
        n=np.array([acc[w][1] for w in weeks], dtype=np.int64),
        sx=np.stack([acc[w][2] for w in weeks]),
        sxx=np.stack([acc[w][3] for w in weeks]),
        fired=np.stack([acc[w][4] for w in weeks]),
    )


def _metrics(s: WeekSums, c: np.ndarray, dense_threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fvu, dead, dense)``, each ``(b,)``, for week counts ``c`` ``(b, m)``."""
    n = c @ s.n
    total = (c @ s.sxx - (c @ s.sx) ** 2 / n[:, None]).sum(1)
    fvu = (c @ s.err) / np.maximum(total, 1e-300)
    fired = c @ s.fired
    dead = (fired == 0).mean(1)
    dense = (fired / n[:, None] > dense_threshold).mean(1)
    return fvu, dead, dense


def heldout_metrics(
    sums: WeekSums, dense_threshold: float = 0.1, n_boot: int = 1000, seed: int = 0, ci_level: float = 0.95
) -> HeldoutMetrics:
    """The estimates and week-bootstrap intervals of :class:`HeldoutMetrics`.

    Args:
        sums: The per-week sums.
        dense_threshold: A latent firing on more than this fraction is dense.
        n_boot: Resamples of whole weeks (with replacement, as many as there are).
        seed: Seed of the resamples.
        ci_level: Level of the intervals.

    Raises:
        ValueError: for ``n_boot < 1``.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    m = len(sums.weeks)
    fvu, dead, dense = (float(v[0]) for v in _metrics(sums, np.ones((1, m)), dense_threshold))
    counts = week_counts(m, n_boot, seed)
    b_fvu, b_dead, b_dense = _metrics(sums, counts, dense_threshold)
    tail = 100 * (1 - ci_level) / 2

    def ci(v: np.ndarray) -> tuple[float, float]:
        lo, hi = np.percentile(v, [tail, 100 - tail])
        return float(lo), float(hi)

    n = int(sums.n.sum())
    return HeldoutMetrics(
        fvu=fvu,
        fvu_ci=ci(b_fvu),
        dead_fraction=dead,
        dead_ci=ci(b_dead),
        dense_fraction=dense,
        dense_ci=ci(b_dense),
        n_tokens=n,
        n_weeks=m,
        firing_rate=sums.fired.sum(0) / n,
    )


def seed_stability(first: TopKSAE, second: TopKSAE) -> float:
    """Median over ``first``'s decoder columns of the best-match absolute cosine with
    ``second``'s (1 for identical decoders; order and sign of the latents do not matter).

    Raises:
        ValueError: for SAEs of different input channels.
    """
    if first.d_in != second.d_in:
        raise ValueError(f"SAEs of {first.d_in} and {second.d_in} channels")
    return float(np.median(best_match_cosine(first.W_dec.detach(), second.W_dec.detach())))


def chance_stability(d_in: int, n_latents: int, k: int, seeds: tuple[int, int] = (0, 1)) -> float:
    """:func:`seed_stability` of two freshly initialised SAEs (seeds ``seeds``): the
    chance level of the statistic for these sizes."""
    return seed_stability(TopKSAE(d_in, n_latents, k, seed=seeds[0]), TopKSAE(d_in, n_latents, k, seed=seeds[1]))


@torch.no_grad()
def region_means(
    sae: TopKSAE, batches: Iterable[Any], region: Region, dates: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per date, the mean SAE code and the mean token over the tokens inside ``region``.

    Args:
        sae: The SAE.
        batches: Batches with ``tokens``, ``date`` (seconds since 1970-01-01 UTC),
            ``latitude`` and ``longitude`` (:class:`~aurora_xai.features.tokens.TokenBatch`).
        region: The region (token centres inside its box count, every latent level).
        dates: ``(n_dates,)`` datetime64 dates wanted, in the order of the rows returned.

    Returns:
        ``(codes (n_dates, n_latents), tokens (n_dates, d))`` float64.

    Raises:
        NoRegionTokens: a wanted date has no token in the region (naming it).
    """
    want = np.asarray(dates).astype("datetime64[s]").astype(np.int64)
    row = {int(t): i for i, t in enumerate(want)}
    codes = np.zeros((len(want), sae.n_latents))
    tokens = np.zeros((len(want), sae.d_in))
    count = np.zeros(len(want))
    for batch in batches:
        inside = region.lat_mask(batch.latitude) & region.lon_mask(batch.longitude)
        rows = np.array([row.get(int(t), -1) for t in batch.date])
        sel = inside & (rows >= 0)
        if not sel.any():
            continue
        x = torch.from_numpy(np.ascontiguousarray(batch.tokens[sel], dtype=np.float32))
        z = sae.dense_code(*sae.encode(x)).double().numpy()
        r = rows[sel]
        np.add.at(codes, r, z)
        np.add.at(tokens, r, x.double().numpy())
        np.add.at(count, r, 1.0)
    if (count == 0).any():
        missing = np.asarray(dates)[count == 0]
        raise NoRegionTokens(f"no tokens in region {region.name!r} on {len(missing)} dates, e.g. {missing[:3]}")
    return codes / count[:, None], tokens / count[:, None]


def _stream(paths: list[Path], batch_size: int, keep: Any = None) -> Any:
    from .tokens import TokenStream

    return TokenStream(paths, batch_size=batch_size, shuffle=False, keep=keep)


def store_dates(paths: Sequence[str | Path]) -> np.ndarray:
    """``(m,)`` sorted distinct dates (datetime64[s]) of the tokens of the stores."""
    import zarr

    parts = [np.unique(np.asarray(zarr.open_group(str(p), mode="r")["date"][:])) for p in paths]
    return np.unique(np.concatenate(parts)).astype("datetime64[s]")


def sae_evaluation_table(
    tap: str,
    trained: Sequence[str | Path],
    random: str | Path,
    stores: Sequence[str | Path],
    random_stores: Sequence[str | Path],
    holdout_every: int,
    dense_threshold: float,
    n_boot: int,
    seed: int,
    probes: Mapping[str, Any] | None = None,
    batch_size: int = 4096,
) -> pd.DataFrame:
    """Every metric of one tap's SAEs (see the module docstring), one row each.

    Args:
        tap: The tap.
        trained: The trained model's SAE files, one per seed (the first analysed; the
            second, if any, for the seed stability).
        random: The random model's SAE (first seed).
        stores, random_stores: The tap's token stores (every shard) of either model.
        holdout_every, dense_threshold, n_boot: ``features.evaluation``.
        seed: Seed of the bootstrap (and of the probes' folds).
        probes: None (no probes), or ``targets`` (the probe targets file), ``quantities``,
            ``region`` (a :class:`~aurora_xai.regions.Region`), ``k``, ``inner_k``,
            ``gap_days``, ``alphas``, ``n_boot``.
        batch_size: Tokens read at a time (memory, not results).

    Returns:
        Rows ``tap, model, metric, features, value, ci_low, ci_high, n, n_unit, detail``;
        ``metric`` one of ``fvu``, ``dead_fraction``, ``dense_fraction`` (model trained
        and random), ``seed_stability``, ``seed_stability_chance``, ``probe_r2_<q>``
        (``features`` ``sae`` or ``dense``).

    Probes of a tap with no token centre inside the region (a coarse tap on a coarse grid)
    are rows without a value, ``detail`` saying why.

    Raises:
        ValueError: for no held-out tokens.
    """
    from ..probes.ridge import fit_probes, week_folds
    from ..regimes.blocking import day_numbers
    from .sae import load_sae
    from .split import holdout_dates

    def keep(t: np.ndarray) -> np.ndarray:
        return holdout_dates(t, holdout_every)

    rows: list[dict[str, Any]] = []
    saes = [load_sae(p)[0] for p in trained]
    for model, sae, paths in (
        ("trained", saes[0], [Path(p) for p in stores]),
        ("random", load_sae(random)[0], [Path(p) for p in random_stores]),
    ):
        m = heldout_metrics(week_sums(sae, _stream(paths, batch_size, keep).batches()), dense_threshold, n_boot, seed)
        detail = f"{m.n_weeks} held-out weeks, {sae.n_latents} latents, k {sae.k}"
        for metric, value, ci in (
            ("fvu", m.fvu, m.fvu_ci),
            ("dead_fraction", m.dead_fraction, m.dead_ci),
            ("dense_fraction", m.dense_fraction, m.dense_ci),
        ):
            rows.append(
                dict(
                    tap=tap, model=model, metric=metric, features="sae", value=value, ci_low=ci[0], ci_high=ci[1],
                    n=m.n_tokens, n_unit="held-out tokens", detail=detail,
                )
            )  # fmt: skip
    nan = float("nan")
    if len(saes) > 1:
        a, b = saes[0], saes[1]
        for metric, value, detail in (
            ("seed_stability", seed_stability(a, b), "trained seeds"),
            ("seed_stability_chance", chance_stability(a.d_in, a.n_latents, a.k), "two untrained SAEs"),
        ):
            rows.append(
                dict(
                    tap=tap, model="trained", metric=metric, features="sae", value=value, ci_low=nan, ci_high=nan,
                    n=a.n_latents, n_unit="decoder directions", detail=detail,
                )
            )  # fmt: skip
    if probes is not None:
        from ..probes.study import read_targets

        dates, y, _ = read_targets(probes["targets"], list(probes["quantities"]))
        have = set(store_dates(stores).astype(np.int64).tolist())
        ok = np.array([int(t) in have for t in dates.values.astype("datetime64[s]").astype(np.int64)])
        dates, y = dates[ok], y[ok]
        try:
            codes, tokens = region_means(
                saes[0], _stream([Path(p) for p in stores], batch_size).batches(), probes["region"], dates.values
            )
        except NoRegionTokens as err:  # a coarse tap: no token centre inside the region
            for features in ("sae", "dense"):
                for q in probes["quantities"]:
                    rows.append(
                        dict(
                            tap=tap, model="trained", metric=f"probe_r2_{q}", features=features, value=nan,
                            ci_low=nan, ci_high=nan, n=len(dates), n_unit="dates", detail=f"not fitted: {err}",
                        )
                    )  # fmt: skip
            return pd.DataFrame(rows)
        days = day_numbers(dates)
        folds = week_folds(days, probes["k"], probes["gap_days"], seed)
        kw = dict(
            k=probes["k"], inner_k=probes["inner_k"], gap_days=probes["gap_days"], alphas=probes["alphas"],
            n_boot=probes["n_boot"], seed=seed, folds=folds,
        )  # fmt: skip
        for features, x in (("sae", codes), ("dense", tokens)):
            res = fit_probes(x, y, dates, **kw)
            for j, q in enumerate(probes["quantities"]):
                rows.append(
                    dict(
                        tap=tap, model="trained", metric=f"probe_r2_{q}", features=features, value=float(res.r2[j]),
                        ci_low=float(res.ci_low[j]), ci_high=float(res.ci_high[j]), n=res.n, n_unit="dates",
                        detail=f"region {probes['region'].name}, {x.shape[1]} features, median alpha "
                        f"{float(np.median(res.alphas[:, j])):g}",
                    )
                )  # fmt: skip
    return pd.DataFrame(rows)


def sae_headline(table: pd.DataFrame, n_boot: int) -> list[dict[str, Any]]:
    """Headline rows of :func:`sae_evaluation_table`'s rows (all taps).

    Metrics ``sae_<fvu|dead_fraction|dense_fraction>@<tap>`` (``_random``: the random
    model's control), ``sae_seed_stability@<tap>`` (``_chance``: two untrained SAEs),
    ``sae_probe_r2_<q>@<tap>`` (``_dense``: the dense probe on mean tokens).
    """
    out = []
    boot = f"block bootstrap of the held-out ISO weeks, {int(n_boot)} resamples"
    for r in table.itertuples(index=False):
        if r.metric in ("fvu", "dead_fraction", "dense_fraction"):
            metric = f"sae_{r.metric}@{r.tap}" + ("_random" if r.model == "random" else "")
            method = f"TopK SAE of the {r.model} model's tokens, on the held-out weeks' tokens; {boot}"
        elif r.metric.startswith("seed_stability"):
            metric = f"sae_seed_stability@{r.tap}" + ("_chance" if r.metric.endswith("_chance") else "")
            method = "median over one seed's decoder directions of the best-match |cosine| with another seed's"
            if r.metric.endswith("_chance"):
                method += " (two untrained SAEs of the same sizes)"
        else:
            metric = f"sae_{r.metric}@{r.tap}" + ("_dense" if r.features == "dense" else "")
            what = "mean SAE code" if r.features == "sae" else "mean token"
            method = (
                f"held-out R² of a ridge probe on the region's per-date {what} (the probes' time-blocked folds "
                "with a gap); group bootstrap of the held-out predictions, whole weeks resampled"
            )
        if not np.isfinite(r.value):
            out.append({"metric": metric, "value": None, "note": r.detail, "method": method, "n_unit": r.n_unit})
            continue
        out.append(
            {
                "metric": metric,
                "value": r.value,
                "ci_low": None if not np.isfinite(r.ci_low) else r.ci_low,
                "ci_high": None if not np.isfinite(r.ci_high) else r.ci_high,
                "n": int(r.n),
                "method": method,
                "n_unit": r.n_unit,
            }
        )
    return out
