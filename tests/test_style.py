"""House style: ruff (lint), snakefmt and Snakemake's own linter are clean."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest


def test_ruff_is_clean(repo):
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "src", "workflow", "tests", "tools"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_ruff_format_is_clean(repo):
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "src", "workflow", "tests", "tools"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]


@pytest.mark.skipif(shutil.which("snakefmt") is None, reason="snakefmt not installed")
def test_snakefmt_is_clean(repo):
    proc = subprocess.run(
        ["snakefmt", "--check", "Snakefile", "workflow/rules"], cwd=repo, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
