"""Write the per-rule conda environments in envs/ from requirements.lock.

Every environment takes Python and pip from conda-forge and all its packages from PyPI,
pinned to exactly the versions of requirements.lock: the environment's root packages
(``ENVS`` below: what its rules import, and what they load at run time without naming it,
such as xarray's file backends) and everything those require, followed through the
``Requires-Dist`` metadata of the distributions installed here (the lock, installed as the
README says), with environment markers evaluated for a cluster node (CPython 3.11 on Linux
x86_64) and no extras. The set is closed under dependencies, so ``pip install --no-deps``
of it gives a complete environment, and pip's resolver, which conda runs on the section
(``pip install -U -r``, dependencies included), has nothing to add and nothing to refuse.

A few pins deliberately differ from the lock (``Pin`` entries of an ``EnvSpec``); each
says why and carries the ``Requires-Dist`` published for that version.

    python tools/env_pins.py                # rewrite envs/*.yaml
    python tools/env_pins.py --check        # exit 1, naming what is out of date
    python tools/env_pins.py --pins model   # one environment's pins, requirements format
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
ENVS_DIR = ROOT / "envs"

PYTHON = "3.11"
CHANNELS = ("conda-forge", "nodefaults")
# Environment markers of the machines that build and run the environments.
TARGET_MARKERS = {
    **default_environment(),
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "python_version": PYTHON,
    "python_full_version": f"{PYTHON}.0",
    "os_name": "posix",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "extra": "",
}
# The PyTorch index holding CUDA builds of torch 2.13.0 and torchvision 0.28.0 (local
# versions 2.13.0+cu126, 0.28.0+cu126; pip prefers them to PyPI's builds of the same
# release). A machine with another CUDA driver changes `cu126` in this line.
TORCH_INDEX = "https://download.pytorch.org/whl/cu126"


@dataclasses.dataclass(frozen=True)
class Pin:
    """A pin that is not the lock's: a version the lock lacks or differs from.

    Attributes:
        name: distribution name as published.
        version: the pinned version.
        requires: its ``Requires-Dist`` as published for that version (the build test in
            tests/test_envs.py has pip's resolver read them from the index).
        reason: why the lock's pin cannot be used (written into the environment file).
    """

    name: str
    version: str
    requires: tuple[str, ...]
    reason: str


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """One environment: its header comment, root packages and deliberate pins.

    Attributes:
        name: file stem in envs/.
        comment: header lines (without ``#``) saying what the environment is for.
        roots: distributions the rules need (names as in the lock); the environment is
            their closure under ``Requires-Dist``.
        pip_options: requirement-file option lines written before the pins (e.g. an
            extra index); they are not followed here.
        pins: deliberate pins outside the lock (``Pin``).
    """

    name: str
    comment: str
    roots: tuple[str, ...]
    pip_options: tuple[str, ...] = ()
    pins: tuple[Pin, ...] = ()

    @property
    def path(self) -> Path:
        return ENVS_DIR / f"{self.name}.yaml"


SETUPTOOLS = Pin(
    "setuptools",
    "80.9.0",
    (),
    "torch declares setuptools>=77.0.3 (it builds C++ extensions with it), and the lock, "
    "like `pip freeze`, leaves out the installer's own packages; without a pin pip would "
    "take whatever release is newest.",
)
TORCHVISION_CUDA = Pin(
    "torchvision",
    "0.28.0",
    ("numpy", "torch==2.13.0", "pillow!=8.3.*,>=5.3.0"),
    "the torchvision built for torch 2.13. The lock holds 0.16.2 because timm (needed by "
    "Aurora) imports torchvision at import time and PyPI has no CPU build of torchvision "
    "for torch 2.13; 0.16.2 is the newest release whose import works without its compiled "
    "operators, none of which Aurora uses. But 0.16.2 declares torch==2.1.2, which pip's "
    "resolver (run by conda on this section) refuses next to torch 2.13.0.",
)

_COMMON = """\
Written by tools/env_pins.py from requirements.lock: rerun it rather than edit the pins.
conda-forge gives Python and pip; every package comes from PyPI, pinned to the lock's
version and closed under dependencies. See README ("Software environments").
The project's own code (src/aurora_xai) is not installed here: the workflow puts src/
on PYTHONPATH."""

ENVS: tuple[EnvSpec, ...] = (
    EnvSpec(
        "analysis",
        "Statistics on pooled latents and relevance maps: PCA, seasonal fits, bootstrap,\n"
        "separability and the summary tables. No torch.",
        # netCDF4: xarray's backend for the .nc files; threadpoolctl: bootstrap threads
        roots=("numpy", "scipy", "scikit-learn", "threadpoolctl", "pandas", "xarray", "netCDF4", "PyYAML"),
    ),
    EnvSpec(
        "data",
        "Writing the synthetic embedded default, labelling storm days, and copying the\n"
        "study's ERA5 subset (download_era5) with dask, from gs:// stores (gcsfs) or the\n"
        "Copernicus CDS (cdsapi).",
        # zarr, netCDF4: xarray's backends for the stores; dask: chunked copies
        # grpcio-status: required by google-api-core[grpc] (an extra, which the closure
        # does not follow) through gcsfs's google-cloud-storage-control
        roots=(
            "numpy",
            "pandas",
            "scipy",
            "xarray",
            "zarr",
            "netCDF4",
            "dask",
            "PyYAML",
            "gcsfs",
            "cdsapi",
            "grpcio-status",
        ),
    ),
    EnvSpec(
        "model",
        "Rules that run the Aurora model: extract_latents, compute_relevance(_days),\n"
        "run_perturbation, run_interventions.\n"
        "\n"
        "torch and torchvision come as CUDA 12.6 builds from the PyTorch index named below\n"
        "(pip prefers 2.13.0+cu126 to PyPI's 2.13.0, a CUDA 13 build): the environment gets\n"
        "CUDA wherever it is built, a GPU-less login node included, and also runs on CPUs.\n"
        "They need an NVIDIA driver for CUDA 12 (R525 or newer; `nvidia-smi` shows the newest\n"
        "CUDA a driver supports). For another driver change `cu126` in that one line to a\n"
        'CUDA version PyTorch publishes torch 2.13.0 for (pytorch.org, "previous versions"),\n'
        "or to `cpu` to leave out the CUDA libraries (some GB) on machines without a GPU.",
        # torchvision: imported by timm, which Aurora imports; zarr, netCDF4: xarray's
        # backends for the store and the outputs; dask: lazy perturbation climatology;
        # psutil: the memory available to the perturbation's automatic batch size;
        # scikit-learn: the storm axis of the interventions (regimes.classifiers)
        roots=(
            "microsoft-aurora",
            "torch",
            "torchvision",
            "captum",
            "numpy",
            "pandas",
            "scipy",
            "xarray",
            "zarr",
            "netCDF4",
            "dask",
            "PyYAML",
            "psutil",
            "scikit-learn",
        ),
        pip_options=(f"--extra-index-url {TORCH_INDEX}",),
        pins=(TORCHVISION_CUDA, SETUPTOOLS),
    ),
    EnvSpec(
        "plot",
        "Figures. matplotlib draws to files (Agg), no GUI toolkit.",
        # netCDF4: xarray's backend for the .nc files the figures read
        roots=("matplotlib", "numpy", "scipy", "pandas", "xarray", "netCDF4", "PyYAML"),
    ),
)


class PinError(ValueError):
    """The lock, the installed distributions or an EnvSpec cannot give consistent pins."""


@dataclasses.dataclass(frozen=True)
class Locked:
    name: str  # spelling in the lock
    version: str


def read_lock(path: Path = LOCK) -> dict[NormalizedName, Locked]:
    """``name==version`` lines of a lock file by canonical name.

    Raises:
        PinError: a line that is not ``name==version``, or a name given twice.
    """
    lock: dict[NormalizedName, Locked] = {}
    for lineno, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not name.strip() or not version.strip() or any(c in version for c in "<>=!~;, "):
            raise PinError(f"{path.name}:{lineno}: not `name==version`: {raw!r}")
        key = canonicalize_name(name.strip())
        if key in lock:
            raise PinError(f"{path.name}:{lineno}: {name.strip()} is pinned twice")
        lock[key] = Locked(name.strip(), version.strip())
    return lock


def applicable(requires: Iterable[str], markers: Mapping[str, str] = TARGET_MARKERS) -> list[Requirement]:
    """The requirements among ``requires`` that hold on the target (no extras)."""
    out = []
    for text in requires:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate(dict(markers)):
            out.append(req)
    return out


def installed_requires(name: str, version: str) -> tuple[str, ...]:
    """``Requires-Dist`` of the installed distribution ``name``, which must be ``version``.

    Raises:
        PinError: not installed here, or installed at another version.
    """
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError as err:
        raise PinError(
            f"{name}=={version} is not installed here, so its dependencies cannot be read; "
            "install the lock (python -m pip install --no-deps -r requirements.lock)"
        ) from err
    installed = dist.version.split("+", 1)[0]
    if installed != version:
        raise PinError(
            f"{name} is installed at {dist.version}, the lock says {version}; "
            "install the lock (python -m pip install --no-deps -r requirements.lock)"
        )
    return tuple(dist.requires or ())


def env_pins(spec: EnvSpec, lock: Mapping[NormalizedName, Locked] | None = None) -> dict[NormalizedName, Locked]:
    """The environment's pins: its roots closed under ``Requires-Dist``, by canonical name.

    Versions come from the lock, or from the spec's ``Pin`` where it has one.

    Raises:
        PinError: a root or a dependency missing from the lock (and not a ``Pin``), or
            metadata that cannot be read (see ``installed_requires``).
    """
    lock = read_lock() if lock is None else lock
    extra = {canonicalize_name(p.name): p for p in spec.pins}
    pins: dict[NormalizedName, Locked] = {}
    todo: list[tuple[str, str]] = [(root, f"root of envs/{spec.name}.yaml") for root in spec.roots]
    while todo:
        name, why = todo.pop()
        key = canonicalize_name(name)
        if key in pins:
            continue
        if key in extra:
            pin = extra[key]
            pins[key] = Locked(pin.name, pin.version)
            requires = pin.requires
        elif key in lock:
            pins[key] = lock[key]
            requires = installed_requires(lock[key].name, lock[key].version)
        else:
            raise PinError(f"envs/{spec.name}.yaml: {name} ({why}) is not in requirements.lock")
        for req in applicable(requires):
            todo.append((req.name, f"required by {pins[key].name}"))
    return dict(sorted(pins.items()))


def requirements_text(spec: EnvSpec, pins: Mapping[NormalizedName, Locked], options: bool = True) -> str:
    """The pins in requirements-file format (with the spec's option lines if ``options``)."""
    lines = list(spec.pip_options) if options else []
    lines += [f"{p.name}=={p.version}" for p in pins.values()]
    return "\n".join(lines) + "\n"


def _wrap(text: str, width: int = 80) -> str:
    """Text re-flowed into lines of at most `width` characters."""
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])


def render(spec: EnvSpec, pins: Mapping[NormalizedName, Locked], lock: Mapping[NormalizedName, Locked]) -> str:
    """The text of ``envs/<name>.yaml`` holding ``pins`` (from ``env_pins``)."""

    def comment(text: str, indent: str = "") -> list[str]:
        return [f"{indent}# {line}".rstrip() for line in text.splitlines()]

    out = comment(spec.comment) + ["#"] + comment(_COMMON)
    out += [
        "channels:",
        *[f"  - {c}" for c in CHANNELS],
        "dependencies:",
        f"  - python={PYTHON}",
        "  - pip",
        "  - pip:",
    ]
    out += [f"      - {option}" for option in spec.pip_options]
    notes = {canonicalize_name(p.name): p for p in spec.pins}
    for key, pin in pins.items():
        if key in notes:
            locked = f"the lock pins {lock[key].version}" if key in lock else "not in the lock"
            out += comment(_wrap(f"{pin.name} {pin.version} ({locked}): {notes[key].reason}"), "      ")
        out.append(f"      - {pin.name}=={pin.version}")
    return "\n".join(out) + "\n"


def spec_named(name: str) -> EnvSpec:
    for spec in ENVS:
        if spec.name == name:
            return spec
    raise KeyError(f"no environment {name!r} in tools/env_pins.py (have: {', '.join(s.name for s in ENVS)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="exit 1 if any envs/*.yaml is out of date")
    group.add_argument("--pins", metavar="ENV", help="print one environment's pins")
    args = parser.parse_args(argv)
    lock = read_lock()
    if args.pins:
        spec = spec_named(args.pins)
        sys.stdout.write(requirements_text(spec, env_pins(spec, lock)))
        return 0
    stale = []
    for spec in ENVS:
        text = render(spec, env_pins(spec, lock), lock)
        current = spec.path.read_text() if spec.path.is_file() else None
        if current == text:
            continue
        if args.check:
            stale.append(str(spec.path.relative_to(ROOT)))
            continue
        tmp = spec.path.with_suffix(".yaml.tmp")
        tmp.write_text(text)
        tmp.replace(spec.path)
        print(f"wrote {spec.path.relative_to(ROOT)}")
    if stale:
        print(f"out of date (rerun python tools/env_pins.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
