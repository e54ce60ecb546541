"""tools/gpu_check.py on the CPU: its plan, its JSON keys with the tiny model, and a failing
section that does not lose the others."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / "tools" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*args: str, timeout: int = 600) -> dict:
    proc = subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=timeout, cwd=REPO, check=True
    )
    return json.loads(proc.stdout)


def test_dry_run_lists_every_section_within_eight_minutes():
    tool = _load()
    plan = _run("--dry")
    assert plan["mode"] == "dry"
    assert list(plan["sections"]) == list(tool.SECTIONS)
    assert set(plan["sections"]) == set(tool.BUDGETS_S) == set(tool.RESULT_KEYS)
    assert sum(tool.BUDGETS_S.values()) <= tool.TOTAL_BUDGET_S < 8 * 60
    for name, entry in plan["sections"].items():
        assert entry["status"] == "planned" and entry["keys"] == list(tool.RESULT_KEYS[name])
    assert plan["sections"]["extraction"]["grid"] == [721, 1440]


def test_tiny_run_on_the_cpu_reports_every_key(tmp_path):
    tool = _load()
    out = tmp_path / "check.json"
    report = _run("--device", "cpu", "--tiny", "--threads", "1", "--out", str(out))
    assert json.loads(out.read_text()) == report  # the file holds what was printed
    assert report["mode"] == "tiny"
    for name, entry in report["sections"].items():
        assert entry["status"] == "ok", (name, entry.get("error"), entry.get("traceback"))
        assert set(tool.RESULT_KEYS[name]) <= set(entry), name
    ext = report["sections"]["extraction"]
    for precision in ("fp32", "bf16"):
        assert set(tool.EXTRACTION_KEYS) <= set(ext[precision]), precision
        assert ext[precision]["extraction_dates_per_s"] > 0 and ext[precision]["ratio"] > 0
    assert set(tool.EXTRACTION_KEYS) <= set(report["sections"]["extraction_large"]["bf16"])
    lrp = report["sections"]["lrp"]
    for variant in ("checkpointed", "unchecked"):
        assert set(tool.LRP_KEYS) <= set(lrp[variant]), variant
        assert lrp[variant]["closure_error"] < 1e-3
    assert lrp["relevance_max_rel_diff"] < 1e-5  # checkpointing changes memory, not relevance
    pert = report["sections"]["perturbation"]
    assert pert["batch_size_auto"] >= 1 and pert["masks_per_s"] > 0
    inter = report["sections"]["interventions"]
    assert inter["batch_size_auto"] >= 1 and inter["pushes_per_s"] > 0 and inter["finite"]
    assert inter["n_pushes"] >= max(inter["batch_size_auto"] - 1, 1)
    val = report["sections"]["validation"]
    assert (
        val["n_stages"] >= 3
        and val["searchlight"]["n_passes"] == 2 * val["searchlight"]["n_blocks"] * (val["searchlight"]["n_groups"])
    )
    assert val["passes"]["lrp_cp"]["time_s"] > 0 and val["searchlight"]["per_chunk_s"] > 0
    assert all(v is not None and v > 0 for v in val["estimate_s"].values()), val["estimate_s"]
    assert val["estimate_s"]["cascade"] > val["estimate_s"]["data_randomisation"]
    agree = report["sections"]["agreement"]
    assert agree["devices"] == ["cpu", "cpu (reference)"]
    assert agree["pooled_max_rel_diff"] == 0 and agree["relevance_max_rel_diff"] == 0


def test_a_failing_section_is_recorded_and_the_others_run(monkeypatch):
    tool = _load()

    def boom(check, budget):
        raise RuntimeError("planted failure")

    def after(check, budget):
        return {"seen": budget.left() > 0}

    monkeypatch.setattr(tool, "SECTIONS", {"boom": boom, "after": after})
    monkeypatch.setattr(tool, "BUDGETS_S", {"boom": 1.0, "after": 1.0})
    args = tool.argparse.Namespace(device="cpu", tiny=True, out="", budget_s=tool.TOTAL_BUDGET_S, threads=0)
    report = tool.run(args)
    assert report["sections"]["boom"]["status"] == "error"
    assert "planted failure" in report["sections"]["boom"]["error"]
    assert "Traceback" in report["sections"]["boom"]["traceback"]
    assert report["sections"]["after"]["status"] == "ok" and report["sections"]["after"]["seen"] is True


def test_spent_total_budget_skips_the_remaining_sections(monkeypatch):
    tool = _load()
    monkeypatch.setattr(tool, "SECTIONS", {"only": lambda check, budget: {}})
    monkeypatch.setattr(tool, "BUDGETS_S", {"only": 1.0})
    args = tool.argparse.Namespace(device="cpu", tiny=True, out="", budget_s=0.0, threads=0)
    entry = tool.run(args)["sections"]["only"]
    assert entry["status"] == "skipped" and "budget" in entry["error"]


def test_sections_option_runs_only_the_named_sections_in_order():
    import argparse

    gc = _load()
    chosen = gc._chosen_sections(argparse.Namespace(sections="features,store"))
    assert chosen == ["environment", "store", "features"]
    assert gc._chosen_sections(argparse.Namespace(sections="")) == list(gc.SECTIONS)
    with pytest.raises(SystemExit, match="unknown sections \\['bogus'\\]"):
        gc._chosen_sections(argparse.Namespace(sections="store,bogus"))
