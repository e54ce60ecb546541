"""Agreement of a relevance map with a reference attribution (a known answer or a searchlight).

Both maps are ``xarray.Dataset`` objects in the layout of
:func:`~aurora_xai.attribution.methods.compute_relevance`: one variable per model input,
surface variables ``(history, latitude, longitude)``, atmospheric ones ``(history, level,
latitude, longitude)``, static ones ``(latitude, longitude)``. The scores compare them
over the elements both hold (cells x variables x levels x history steps); variables only
one of them holds are refused unless ``variables`` names the common ones.

Scores (all dimensionless):

* ``spearman``: Spearman's rank correlation of the signed elements on the reference's
  support (where the reference is non-zero, or a given mask): does the method order the
  inputs the reference uses as the reference weights them? Over every element, a sparse
  reference (a local map: most elements exactly zero, all tied) bounds the rank
  correlation near ``sqrt(3 * support / N)`` however good the method; that value is
  ``spearman_all``;
* ``cosine``: cosine similarity of the signed elements;
* ``support_share``: the share of the method's ``sum |R|`` on the reference's support (the
  elements where the reference is non-zero, or a given mask);
* ``ndcg@k``: normalised discounted cumulative gain of the method's ``k`` top grid cells
  (cells ranked by ``|R|`` summed over variables, levels and history steps), with the
  reference's ``|R|`` summed the same way as the gain (Jarvelin & Kekalainen 2002, "IR
  evaluation methods for retrieving highly relevant documents", SIGIR; the searchlight
  scoring of attribution for weather models uses k = 10);
* ``history_share`` and ``reference_history_share``: the share of ``sum |R|`` on the
  older history step(s) (every step but the last, the batch time), for the method and the
  reference.

The metrics follow the synthetic benchmarks of Mamalakis, Ebert-Uphoff & Barnes (2022,
"Investigating the fidelity of explainable artificial intelligence methods for
applications of convolutional neural networks in geoscience", AIES 1, e220012), which
score attribution maps against a known ground truth by correlation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr
from scipy import stats

__all__ = ["SCORES", "agreement_scores", "aligned_elements", "ndcg_at_k", "score_table"]

#: The scores :func:`agreement_scores` returns (``ndcg@k`` with the ``k`` it was given).
SCORES = ("spearman", "spearman_all", "cosine", "support_share", "ndcg", "history_share", "reference_history_share")

_ORDER = ("history", "level", "latitude", "longitude")


def _common_variables(relevance: xr.Dataset, reference: xr.Dataset, variables: Sequence[str] | None) -> list[str]:
    if variables is not None:
        missing = [
            (v, which)
            for v in variables
            for which, ds in (("relevance", relevance), ("reference", reference))
            if v not in ds
        ]
        if missing:
            raise KeyError(f"agreement: variables missing: {', '.join(f'{v} from the {w}' for v, w in missing)}")
        return list(variables)
    a, b = set(relevance.data_vars), set(reference.data_vars)
    if a != b:
        raise KeyError(
            f"agreement: the maps hold different variables (only in the relevance: {sorted(a - b)}; "
            f"only in the reference: {sorted(b - a)}); name the common ones in `variables`"
        )
    return sorted(a)


def _ordered(da: xr.DataArray) -> xr.DataArray:
    return da.transpose(*[d for d in _ORDER if d in da.dims])


def aligned_elements(
    relevance: xr.Dataset,
    reference: xr.Dataset,
    variables: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The two maps as aligned flat float64 vectors, with each element's cell and history step.

    Returns:
        ``(a, b, cell, older)``: relevance and reference values ``(N,)``, the flat grid-cell
        index ``(N,)`` of each element (``latitude * n_lon + longitude``) and whether it
        belongs to an older history step ``(N,)`` (False for static inputs).

    Raises:
        KeyError: the maps hold different variables (and ``variables`` is not given), or a
            named variable is missing.
        ValueError: a variable has different dimensions or coordinates in the two maps.
    """
    a_parts, b_parts, cells, older = [], [], [], []
    for name in _common_variables(relevance, reference, variables):
        ra, rb = _ordered(relevance[name]), _ordered(reference[name])
        if ra.dims != rb.dims or ra.shape != rb.shape:
            raise ValueError(
                f"agreement: variable {name!r} is {dict(zip(ra.dims, ra.shape))} in the relevance and "
                f"{dict(zip(rb.dims, rb.shape))} in the reference"
            )
        for dim in ra.dims:
            if dim in ra.coords and dim in rb.coords and not np.allclose(ra[dim].values, rb[dim].values):
                raise ValueError(f"agreement: variable {name!r}: the {dim} coordinates differ between the maps")
        a = np.asarray(ra.values, dtype=np.float64)
        b = np.asarray(rb.values, dtype=np.float64)
        n_lat, n_lon = a.shape[-2], a.shape[-1]
        cell = np.broadcast_to(np.arange(n_lat * n_lon).reshape(n_lat, n_lon), a.shape)
        if "history" in ra.dims:
            h = np.arange(ra.sizes["history"]) < ra.sizes["history"] - 1
            old = np.broadcast_to(h.reshape((-1,) + (1,) * (a.ndim - 1)), a.shape)
        else:
            old = np.zeros(a.shape, dtype=bool)
        a_parts.append(a.ravel())
        b_parts.append(b.ravel())
        cells.append(cell.ravel())
        older.append(old.ravel())
    return np.concatenate(a_parts), np.concatenate(b_parts), np.concatenate(cells), np.concatenate(older)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation, NaN for fewer than 3 elements or a constant vector."""
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def ndcg_at_k(scores: np.ndarray, gains: np.ndarray, k: int = 10) -> float:
    """NDCG@k of the ranking by ``scores`` with ``gains`` (both ``(n,)``, gains >= 0).

    ``DCG@k = sum_{i=1..k} gain(rank i) / log2(i + 1)``, divided by the DCG of the ideal
    ranking (by ``gains``). Ties in ``scores`` are broken by index (stable sort).

    Raises:
        ValueError: shapes differ, ``k < 1``, or a gain is negative.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    gains = np.asarray(gains, dtype=np.float64).ravel()
    if scores.shape != gains.shape:
        raise ValueError(f"ndcg_at_k: scores {scores.shape} and gains {gains.shape} differ in shape")
    if k < 1:
        raise ValueError(f"ndcg_at_k: k must be >= 1, got {k}")
    if (gains < 0).any():
        raise ValueError("ndcg_at_k: gains must be non-negative")
    k = min(k, scores.size)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    top = np.argsort(-scores, kind="stable")[:k]
    ideal = np.sort(gains)[::-1][:k]
    best = float(ideal @ discount)
    return float(gains[top] @ discount) / best if best > 0 else float("nan")


