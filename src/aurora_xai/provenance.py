"""Provenance records and atomic file writes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["config_hash", "package_versions", "git_commit", "provenance", "atomic_path"]

_PACKAGES = (
    "aurora-xai",
    "microsoft-aurora",
    "torch",
    "numpy",
    "xarray",
    "zarr",
    "pandas",
    "scipy",
    "scikit-learn",
    "captum",
    "matplotlib",
    "snakemake",
)


def config_hash(cfg: Mapping[str, Any]) -> str:
    """SHA-256 (first 16 hex digits) of the config in canonical JSON."""
    blob = json.dumps(cfg, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the results."""
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    out["python"] = platform.python_version()
    return out


def git_commit(path: str | Path = ".") -> str:
    """The git commit of the working tree at ``path`` (``+dirty`` if modified), or ``unknown``."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(cfg: Mapping[str, Any], checkpoint: str | None = None, repo: str | Path | None = None) -> dict[str, str]:
    """Flat provenance attributes for NetCDF files and tables.

    The values do not depend on the time of the run, so reruns with the same inputs
    write identical files.
    """
    repo = repo or Path(__file__).resolve().parents[2]
    attrs = {
        "config_hash": config_hash(cfg),
        "git_commit": git_commit(repo),
        "package_versions": json.dumps(package_versions(), sort_keys=True),
    }
    if checkpoint:
        attrs["checkpoint"] = checkpoint
    return attrs


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    An exception inside the block removes the temporary file and leaves any existing
    ``path`` untouched, so a failed write never leaves a truncated output.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
