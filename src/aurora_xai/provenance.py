"""Provenance records: config hash, package versions, git commit, and the hash of the library code a script runs."""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["code_hash", "config_hash", "git_commit", "history_record", "package_versions", "provenance"]

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


def history_record(history_hours: float, model_step_hours: float) -> dict[str, str]:
    """Provenance attributes of the history interval against the model's forecast step.

    Returns:
        ``model_step_hours`` always (text, hours); ``history_mismatch``, a sentence naming
        both values and the keys, when ``history_hours`` differs from the step (a run the
        config check allowed with ``dates.allow_history_mismatch``).
    """
    h, step = float(history_hours), float(model_step_hours)
    out = {"model_step_hours": f"{step:g}"}
    if h != step:
        out["history_mismatch"] = (
            f"dates.history_hours is {h:g} h but the model's forecast step is {step:g} h: the model read "
            f"history steps {h:g} h apart as {step:g} h apart (allowed by dates.allow_history_mismatch)"
        )
    return out


def provenance(
    settings: Mapping[str, Any],
    checkpoint: str | None = None,
    repo: str | Path | None = None,
    model_step_hours: float | None = None,
) -> dict[str, str]:
    """Flat provenance attributes for NetCDF files, figures and tables.

    Args:
        settings: The settings the output was computed from (a rule's declared
            settings; ``results/provenance.json`` records the whole config). Their hash
            is ``config_hash``.
        checkpoint: The model's exact id (seed, file hash or repository revision).
        repo: The repository whose commit is recorded (default: this one).
        model_step_hours: The model's forecast step in hours; with ``dates.history_hours``
            in ``settings`` the attributes of :func:`history_record` are added
            (``model_step_hours``, and ``history_mismatch`` where they differ).

    The values do not depend on the time of the run, so reruns with the same inputs
    write identical files.
    """
    repo = repo or Path(__file__).resolve().parents[2]
    attrs = {
        "config_hash": config_hash(settings),
        "git_commit": git_commit(repo),
        "package_versions": json.dumps(package_versions(), sort_keys=True),
    }
    if checkpoint:
        attrs["checkpoint"] = checkpoint
    dates = settings.get("dates")
    history = dates.get("history_hours") if isinstance(dates, Mapping) else None
    if model_step_hours is not None and history is not None:
        attrs.update(history_record(history, model_step_hours))
    return attrs


def _module_file(name: str, root: Path) -> Path | None:
    """The source file of module ``name`` (``aurora_xai.x.y``) under ``root`` (``src/``)."""
    base = root.joinpath(*name.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _imported_modules(path: Path, package: str) -> frozenset[str]:
    """``package`` modules imported by the file at ``path`` (absolute and relative imports)."""
    st = path.stat()
    return _imported_modules_cached(str(path), package, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=1024)
def _imported_modules_cached(file: str, package: str, mtime_ns: int, size: int) -> frozenset[str]:
    import ast

    path = Path(file)
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == package)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                parts = list(path.parent.parts)
                idx = len(parts) - 1 - parts[::-1].index(package) if package in parts else None
                if idx is None:
                    continue
                pkg = parts[idx : len(parts) - (node.level - 1)]
                mod = ".".join([*pkg, node.module] if node.module else pkg)
            else:
                mod = node.module or ""
            if mod.split(".")[0] != package:
                continue
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # `from pkg import module`
    return frozenset(out)


def code_hash(script: str | Path, package: str = "aurora_xai", root: str | Path | None = None) -> str:
    """SHA-256 (16 hex digits) of a script and every library module it imports, transitively.

    The workflow puts this in each rule's ``params``, so that a change of the library code
    a rule runs reruns that rule (Snakemake's own ``code`` trigger sees only the script).
    Imports are found statically (``import``/``from ... import`` anywhere in a module,
    including imports inside functions); each package's ``__init__.py`` counts as imported
    with it. Cost: any edit of an imported module, comments included, reruns the rule.

    Args:
        script: The rule's script.
        package: The library's import name.
        root: The folder holding the package (default: this file's ``src/``).
    """
    root = Path(root) if root else Path(__file__).resolve().parents[1]
    seen: dict[str, Path] = {}
    todo = [Path(script)]
    files: list[Path] = []
    while todo:
        path = todo.pop()
        if path in files:
            continue
        files.append(path)
        for mod in _imported_modules(path, package):
            parts = mod.split(".")
            for i in range(1, len(parts) + 1):  # the module and the packages above it
                name = ".".join(parts[:i])
                if name in seen:
                    continue
                f = _module_file(name, root)
                if f is not None:
                    seen[name] = f
                    todo.append(f)
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: str(p.resolve())):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