def agreement_scores(
    relevance: xr.Dataset,
    reference: xr.Dataset,
    *,
    variables: Sequence[str] | None = None,
    support: np.ndarray | None = None,
    k: int = 10,
) -> dict[str, float]:
    """Scores of ``relevance`` against ``reference`` (see the module docstring).

    Args:
        relevance: A method's relevance map.
        reference: The reference map (same layout).
        variables: The variables to compare (default: all; both maps must hold the same).
        support: Boolean mask ``(N,)`` over the aligned elements
            (:func:`aligned_elements`) where the reference's function depends on its input;
            default: where the reference is non-zero.
        k: Cells counted by NDCG.

    Returns:
        ``spearman``, ``spearman_all``, ``cosine``, ``support_share``, ``ndcg@<k>``, ``history_share``,
        ``reference_history_share`` and ``n_elements`` (the elements compared: those
        finite in both maps); a score is NaN where it is undefined (a constant map, no
        relevance).
    """
    a, b, cell, older = aligned_elements(relevance, reference, variables)
    if support is None:
        support = b != 0
    support = np.asarray(support, dtype=bool).ravel()
    if support.shape != a.shape:
        raise ValueError(f"agreement: support has {support.size} elements, the maps {a.size}")
    # elements a reference leaves out (NaN: e.g. searchlight blocks outside its region)
    kept = np.isfinite(a) & np.isfinite(b)
    a, b, cell, older, support = a[kept], b[kept], cell[kept], older[kept], support[kept]
    abs_a, abs_b = np.abs(a), np.abs(b)
    total_a, total_b = abs_a.sum(), abs_b.sum()
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    spearman = _spearman(a[support], b[support])
    spearman_all = _spearman(a, b)
    n_cells = int(cell.max()) + 1 if cell.size else 1
    cell_a = np.bincount(cell, weights=abs_a, minlength=n_cells)
    cell_b = np.bincount(cell, weights=abs_b, minlength=n_cells)
    return {
        "spearman": spearman,
        "spearman_all": spearman_all,
        "cosine": float(a @ b / norm) if norm > 0 else float("nan"),
        "support_share": float(abs_a[support].sum() / total_a) if total_a > 0 else float("nan"),
        f"ndcg@{k}": ndcg_at_k(cell_a, cell_b, k),
        "history_share": float(abs_a[older].sum() / total_a) if total_a > 0 else float("nan"),
        "reference_history_share": float(abs_b[older].sum() / total_b) if total_b > 0 else float("nan"),
        "n_elements": float(a.size),
    }


def score_table(
    maps: Mapping[str, xr.Dataset],
    reference: xr.Dataset,
    *,
    variables: Sequence[str] | None = None,
    k: int = 10,
) -> list[dict[str, float | str]]:
    """One row of :func:`agreement_scores` per named map (``{"method": name, ...}``)."""
    return [{"method": name, **agreement_scores(ds, reference, variables=variables, k=k)} for name, ds in maps.items()]
