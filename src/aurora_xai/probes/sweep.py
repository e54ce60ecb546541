"""The planted probe quantities in the layer sweep: at which tap F's terms become decodable.

The probe table (:func:`~aurora_xai.probes.study.probe_table`,
``results/tables/probes.csv``) holds the held-out R² of every tap's latents, of the
random model's latents at that tap and of the pooled raw inputs, per quantity. For the
quantities of F's planted dynamics (:data:`~aurora_xai.probes.targets.PLANTED`) the sweep
table gets, per swept tap, the rows ``probe_r2_<quantity>`` (the latents) and
``probe_r2_<quantity>_random`` (the random model at that tap), with the probe's
week-bootstrap interval (:func:`sweep_probe_rows`). A tap *decodes* a quantity when the
lower end of its latent R² interval lies above the upper ends of both controls' (the
random model at that tap and the raw inputs); :func:`first_decodable` names the shallowest
such tap, and the shallowest tap that beats the random model alone. Imports without torch.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .targets import PLANTED

__all__ = ["decodes", "first_decodable", "sweep_probe_rows"]

_INTERVAL = "held-out R² of a ridge probe (time-blocked week folds with a gap); group bootstrap of whole weeks"


def _one(rows: pd.DataFrame, what: str) -> pd.Series:
    if rows.empty:
        raise ValueError(f"results/tables/probes.csv: no row for {what}")
    return rows.iloc[0]


def decodes(latent: pd.Series, random: pd.Series, inputs: pd.Series) -> bool:
    """Whether the latent probe's interval lies above both controls' intervals."""
    return bool(latent["ci_low"] > max(random["ci_high"], inputs["ci_high"]))


def sweep_probe_rows(probes: pd.DataFrame, sweep: pd.DataFrame) -> pd.DataFrame:
    """Sweep-table rows of the planted probe quantities at every tap of ``sweep``.

    Args:
        probes: The probe table (columns ``tap, quantity, features, r2, ci_low, ci_high, n``).
        sweep: The sweep table (:func:`~aurora_xai.regimes.sweep.layer_sweep`: ``tap,
            depth, published, same_as``); a ``bottleneck`` row copies the stage it aliases.

    Returns:
        Rows with the sweep table's columns; none when the probe table holds no planted
        quantity.

    Raises:
        ValueError: naming the probe table for a swept tap or control it lacks.
    """
    from ..regimes.sweep import SWEEP_COLUMNS

    quantities = [q for q in dict.fromkeys(probes["quantity"]) if q in PLANTED]
    taps = sweep.drop_duplicates("tap")[["tap", "depth", "published", "same_as"]].to_dict("records")
    rows: list[dict[str, Any]] = []
    for q in quantities:
        sub = probes[probes["quantity"] == q]
        inputs = _one(sub[sub["features"] == "raw_inputs"], f"{q} from the raw inputs")
        for rec in taps:
            source = rec["same_as"] or rec["tap"]
            latent = _one(sub[(sub["features"] == "latent") & (sub["tap"] == source)], f"{q} at tap {source}")
            random = _one(sub[(sub["features"] == "random_model") & (sub["tap"] == source)], f"{q} at tap {source}")
            verdict = "beats both controls" if decodes(latent, random, inputs) else "does not beat both controls"
            note = (
                f"{verdict}: random model {random['r2']:.3f} [{random['ci_low']:.3f}, {random['ci_high']:.3f}], "
                f"raw inputs {inputs['r2']:.3f} [{inputs['ci_low']:.3f}, {inputs['ci_high']:.3f}]"
            )
            for stat, r, text in ((f"probe_r2_{q}", latent, note), (f"probe_r2_{q}_random", random, "")):
                rows.append(
                    {
                        "tap": rec["tap"],
                        "depth": rec["depth"],
                        "stat": stat,
                        "value": float(r["r2"]),
                        "ci_low": float(r["ci_low"]),
                        "ci_high": float(r["ci_high"]),
                        "n": int(r["n"]),
                        "interval": _INTERVAL,
                        "published": bool(rec["published"]),
                        "same_as": rec["same_as"],
                        "note": text,
                    }
                )
    return pd.DataFrame(rows, columns=list(SWEEP_COLUMNS))


def first_decodable(probes: pd.DataFrame, sweep: pd.DataFrame) -> list[dict[str, Any]]:
    """Headline rows of the shallowest tap that decodes each planted quantity.

    ``sweep_probe_first_tap_<quantity>``: the depth of the shallowest tap whose latent R²
    interval lies above both controls' (module docstring); ``sweep_probe_first_tap_vs_random_<quantity>``:
    above the random model's at that tap alone. The tap is named in ``method``; an empty
    value with a note where no tap does.
    """
    out = []
    order = sweep.drop_duplicates("tap").sort_values("depth", kind="stable")
    for q in [q for q in dict.fromkeys(probes["quantity"]) if q in PLANTED]:
        sub = probes[probes["quantity"] == q]
        inputs = _one(sub[sub["features"] == "raw_inputs"], f"{q} from the raw inputs")
        never = inputs.copy()
        never["ci_high"] = -float("inf")
        for metric, against, words in (
            (f"sweep_probe_first_tap_{q}", inputs, "those of the random model at that tap and of the raw inputs"),
            (f"sweep_probe_first_tap_vs_random_{q}", never, "that of the random model at that tap"),
        ):
            found = None
            for rec in order.to_dict("records"):
                if rec["same_as"]:
                    continue
                latent = sub[(sub["features"] == "latent") & (sub["tap"] == rec["tap"])]
                random = sub[(sub["features"] == "random_model") & (sub["tap"] == rec["tap"])]
                if len(latent) and len(random) and decodes(latent.iloc[0], random.iloc[0], against):
                    found = (rec, latent.iloc[0])
                    break
            method = f"depth of the shallowest tap whose latent probe R² interval lies above {words} (week-bootstrap intervals)"
            if found is None:
                out.append(
                    {
                        "metric": metric,
                        "value": None,
                        "note": "no swept tap beats " + ("both controls" if against is inputs else "the random model"),
                        "n": int(inputs["n"]),
                        "method": method,
                        "n_unit": "dates",
                    }
                )
                continue
            rec, lat = found
            out.append(
                {
                    "metric": metric,
                    "value": float(rec["depth"]),
                    "n": int(lat["n"]),
                    "method": f"{method}: {rec['tap']} (R² {lat['r2']:.3f})",
                    "n_unit": "dates",
                    "unit": "tap depth",
                }
            )
    return out
