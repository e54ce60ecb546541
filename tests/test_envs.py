"""Checks of the per-rule conda environments in envs/ (conda itself is not needed).

Each environment takes Python and pip from conda-forge and every package from PyPI,
pinned to requirements.lock by ``tools/env_pins.py``. Checked here:

* every rule in ``workflow/rules/*.smk`` that runs something declares ``conda:`` and
  ``log:``, and its environment provides every third-party module imported by its script
  and by the ``aurora_xai`` code that script runs (followed transitively);
* each environment file is what ``tools/env_pins.py`` writes, and its pins match the lock
  (same versions, nothing outside it but the pins the tool declares, with their reasons)
  and are closed under dependencies, with every requirement satisfied by its pin;
* marked ``envs`` (they need PyPI): pip's resolver, run on an environment's pins as conda
  runs it, installs exactly those pins; and each environment, built in a fresh virtual
  environment with ``pip install --no-deps`` of its pins, runs the imports of its rules.

Imports guarded by ``try: ... except ImportError`` and ``if TYPE_CHECKING:`` blocks are
optional and not required.  Imports inside functions are required: the library keeps
heavy imports (``aurora``, ``captum``, ``gcsfs``) inside the functions that use them.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from workflow_rules import RuleInfo, parse_rules, workflow_rules

REPO = Path(__file__).resolve().parents[1]
RULES_DIR = REPO / "workflow" / "rules"
ENVS_DIR = REPO / "envs"
SRC_DIR = REPO / "src"
TOY_SNAKEFILE = REPO / "tests" / "slurm_toy" / "Snakefile"
PROJECT = "aurora_xai"


def _load_tool():
    spec = importlib.util.spec_from_file_location("env_pins", REPO / "tools" / "env_pins.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


env_pins = _load_tool()

# Distribution names (lower case) whose import name differs from the name with "-"
# replaced by "_", for distributions that are not installed here (installed ones are
# looked up in their metadata).
IMPORT_NAMES: dict[str, set[str]] = {
    "scikit-learn": {"sklearn"},
    "pyyaml": {"yaml"},
    "microsoft-aurora": {"aurora"},
    "netcdf4": {"netCDF4"},
    "python-dateutil": {"dateutil"},
    "pillow": {"PIL"},
    "beautifulsoup4": {"bs4"},
    "google-cloud-storage": {"google"},
}
# Modules available to every script without being in an environment: the project
# itself (see test_project_importable_by_scripts) and `snakemake`, whose package
# directory Snakemake adds to the search path of every script.
ALWAYS_AVAILABLE = {PROJECT, "snakemake"}
ACTION_DIRECTIVES = {"shell", "script", "run", "notebook", "wrapper", "cwl"}

_SPEC_NAME = re.compile(r"^(?:[\w.-]+::)?([A-Za-z0-9_.\-]+)")


# ---------------------------------------------------------------------------------
# parsing environments


def load_env(path: Path) -> dict:
    with open(path) as f:
        env = yaml.safe_load(f)
    assert isinstance(env, dict), f"{path.name}: not a YAML mapping"
    assert isinstance(env.get("dependencies"), list), f"{path.name}: no dependencies list"
    return env


def env_specs(env: dict) -> tuple[list[str], list[str]]:
    """(conda specs, pip specs) of an environment."""
    conda, pip = [], []
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            conda.append(dep)
        elif isinstance(dep, dict) and set(dep) == {"pip"}:
            pip.extend(str(p) for p in dep["pip"])
        else:
            raise AssertionError(f"unexpected dependency entry {dep!r}")
    return conda, pip


def spec_name(spec: str) -> str | None:
    """Package name of a conda or pip requirement; None for options and paths."""
    spec = spec.strip()
    if spec.startswith(("-", ".", "/", "git+", "http")):
        return None
    if " @ " in spec:  # PEP 508 direct reference: name @ url
        spec = spec.split(" @ ", 1)[0]
    match = _SPEC_NAME.match(spec)
    name = match.group(1) if match else spec
    name = re.split(r"[=<>!~\[;]", name, maxsplit=1)[0]
    return name.lower()


@functools.cache
def _installed_modules() -> dict[str, set[str]]:
    """Top-level import names of each installed distribution, by canonical name."""
    modules: dict[str, set[str]] = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        for dist in dists:
            modules.setdefault(canonicalize_name(dist), set()).add(module)
    return modules


def import_names(package: str) -> set[str]:
    """Top-level modules a distribution provides (its metadata where installed here)."""
    installed = _installed_modules().get(canonicalize_name(package))
    if installed:
        return {m for m in installed if not m.startswith("_")} or installed
    package = package.lower()
    return IMPORT_NAMES.get(package, {package.replace("-", "_").replace(".", "_")})


def provided_modules(env: dict) -> set[str]:
    conda, pip = env_specs(env)
    names = {spec_name(s) for s in conda + pip} - {None}
    return {module for name in names for module in import_names(name)}


# ---------------------------------------------------------------------------------
# following imports
#
# What a script needs is followed the way Python would run it: importing a module runs
# its top level (so its module-level imports are needed, and the modules those import);
# a function or class of the library counts only once something that runs refers to it
# (then the imports inside it are needed, and what it refers to in turn).  The script
# itself counts in full.  Names are matched statically, erring towards "needed".


@dataclasses.dataclass(frozen=True)
class ImportSite:
    module: str  # absolute dotted name
    file: Path
    line: int
    via: str = ""  # how the script reaches this import
    names: tuple[str, ...] = ()  # `from module import names`


@dataclasses.dataclass
class Scope:
    """Imports and references of a piece of code: a module's top level or one definition."""

    imports: list[ImportSite] = dataclasses.field(default_factory=list)
    names: set[str] = dataclasses.field(default_factory=set)  # `f`
    chains: set[str] = dataclasses.field(default_factory=set)  # `tables.save_figure`
    attrs: set[str] = dataclasses.field(default_factory=set)  # every `.name` used


