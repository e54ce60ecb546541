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


@dataclasses.dataclass(frozen=True)
class ImportSite:
    module: str  # dotted name as written
    file: Path
    line: int


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


def imports_of(path: Path) -> list[ImportSite]:
    """Imports of a Python file that are not optional, as absolute module names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    optional = _optional_nodes(tree)
    sites = []
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            sites += [ImportSite(a.name, path, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            sites.append(ImportSite(node.module, path, node.lineno))
            # `from package import submodule` imports the submodule too
            sites += [ImportSite(f"{node.module}.{a.name}", path, node.lineno) for a in node.names if a.name != "*"]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            base = _package_of(path, node.level)
            if base is None:  # a relative import in a script: its own directory
                continue
            module = ".".join(filter(None, [base, node.module]))
            sites.append(ImportSite(module, path, node.lineno))
            sites += [ImportSite(f"{module}.{a.name}", path, node.lineno) for a in node.names if a.name != "*"]
    return sites


def _package_of(path: Path, level: int) -> str | None:
    """The package a relative import of `level` dots refers to, for files under src/."""
    if not path.is_relative_to(SRC_DIR):
        return None
    parts = list(path.relative_to(SRC_DIR).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    package = parts[:-1] if path.name != "__init__.py" else parts
    package = package[: len(package) - (level - 1)]
    return ".".join(package) or None


def project_files(dotted: str) -> list[Path]:
    """Files executed by importing a project module: each package __init__ on the way."""
    parts = dotted.split(".")
    files = []
    for i in range(1, len(parts) + 1):
        base = SRC_DIR.joinpath(*parts[:i])
        if (base / "__init__.py").is_file():
            files.append(base / "__init__.py")
        elif base.with_suffix(".py").is_file():
            files.append(base.with_suffix(".py"))
            break
        else:  # a name inside a module (`from aurora_xai.x import some_function`)
            break
    return files


def third_party_imports(script: Path) -> dict[str, list[ImportSite]]:
    """Top-level third-party modules needed by a script, with where they are imported."""
    needed: dict[str, list[ImportSite]] = {}
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for site in imports_of(path):
            top = site.module.split(".")[0]
            if top == PROJECT:
                todo += project_files(site.module)
            elif top not in sys.stdlib_module_names and top not in ALWAYS_AVAILABLE:
                needed.setdefault(top, []).append(site)
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
                f"{where}: `{module}` (imported at {_rel(first.file)}:{first.line}) is not provided by {_rel(env_path)}"
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

    Snakemake removes PYTHONPATH inside conda environments and copies environment
    files before building them (so a relative `pip: [-e ..]` would point elsewhere).
    A script directory's own entries are importable, so a link
    ``workflow/scripts/aurora_xai -> ../../src/aurora_xai`` makes the library
    importable in every environment.  Alternatively an environment may install it
    with a pip entry naming the project.
    """
    missing = []
    for rule in workflow_rules():
        script = rule.path_of("script")
        if script is None or not script.is_file():
            continue
        if not any(s.module.split(".")[0] == PROJECT for s in imports_of(script)):
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
        + f" (add a link {PROJECT} -> src/{PROJECT} beside the scripts)"
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
    assert set(rules) == {"all", "extract_latents", "summarise_latents"}
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
