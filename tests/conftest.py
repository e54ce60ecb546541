"""Shared fixtures: a small synthetic store and a copy of the workflow to run in."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

torch.set_num_threads(1)


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test, restoring the count a test before it may have changed."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def small_store(tmp_path_factory) -> Path:
    """A 3-degree synthetic WeatherBench 2 store covering 1-12 January 2005 and the Great Storm."""

    from aurora_xai.data.synthetic import write_synthetic_store
    from aurora_xai.settings import Settings, load_config

    cfg = load_config(
        REPO / "config" / "config.yaml",
        {"synthetic": {"periods": [["2005-01-01", "2005-01-12"], ["1987-10-14", "1987-10-17"]]}},
    )
    path = tmp_path_factory.mktemp("store") / "era5.zarr"
    write_synthetic_store(Settings(cfg).synthetic, path)
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


def run_snakemake(
    workdir: Path, *args: str, timeout: int = 900, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``snakemake *args`` in ``workdir``; on failure raise with the end of its output."""
    import os

    proc = subprocess.run(
        ["snakemake", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def job_counts(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Jobs per rule of a dry run's summary (``snakemake -n --quiet rules``), ``all`` and
    ``total`` left out; empty when there is nothing to be done."""
    counts = {}
    for line in (proc.stdout + proc.stderr).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("all", "total"):
            counts[parts[0]] = int(parts[1])
    return counts


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> Path:
    """The embedded default, run to completion once per session in a copy of the repository.

    Tests that use it must leave its results as they found them (or restore them).
    ``AURORA_XAI_DEFAULT_RUN=<folder>`` reuses a finished run instead (when iterating on
    the workflow tests; CI never sets it).
    """
    import os

    reuse = os.environ.get("AURORA_XAI_DEFAULT_RUN")  # a finished run, to iterate on tests quickly
    if reuse:
        return Path(reuse)
    workdir = copy_workflow(tmp_path_factory.mktemp("default_run"))
    run_snakemake(workdir, "--cores", "2", timeout=3600)
    return workdir