@dataclasses.dataclass
class ModuleInfo:
    path: Path
    top: Scope
    defs: dict[str, Scope]  # top-level functions, and classes without their methods
    methods: dict[str, dict[str, Scope]]  # class -> method -> scope
    bindings: dict[str, tuple[str, str | None]]  # name -> (project module, member or None)


def _optional_nodes(tree: ast.AST) -> set[int]:
    """ids of import nodes that are optional (guarded by ImportError or TYPE_CHECKING)."""
    optional: set[int] = set()
    for node in ast.walk(tree):
        guarded: list[ast.stmt] = []
        if isinstance(node, ast.Try):
            caught = set()
            for handler in node.handlers:
                types = handler.type
                elts = types.elts if isinstance(types, ast.Tuple) else [types]
                caught |= {getattr(t, "id", getattr(t, "attr", None)) for t in elts}
            if caught & {"ImportError", "ModuleNotFoundError", "Exception", None}:
                guarded = node.body
        elif isinstance(node, ast.If):
            test = ast.unparse(node.test)
            if test in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                guarded = node.body
        for stmt in guarded:
            optional |= {id(n) for n in ast.walk(stmt)}
    return optional


def _package_of(path: Path, level: int) -> str | None:
    """The package a relative import of `level` dots refers to, for files under src/."""
    if not path.is_relative_to(SRC_DIR):
        return None
    parts = list(path.relative_to(SRC_DIR).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
        package = parts
    else:
        package = parts[:-1]
    package = package[: len(package) - (level - 1)]
    return ".".join(package) or None


def _module_file(dotted: str) -> Path | None:
    base = SRC_DIR.joinpath(*dotted.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _chain(node: ast.Attribute) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def _scope(nodes: list[ast.AST], path: Path, optional: set[int]) -> Scope:
    scope = Scope()
    for root in nodes:
        for node in ast.walk(root):
            if isinstance(node, ast.Name):
                scope.names.add(node.id)
            elif isinstance(node, ast.Attribute):
                scope.attrs.add(node.attr)
                if chain := _chain(node):
                    scope.chains.add(chain)
            elif id(node) in optional:
                continue
            elif isinstance(node, ast.Import):
                scope.imports += [ImportSite(a.name, path, node.lineno) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module
                if node.level:
                    package = _package_of(path, node.level)
                    if package is None:  # a relative import in a script
                        continue
                    base = ".".join(filter(None, [package, node.module]))
                names = tuple(a.name for a in node.names if a.name != "*")
                scope.imports.append(ImportSite(base, path, node.lineno, names=names))
                # `from package import submodule` runs the submodule too
                scope.imports += [
                    ImportSite(f"{base}.{a.name}", path, node.lineno)
                    for a in node.names
                    if base.split(".")[0] == PROJECT and _module_file(f"{base}.{a.name}")
                ]
    return scope


def _bindings(tree: ast.AST, path: Path) -> dict[str, tuple[str, str | None]]:
    """Names bound to project modules or their members by any import in a file."""
    bindings: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == PROJECT:
                    if a.asname:
                        bindings[a.asname] = (a.name, None)
                    else:
                        bindings[PROJECT] = (PROJECT, None)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _package_of(path, node.level)
                if package is None:
                    continue
                base = ".".join(filter(None, [package, node.module]))
            if base.split(".")[0] != PROJECT:
                continue
            for a in node.names:
                if a.name == "*":
                    continue
                submodule = f"{base}.{a.name}"
                target = (submodule, None) if _module_file(submodule) else (base, a.name)
                bindings[a.asname or a.name] = target
    return bindings


def parse_module(path: Path, whole: bool = False) -> ModuleInfo:
    """A module's top level and definitions; `whole` counts everything as top level."""
    tree = ast.parse(path.read_text(), filename=str(path))
    optional = _optional_nodes(tree)
    defs: dict[str, Scope] = {}
    methods: dict[str, dict[str, Scope]] = {}
    top_nodes: list[ast.AST] = []
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    for stmt in tree.body:
        if whole:
            top_nodes.append(stmt)
        elif isinstance(stmt, functions):
            defs[stmt.name] = _scope([stmt], path, optional)
            top_nodes += stmt.decorator_list
        elif isinstance(stmt, ast.ClassDef):
            body = [n for n in stmt.body if not isinstance(n, functions)]
            body += [d for n in stmt.body if isinstance(n, functions) for d in n.decorator_list]
            defs[stmt.name] = _scope([*stmt.bases, *stmt.keywords, *body], path, optional)
            methods[stmt.name] = {n.name: _scope([n], path, optional) for n in stmt.body if isinstance(n, functions)}
            top_nodes += stmt.decorator_list
        else:
            top_nodes.append(stmt)
    top = _scope(top_nodes, path, optional)
    return ModuleInfo(path, top, defs, methods, _bindings(tree, path))


def third_party_imports(script: Path) -> dict[str, list[ImportSite]]:
    """Top-level third-party modules needed by a script, with where they are imported."""
    return follow_imports(script)[0]


def follow_imports(
    script: Path, reached: set[tuple[str, str | None]] | None = None
) -> tuple[dict[str, list[ImportSite]], list[ImportSite]]:
    """Imports that run when a script runs: (third-party by top-level module, the project's).

    ``reached``, if given, receives what the script's code reaches: ``(module, None)`` for
    each project module loaded and ``(module, name)`` for each of its definitions used.
    """
    needed: dict[str, list[ImportSite]] = {}
    project: list[ImportSite] = []
    modules: dict[str, ModuleInfo] = {}
    visited: set[tuple[str, str | None]] = set()
    attrs_seen: set[str] = set()  # attribute names used by code that runs
    classes: dict[tuple[str, str], str] = {}  # (module, class) reached -> via

    def run_scope(scope: Scope, context: str, via: str) -> None:
        attrs_seen.update(scope.attrs)
        for site in scope.imports:
            top = site.module.split(".")[0]
            if top == PROJECT:
                project.append(dataclasses.replace(site, via=via))
                load(site.module, via)
            elif top not in sys.stdlib_module_names and top not in ALWAYS_AVAILABLE:
                needed.setdefault(top, []).append(dataclasses.replace(site, via=via))
        info = modules[context]
        for name in scope.names:
            refer(context, name, via)
        for chain in scope.chains:
            head, *rest = chain.split(".")
            target = info.bindings.get(head)
            if target is None or target[1] is not None:
                continue
            module = target[0]
            for part in rest:  # walk down submodules, then stop at a member
                if _module_file(f"{module}.{part}"):
                    module = f"{module}.{part}"
                    load(module, via)
                else:
                    member(module, part, via)
                    break

    def refer(context: str, name: str, via: str) -> None:
        info = modules[context]
        if name in info.defs:
            visit(context, name, via)
        elif name in info.bindings:
            module, attribute = info.bindings[name]
            load(module, via)
            if attribute is not None:
                member(module, attribute, via)

    def member(module: str, name: str, via: str) -> None:
        load(module, via)
        if _module_file(f"{module}.{name}"):
            load(f"{module}.{name}", via)
        else:
            refer(module, name, via)

    def visit(module: str, name: str, via: str) -> None:
        if (module, name) in visited:
            return
        visited.add((module, name))
        via = f"{via} -> {module}.{name}"
        if name in modules[module].methods:
            classes[(module, name)] = via
        run_scope(modules[module].defs[name], module, via)

    def load(dotted: str, via: str) -> None:
        parts = dotted.split(".")
        for i in range(1, len(parts) + 1):  # parent packages run first
            name = ".".join(parts[:i])
            if (name, None) in visited:
                continue
            path = _module_file(name)
            if path is None:
                raise AssertionError(f"{via}: imports {dotted}, but there is no module {name} under src/")
            visited.add((name, None))
            modules[name] = parse_module(path)
            run_scope(modules[name].top, name, f"{via} -> {name}")

    modules["__script__"] = parse_module(script, whole=True)
    run_scope(modules["__script__"].top, "__script__", script.name)
    # A method of a class that runs counts when its name is used as an attribute
    # anywhere in code that runs (types are not followed), or when it is special.
    changed = True
    while changed:
        changed = False
        for (module, cls), via in list(classes.items()):
            for method, scope in modules[module].methods[cls].items():
                key = (module, f"{cls}.{method}")
                special = method.startswith("__") and method.endswith("__")
                if key in visited or not (special or method in attrs_seen):
                    continue
                visited.add(key)
                run_scope(scope, module, f"{via}.{method}")
                changed = True
    if reached is not None:
        reached |= visited
    return needed, project


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def check_rule(rule: RuleInfo) -> list[str]:
    """Problems with one rule's declarations and environment; empty if none."""
    problems = []
    where = f"{_rel(rule.file)}:{rule.line}: rule {rule.name}"
    if not ACTION_DIRECTIVES & rule.directives.keys():
        return []  # a target rule such as `all`: nothing runs
    for directive in ("conda", "log"):
        if directive not in rule.directives:
            problems.append(f"{where}: no `{directive}:` directive")
    env_path = rule.path_of("conda")
    if env_path is None:
        return problems
    if not env_path.is_file():
        return problems + [f"{where}: conda env {env_path} does not exist"]
    provided = provided_modules(load_env(env_path))
    script = rule.path_of("script")
    if script is None:
        return problems
    if not script.is_file():
        return problems + [f"{where}: script {script} does not exist"]
    for module, sites in sorted(third_party_imports(script).items()):
        if module not in provided:
            first = sites[0]
            problems.append(
                f"{where}: `{module}` (imported at {_rel(first.file)}:{first.line}, reached by"
                f" {first.via}) is not provided by {_rel(env_path)}"
            )
    return problems


# ---------------------------------------------------------------------------------
# tests of the real workflow


def test_workflow_has_rules():
    rules = workflow_rules()
    assert rules, f"no rules found in {RULES_DIR}/*.smk: nothing to check"
    assert any("script" in r.directives for r in rules), "no rule has a `script:`"


@pytest.mark.parametrize("rule", workflow_rules(), ids=lambda r: r.name)
def test_rule_environment(rule: RuleInfo):
    problems = check_rule(rule)
    assert not problems, "\n".join(problems)


def test_project_importable_by_scripts():
    """Scripts find `aurora_xai` inside their conda environments.

    Snakemake copies environment files before building them (so a relative
    `pip: [-e ..]` points elsewhere) and by default removes PYTHONPATH inside conda
    environments.  Accepted ways, checked per rule:
    * the workflow puts src/ on PYTHONPATH and the workflow profile (profiles/default,
      applied to every run) sets `conda-not-block-search-path-envvars: true`;
    * a link ``aurora_xai -> ../../src/aurora_xai`` beside the scripts (a script's
      directory is on its search path);
    * the rule's environment installs the project with a pip entry.
    """
    workflow_text = "\n".join(p.read_text() for p in [REPO / "Snakefile", *RULES_DIR.glob("*.smk")] if p.is_file())
    exports_src = re.search(r"PYTHONPATH", workflow_text) is not None and "src" in workflow_text
    profile = yaml.safe_load((REPO / "profiles" / "default" / "config.yaml").read_text()) or {}
    unblocked = profile.get("conda-not-block-search-path-envvars") is True
    missing = []
    for rule in workflow_rules():
        script = rule.path_of("script")
        if script is None or not script.is_file():
            continue
        imports = parse_module(script, whole=True).top.imports
        if not any(s.module.split(".")[0] == PROJECT for s in imports):
            continue
        if exports_src and unblocked:
            continue
        if (script.parent / PROJECT / "__init__.py").is_file():
            continue
        env_path = rule.path_of("conda")
        if env_path is not None and env_path.is_file():
            _, pip = env_specs(load_env(env_path))
            if any(PROJECT.replace("_", "-") in p or PROJECT in p for p in pip):
                continue
        missing.append(f"rule {rule.name} ({script.relative_to(REPO)})")
    assert not missing, (
        f"{PROJECT} is not importable in the conda environment of: "
        + ", ".join(missing)
        + f" (PYTHONPATH exported by the workflow: {exports_src};"
        f" conda-not-block-search-path-envvars in profiles/default: {unblocked})"
    )


# ---------------------------------------------------------------------------------
# the environment files against the lock

ENV_FILES = sorted(ENVS_DIR.glob("*.yaml"))
ENV_SPECS = {spec.name: spec for spec in env_pins.ENVS}
LOCK = env_pins.read_lock()


def pip_section(path: Path) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """(option lines, pins) of an environment's pip section; pins map canonical name -> (name, version).

    Raises:
        AssertionError: an entry that is not ``name==version``.
    """
    _, pip = env_specs(load_env(path))
    options = [p for p in pip if p.startswith("-")]
    pins: dict[str, tuple[str, str]] = {}
    for entry in pip:
        if entry.startswith("-"):
            continue
        try:
            req = Requirement(entry)
        except InvalidRequirement as err:
            raise AssertionError(f"{path.name}: pip entry `{entry}`: {err}") from err
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==" and not req.marker and not req.extras, (
            f"{path.name}: pip entry `{entry}` is not pinned as `name==version`"
        )
        pins[canonicalize_name(req.name)] = (req.name, specs[0].version)
    return options, pins


def drift_problems(path: Path, lock: Mapping[str, env_pins.Locked], declared: Mapping[str, env_pins.Pin]) -> list[str]:
    """How an environment file departs from the scheme; empty if it does not.

    ``declared`` holds the pins deliberately outside the lock, by canonical name.
    """
    env = load_env(path)
    problems = []
    channels = env.get("channels") or []
    if list(channels) != list(env_pins.CHANNELS):
        problems.append(f"channels {channels}, expected {list(env_pins.CHANNELS)}")
    conda, _ = env_specs(env)
    if conda != [f"python={env_pins.PYTHON}", "pip"]:
        problems.append(f"conda gives {conda}; it must give only python={env_pins.PYTHON} and pip")
    _, pins = pip_section(path)
    for key, (name, version) in pins.items():
        if key in declared:
            if version != declared[key].version:
                problems.append(f"{name}=={version}: tools/env_pins.py declares {declared[key].version}")
        elif key not in lock:
            problems.append(f"{name}=={version} is not in requirements.lock")
        elif lock[key].version != version:
            problems.append(f"{name}=={version}: requirements.lock pins {lock[key].version}")
    for key, (name, version) in pins.items():
        if key in declared:
            requires = declared[key].requires
        else:
            try:
                requires = env_pins.installed_requires(name, version)
            except env_pins.PinError as err:
                problems.append(f"cannot check what {name}=={version} requires: {err}")
                continue
        for req in env_pins.applicable(requires):
            dep = canonicalize_name(req.name)
            if dep not in pins:
                problems.append(f"{name}=={version} requires {req}, which is not pinned (closure incomplete)")
            elif not req.specifier.contains(pins[dep][1], prereleases=True):
                problems.append(f"{name}=={version} requires {req}, but {pins[dep][0]}=={pins[dep][1]} is pinned")
    return [f"{path.name}: {p}" for p in problems]


def _declared(name: str) -> dict[str, env_pins.Pin]:
    return {canonicalize_name(p.name): p for p in ENV_SPECS[name].pins}


def test_env_files_are_those_of_the_tool():
    names = {p.stem for p in ENV_FILES}
    assert {"model", "analysis", "plot", "data"} <= names, names
    assert names == set(ENV_SPECS), f"envs/ holds {sorted(names)}, tools/env_pins.py describes {sorted(ENV_SPECS)}"


@pytest.mark.parametrize("name", sorted(ENV_SPECS))
def test_env_file_is_generated_from_lock(name: str):
    spec = ENV_SPECS[name]
    expected = env_pins.render(spec, env_pins.env_pins(spec, LOCK), LOCK)
    assert spec.path.read_text() == expected, (
        f"envs/{name}.yaml is not what tools/env_pins.py writes from requirements.lock: run `python tools/env_pins.py`"
    )


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_follow_lock(path: Path):
    """Versions are the lock's, nothing is outside it unless declared, and the pins are closed."""
    problems = drift_problems(path, LOCK, _declared(path.stem))
    assert not problems, "\n".join(problems)


def test_drift_check_reports_each_kind_of_drift(tmp_path: Path):
    _, pins = pip_section(ENVS_DIR / "plot.yaml")
    entries = [f"{name}=={version}" for key, (name, version) in pins.items() if key not in ("cftime", "numpy")]
    entries += ["numpy==1.26.4", "not-a-locked-package==1.0"]
    # the lock's torchvision declares torch==2.1.2
    entries += [f"torch=={LOCK['torch'].version}", f"torchvision=={LOCK['torchvision'].version}"]
    env = {
        "channels": ["conda-forge", "defaults"],
        "dependencies": ["python=3.11", "pip", "numpy=2.4.6", {"pip": entries}],
    }
    path = tmp_path / "drifted.yaml"
    path.write_text(yaml.safe_dump(env))

    problems = "\n".join(drift_problems(path, LOCK, {}))
    assert "drifted.yaml: channels ['conda-forge', 'defaults']" in problems
    assert "conda gives ['python=3.11', 'pip', 'numpy=2.4.6']" in problems
    assert f"numpy==1.26.4: requirements.lock pins {LOCK['numpy'].version}" in problems
    assert "not-a-locked-package==1.0 is not in requirements.lock" in problems
    assert "requires cftime, which is not pinned (closure incomplete)" in problems
    assert f"torch==2.1.2, but torch=={LOCK['torch'].version} is pinned" in problems

    # a declared pin: its own version and requirements are used, and a mismatch reported
    tv = env_pins.TORCHVISION_CUDA
    ok = {"torchvision": dataclasses.replace(tv, version=LOCK["torchvision"].version)}
    assert "torch==2.1.2" not in "\n".join(drift_problems(path, LOCK, ok))
    problems = "\n".join(drift_problems(path, LOCK, {"torchvision": tv}))
    assert f"torchvision=={LOCK['torchvision'].version}: tools/env_pins.py declares {tv.version}" in problems


def test_tool_refuses_unlocked_roots():
    spec = env_pins.EnvSpec("made_up", "", roots=("numpy", "not-a-locked-package"))
    with pytest.raises(env_pins.PinError, match="not-a-locked-package .* is not in requirements.lock"):
        env_pins.env_pins(spec, LOCK)
    pins = env_pins.env_pins(env_pins.EnvSpec("made_up", "", roots=("pandas",)), LOCK)
    assert {"pandas", "numpy", "python-dateutil"} <= set(pins)  # followed through metadata
    assert "scipy" not in pins  # an extra of pandas, not taken


# ---------------------------------------------------------------------------------
# building the environments (marked `envs`: they need PyPI and a few minutes)


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


def _requirements(pins: Mapping[str, tuple[str, str]]) -> str:
    return "".join(f"{name}=={version}\n" for name, version in pins.values())


def cpu_swaps(pins: Mapping[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """Pins replaced after the build here, so that the environment imports with a CPU torch.

    A package pinned away from the lock for the CUDA build of torch (torchvision 0.28.0)
    takes the lock's version: this machine has only a CPU build of torch 2.13.0, with
    which that torchvision cannot be imported, and the lock's torchvision is the one that
    imports with it.
    """
    cuda_pairs = {canonicalize_name(env_pins.TORCHVISION_CUDA.name)}
    return {k: (LOCK[k].name, LOCK[k].version) for k in pins if k in cuda_pairs and pins[k][1] != LOCK[k].version}


@dataclasses.dataclass(frozen=True)
class BuiltEnv:
    python: Path
    resolved: dict[str, str]  # what pip's resolver installed from the pins, by canonical name
    seconds: float  # time the build took (when it was built)


def build_env(name: str, pins: Mapping[str, tuple[str, str]], root: Path) -> BuiltEnv:
    """A fresh virtual environment built from an environment's pins.

    First ``pip install -r`` of the pins with pip's resolver on, as conda runs a pip
    section (what it installed is recorded), then ``pip install --no-deps`` of the
    ``cpu_swaps``.  Kept under ``root`` by the hash of the pins and of this Python, and
    rebuilt when either changes.

    Raises:
        AssertionError: venv or pip failed (with pip's output).
    """
    swaps = cpu_swaps(pins)
    text = _requirements(pins) + "# swapped after: " + _requirements(swaps)
    key = hashlib.sha256(f"{sys.version}\n{text}".encode()).hexdigest()[:16]
    target = root / f"{name}-{key}"
    python = target / "bin" / "python"
    record = target / "built.json"
    if record.is_file():
        built = json.loads(record.read_text())
        return BuiltEnv(python, built["resolved"], built["seconds"])
    for old in root.glob(f"{name}-*"):
        shutil.rmtree(old)
    started = time.monotonic()
    proc = _run([sys.executable, "-m", "venv", "--without-pip", str(target)])
    assert proc.returncode == 0, f"python -m venv {target} failed:\n{proc.stderr}"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-input", "--no-compile"]
    pip += ["--disable-pip-version-check", "--quiet"]
    (target / "requirements.txt").write_text(_requirements(pins))
    report = target / "report.json"
    proc = _run(pip + ["--report", str(report), "-r", str(target / "requirements.txt")])
    assert proc.returncode == 0, f"envs/{name}.yaml: pip cannot install its pins:\n{proc.stderr[-4000:]}"
    resolved = {
        canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"].split("+")[0]
        for item in json.loads(report.read_text())["install"]
    }
    if swaps:
        (target / "swaps.txt").write_text(_requirements(swaps))
        proc = _run(pip + ["--no-deps", "-r", str(target / "swaps.txt")])
        assert proc.returncode == 0, f"envs/{name}.yaml: pip install --no-deps {swaps} failed:\n{proc.stderr[-4000:]}"
    seconds = round(time.monotonic() - started, 1)
    record.write_text(json.dumps({"resolved": resolved, "seconds": seconds}))
    return BuiltEnv(python, resolved, seconds)


@pytest.fixture(scope="session")
def env_build_dir(pytestconfig, tmp_path_factory) -> Path:
    """Where built environments are kept between sessions (pytest's cache, ignored by git)."""
    cache = getattr(pytestconfig, "cache", None)
    return cache.mkdir("env-builds") if cache is not None else tmp_path_factory.mktemp("env-builds")


# Run inside a built environment: import what each rule imports, and list what is installed.
_IMPORT_CHECK = """
import importlib, importlib.metadata, json, sys, sysconfig
checks = json.load(open(sys.argv[1]))
failures = []
for check in checks:
    try:
        module = importlib.import_module(check["module"])
        for name in check["names"]:
            if not hasattr(module, name):
                importlib.import_module(check["module"] + "." + name)
    except BaseException as err:
        failures.append({**check, "error": f"{type(err).__name__}: {err}"})
paths = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
installed = {d.metadata["Name"]: d.version for d in importlib.metadata.distributions(path=paths)}
print(json.dumps({"failures": failures, "installed": installed}))
"""


def import_checks(env_path: Path) -> list[dict]:
    """What the rules using an environment import, as run in it, and its root packages."""
    checks: dict[tuple[str, tuple[str, ...]], dict] = {}
    for rule in workflow_rules():
        if "conda" not in rule.directives or rule.path_of("conda") != env_path:
            continue
        script = rule.path_of("script")
        if script is None:
            continue
        needed, project = follow_imports(script)
        for site in [s for sites in needed.values() for s in sites] + project:
            where = f"{_rel(site.file)}:{site.line}"
            check = checks.setdefault((site.module, site.names), {"module": site.module, "names": list(site.names)})
            check.setdefault("rules", {}).setdefault(f"rule {rule.name}", where)
    for root in ENV_SPECS[env_path.stem].roots:
        modules = import_names(root)
        main = [m for m in modules if m.lower() == canonicalize_name(root).replace("-", "_")]
        for module in main or sorted(modules):
            check = checks.setdefault((module, ()), {"module": module, "names": []})
            check.setdefault("rules", {})[f"root {root} in tools/env_pins.py"] = ""
    return list(checks.values())


def _clean_environ() -> dict[str, str]:
    drop = ("VIRTUAL_ENV", "CONDA_PREFIX")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k not in drop}
    # src/ on PYTHONPATH, as workflow/rules/common.smk does for every job
    env.update(PYTHONPATH=str(SRC_DIR), PYTHONNOUSERSITE="1", OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    return env


def test_import_check_runs_what_rules_import_and_reports_failures(tmp_path: Path):
    checks = import_checks(ENVS_DIR / "model.yaml")
    modules = {c["module"] for c in checks}
    assert {"torch", "aurora", "captum", "netCDF4", "dask"} <= modules  # imports and roots
    assert any(m.startswith(f"{PROJECT}.") for m in modules)
    assert all(c["rules"] for c in checks)
    made_up = [
        {"module": "json", "names": ["dumps"], "rules": {"rule a": "x.py:1"}},
        {"module": "json", "names": ["no_such_name"], "rules": {"rule b": "x.py:2"}},
        {"module": "no_such_module_here", "names": [], "rules": {"rule c": "x.py:3"}},
    ]
    payload = tmp_path / "checks.json"
    payload.write_text(json.dumps(made_up))
    proc = _run([sys.executable, "-c", _IMPORT_CHECK, str(payload)], cwd=tmp_path)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [f["rules"] for f in result["failures"]] == [{"rule b": "x.py:2"}, {"rule c": "x.py:3"}]
    assert "ModuleNotFoundError" in result["failures"][1]["error"]
    assert canonicalize_name("numpy") in {canonicalize_name(k) for k in result["installed"]}


@pytest.mark.envs
@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_builds_from_its_pins_and_runs_rule_imports(path: Path, env_build_dir: Path, tmp_path: Path):
    """An environment built from its pins alone is exactly those pins and imports what its rules import.

    pip's resolver, run on the pins as conda runs it on the pip section, must install
    exactly them: nothing added (the closure is complete, so `pip install --no-deps`
    gives the same set), nothing refused.  The section's extra index cannot be reached
    here; on a cluster it supplies the CUDA builds of torch and torchvision and the CUDA
    libraries that torch pins itself.
    """
    options, pins = pip_section(path)
    built = build_env(path.stem, pins, env_build_dir)
    wanted = {k: v for k, (_, v) in pins.items()}
    added = {k: v for k, v in built.resolved.items() if k not in wanted}
    assert not added, f"{path.name}: pip's resolver adds packages the pins lack: {added}"
    assert built.resolved == wanted, f"{path.name}: pip's resolver installs {built.resolved}, the pins say {wanted}"

    checks = import_checks(path)
    assert checks, f"no rule uses {path.name}"
    payload = tmp_path / "checks.json"
    payload.write_text(json.dumps(checks))
    proc = _run([str(built.python), "-c", _IMPORT_CHECK, str(payload)], cwd=tmp_path, env=_clean_environ(), timeout=600)
    assert proc.returncode == 0, f"{path.name}: the import check did not run:\n{proc.stderr[-4000:]}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    problems = [
        f"{f['module']} {f['names'] or ''} ({'; '.join(f'{r} {w}'.strip() for r, w in f['rules'].items())}): {f['error']}"
        for f in result["failures"]
    ]
    assert not problems, f"{path.name}, built from its pins, cannot import:\n" + "\n".join(problems)
    installed = {canonicalize_name(k): v.split("+")[0] for k, v in result["installed"].items()}
    expected = {**wanted, **{k: v for k, (_, v) in cpu_swaps(pins).items()}}
    assert installed == expected, f"{path.name}: the built environment holds {installed}, expected {expected}"


# ---------------------------------------------------------------------------------
# tests of the checker itself, on the toy workflow and on made-up rules


def test_checker_on_toy_workflow():
    rules = {r.name: r for r in parse_rules(TOY_SNAKEFILE)}
    assert set(rules) == {"all", "extract_latents", "summarise_latents", "check_memory"}
    assert rules["summarise_latents"].path_of("conda") == ENVS_DIR / "analysis.yaml"
    script = rules["summarise_latents"].path_of("script")
    assert set(third_party_imports(script)) == {"numpy"}
    for rule in rules.values():
        assert check_rule(rule) == [], rule.name


def test_checker_reports_missing_module_and_directives(tmp_path: Path):
    (tmp_path / "s.py").write_text(
        textwrap.dedent(
            """
            import os
            import sklearn.decomposition
            from aurora_xai.regimes import pca
            try:
                import cartopy
            except ImportError:
                cartopy = None

            def f():
                import netCDF4
            """
        )
    )
    smk = tmp_path / "r.smk"
    smk.write_text(
        textwrap.dedent(
            f"""
            rule fit_thing:
                input:
                    "a.nc",
                output:
                    "b.nc",
                conda:
                    "{ENVS_DIR / "plot.yaml"}"
                script:
                    "s.py"

            rule other:
                output: "c.txt"
                shell: "touch {{output}}"

            if config.get("download", {{}}).get("enabled", False):

                localrules:
                    fetch_thing,

                rule fetch_thing:
                    output:
                        "d.txt",
                    log:
                        "e.log",
                    script:
                        "s.py"

            rule last:
                output: "f.txt"
                run:
                    pass
            """
        )
    )
    rules = {r.name: r for r in parse_rules(smk)}
    assert set(rules) == {"fit_thing", "other", "fetch_thing", "last"}
    assert set(rules["fetch_thing"].directives) == {"output", "log", "script"}  # inside an `if`
    assert set(rules["last"].directives) == {"output", "run"}
    needed = third_party_imports(tmp_path / "s.py")
    assert {"sklearn", "numpy", "netCDF4"} <= set(needed)
    assert "cartopy" not in needed and "os" not in needed
    (tmp_path / "gone.py").write_text("from aurora_xai.no_such_module import f\n")
    with pytest.raises(AssertionError, match="no module aurora_xai.no_such_module under src/"):
        third_party_imports(tmp_path / "gone.py")

    problems = check_rule(rules["fit_thing"])
    assert any("no `log:`" in p for p in problems)
    assert any("`sklearn`" in p for p in problems)
    assert not any("`numpy`" in p or "`netCDF4`" in p for p in problems)
    problems = check_rule(rules["other"])
    assert any("no `conda:`" in p for p in problems)
    assert any("rule fetch_thing: no `conda:`" in p for p in check_rule(rules["fetch_thing"]))


def test_spec_names():
    assert spec_name("numpy=2.4.6") == "numpy"
    assert spec_name("conda-forge::pytorch=2.13.0=cuda*") == "pytorch"
    assert spec_name("microsoft-aurora==2.0.1") == "microsoft-aurora"
    assert spec_name("scikit-learn>=1.5,<2") == "scikit-learn"
    assert spec_name("-e ..") is None
    assert import_names("pyyaml") == {"yaml"}
    assert import_names("huggingface_hub") == {"huggingface_hub"}
