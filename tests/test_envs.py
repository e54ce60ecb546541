"""Static checks of the per-rule conda environments (conda itself is not needed).

For every rule in ``workflow/rules/*.smk`` that runs something:

* it declares ``conda:`` and ``log:``;
* its environment file exists and parses;
* every third-party module imported by its script, and by the ``aurora_xai`` modules
  that script imports (followed transitively), is provided by a package of that
  environment.

Imports guarded by ``try: ... except ImportError`` and ``if TYPE_CHECKING:`` blocks are
optional and not required.  Imports inside functions are required: the library keeps
heavy imports (``aurora``, ``captum``, ``gcsfs``) inside the functions that use them.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.metadata
import re
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
RULES_DIR = REPO / "workflow" / "rules"
ENVS_DIR = REPO / "envs"
SRC_DIR = REPO / "src"
TOY_SNAKEFILE = REPO / "tests" / "slurm_toy" / "Snakefile"
PROJECT = "aurora_xai"

# Package names (conda-forge or PyPI, lower case) whose import name differs from
# the name with "-" replaced by "_".
IMPORT_NAMES: dict[str, set[str]] = {
    "pytorch": {"torch"},
    "pytorch-cpu": {"torch"},
    "pytorch-gpu": {"torch"},
    "scikit-learn": {"sklearn"},
    "pyyaml": {"yaml"},
    "microsoft-aurora": {"aurora"},
    "netcdf4": {"netCDF4"},
    "python-dateutil": {"dateutil"},
    "matplotlib-base": {"matplotlib"},
    "pillow": {"PIL"},
    "beautifulsoup4": {"bs4"},
    "opencv": {"cv2"},
    "google-cloud-storage": {"google"},
    "pytables": {"tables"},
    "cartopy": {"cartopy"},
    "python-eccodes": {"eccodes", "gribapi"},
}
# Conda package names that install a Python distribution of another name, for the
# check of pinned versions against what is installed here.
DISTRIBUTION_NAMES = {"pytorch": "torch", "matplotlib-base": "matplotlib"}
# Modules available to every script without being in an environment: the project
# itself (see test_project_importable_by_scripts) and `snakemake`, whose package
# directory Snakemake adds to the search path of every script.
ALWAYS_AVAILABLE = {PROJECT, "snakemake"}
ACTION_DIRECTIVES = {"shell", "script", "run", "notebook", "wrapper", "cwl"}

_SPEC_NAME = re.compile(r"^(?:[\w.-]+::)?([A-Za-z0-9_.\-]+)")


# ---------------------------------------------------------------------------------
# parsing rules


@dataclasses.dataclass
class RuleInfo:
    name: str
    file: Path
    line: int
    directives: dict[str, str]  # directive -> its text (first line and continuation)

    def path_of(self, directive: str) -> Path | None:
        """Path named by a directive holding one string literal, relative to the rule file."""
        text = self.directives.get(directive)
        if text is None:
            return None
        try:
            value = ast.literal_eval(text.strip().rstrip(","))
        except (ValueError, SyntaxError):
            value = None
        assert isinstance(value, str), (
            f"{self.file.name}:{self.line}: rule {self.name}: `{directive}:` is not a "
            f"plain string literal ({text.strip()!r}); this test cannot follow it"
        )
        return (self.file.parent / value).resolve()


_RULE_HEAD = re.compile(r"^(rule|checkpoint)\s+(\w+)\s*:\s*(#.*)?$")
_DIRECTIVE = re.compile(r"^(\s+)(\w+)\s*:(.*)$")


def parse_rules(path: Path) -> list[RuleInfo]:
    """Rules of a Snakefile or .smk file, with the text of each directive."""
    rules: list[RuleInfo] = []
    current: RuleInfo | None = None
    directive_indent: int | None = None
    directive: str | None = None
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        head = _RULE_HEAD.match(line)
        if head:
            current = RuleInfo(head.group(2), path, lineno, {})
            rules.append(current)
            directive_indent, directive = None, None
            continue
        if not line[0].isspace():  # any other top-level statement ends the rule
            current = None
            continue
        if current is None:
            continue
        indent = len(line) - len(line.lstrip())
        match = _DIRECTIVE.match(line)
        if match and (directive_indent is None or indent <= directive_indent):
            directive_indent = indent
            directive = match.group(2)
            current.directives[directive] = match.group(3).strip()
        elif directive is not None:
            joined = current.directives[directive]
            current.directives[directive] = (joined + "\n" + line.strip()).strip()
    return rules


def workflow_rules() -> list[RuleInfo]:
    files = sorted(RULES_DIR.glob("*.smk"))
    return [rule for f in files for rule in parse_rules(f)]


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


def import_names(package: str) -> set[str]:
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
                scope.imports.append(ImportSite(base, path, node.lineno))
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
    needed: dict[str, list[ImportSite]] = {}
    modules: dict[str, ModuleInfo] = {}
    visited: set[tuple[str, str | None]] = set()
    attrs_seen: set[str] = set()  # attribute names used by code that runs
    classes: dict[tuple[str, str], str] = {}  # (module, class) reached -> via

    def run_scope(scope: Scope, context: str, via: str) -> None:
        attrs_seen.update(scope.attrs)
        for site in scope.imports:
            top = site.module.split(".")[0]
            if top == PROJECT:
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
                return
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
    return needed


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
# tests of the environment files


ENV_FILES = sorted(ENVS_DIR.glob("*.yaml"))


def test_env_files_exist():
    names = {p.stem for p in ENV_FILES}
    assert {"model", "analysis", "plot", "data"} <= names, names


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_file_is_pinned_conda_forge(path: Path):
    env = load_env(path)
    channels = env.get("channels") or []
    assert channels and channels[0] == "conda-forge", f"{path.name}: conda-forge first"
    assert "defaults" not in channels, f"{path.name}: the `defaults` channel is not used"
    conda, pip = env_specs(env)
    for spec in conda:
        if spec_name(spec) == "pip":
            continue
        assert re.search(r"[=<>]", spec), f"{path.name}: `{spec}` has no version"
    for spec in pip:
        if spec_name(spec) is not None:
            assert "==" in spec, f"{path.name}: pip entry `{spec}` is not pinned with =="
    assert any(spec_name(s) == "python" for s in conda), f"{path.name}: no python pin"
    if pip:
        assert any(spec_name(s) == "pip" for s in conda), f"{path.name}: pip entries need pip"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_match_installed(path: Path):
    """Pinned versions are those this test suite runs with (where installed here)."""
    conda, pip = env_specs(load_env(path))
    mismatched = []
    for spec in conda + pip:
        name = spec_name(spec)
        version = re.split(r"==|=", spec.split("::")[-1], maxsplit=2)
        if name in (None, "python", "pip") or len(version) < 2:
            continue
        pinned = version[1]
        try:
            installed = importlib.metadata.version(DISTRIBUTION_NAMES.get(name, name))
        except importlib.metadata.PackageNotFoundError:
            continue
        # conda's `=1.7.5` matches 1.7.5, 1.7.5.1, ...; a local tag (+cpu) is ignored
        installed = installed.split("+")[0]
        if not (installed == pinned or installed.startswith(pinned + ".")):
            mismatched.append(f"{name}: pinned {pinned}, installed {installed}")
    assert not mismatched, f"{path.name}: " + "; ".join(mismatched)


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
            """
        )
    )
    rules = {r.name: r for r in parse_rules(smk)}
    assert set(rules) == {"fit_thing", "other"}
    needed = third_party_imports(tmp_path / "s.py")
    assert {"sklearn", "numpy", "netCDF4"} <= set(needed)
    assert "cartopy" not in needed and "os" not in needed

    problems = check_rule(rules["fit_thing"])
    assert any("no `log:`" in p for p in problems)
    assert any("`sklearn`" in p for p in problems)
    assert not any("`numpy`" in p or "`netCDF4`" in p for p in problems)
    problems = check_rule(rules["other"])
    assert any("no `conda:`" in p for p in problems)


def test_spec_names():
    assert spec_name("numpy=2.4.6") == "numpy"
    assert spec_name("conda-forge::pytorch=2.13.0=cuda*") == "pytorch"
    assert spec_name("microsoft-aurora==2.0.1") == "microsoft-aurora"
    assert spec_name("scikit-learn>=1.5,<2") == "scikit-learn"
    assert spec_name("-e ..") is None
    assert import_names("pyyaml") == {"yaml"}
    assert import_names("huggingface_hub") == {"huggingface_hub"}
