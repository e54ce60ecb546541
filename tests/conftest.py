"""Shared fixtures: a small synthetic store and a copy of the workflow to run in."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def small_store(tmp_path_factory) -> Path:
    """A 3-degree synthetic WeatherBench 2 store covering 1-12 January 2005 and the Great Storm."""
    import yaml

    from aurora_xai.config import synthetic_spec
    from aurora_xai.data.synthetic import write_synthetic_store

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["synthetic"]["periods"] = [["2005-01-01", "2005-01-12"], ["1987-10-14", "1987-10-17"]]
    path = tmp_path_factory.mktemp("store") / "era5.zarr"
    write_synthetic_store(synthetic_spec(cfg), path)
    return path


def copy_workflow(dst: Path) -> Path:
    """Copy the tracked and untracked-not-ignored files of the repository to ``dst``."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    for f in files:
        if not f:
            continue
        src = REPO / f
        if src.is_symlink():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            (dst / f).symlink_to(src.readlink())
        elif src.is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / f)
    return dst
