"""Results never go stale: a changed setting reruns exactly the rules that read it.

For every leaf key of the config schema, an overlay changes that key to another valid
value and Snakemake dry-runs on the completed embedded default. The rules it schedules
must be the rules that declare the key in their params (``declare(...)`` in the rule
files) and everything downstream of them, nothing more and nothing less. Keys added to
the schema later are covered automatically: a new key needs either a value generated
from its schema type or an entry in :data:`ALTERNATIVES`.
"""

from __future__ import annotations

import ast
import concurrent.futures
import re
from pathlib import Path

import pytest
import yaml
from conftest import REPO, job_counts, run_snakemake
from presets import merge, nest
from workflow_rules import workflow_rules

from aurora_xai.settings import EXECUTION_KEYS, leaf_keys, load_config, view_keys

BASE = load_config(REPO / "config/config.yaml")
STORE = BASE["data"]["path"]

#: Second values where the one generated from the schema type is not valid for the
#: embedded default (or there is no natural one). A value is an overlay: the key's new
#: value, or a dict of dotted keys when a change is only valid together with others.
#: The probe quantities of any store (the embedded default adds the planted terms of F).
PHYSICAL_QUANTITIES = ["t850", "z500", "msl", "t2m", "wind10_max", "jet_lat_u250"]

ALTERNATIVES: dict[str, object] = {
    # the synthetic store, read as a WeatherBench 2 store (without the planted terms of F,
    # which only data.source synthetic may ask for)
    "data.source": {
        "data.source": "weatherbench2",
        "probes.quantities": PHYSICAL_QUANTITIES,
        "interventions.directions": ["pc1", "storm_axis"],
    },
    "data.path": "results/data/era5_other.zarr",
    "data.flipped_times": ["2005-01-01T06:00"],
    "data.variable_names.surf": {"2t": "2m_temperature"},
    "data.variable_names.atmos": {"t": "temperature"},
    "data.variable_names.static": {"lsm": "land_sea_mask"},
    "data.static_path": STORE,  # the static fields from a separate file (here: the same store)
    "data.levels": [100, 150, 200, 250, 300, 400, 500, 600, 700, 850, 925, 1000],
    "synthetic.resolution": 1.5,  # 121 x 240: a grid Aurora's patches fit
    "synthetic.periods": [["2004-10-01", "2004-11-30"], ["2004-12-31", "2005-12-31"], ["1987-10-12", "1987-10-20"]],
    "dates.start": "2005-01-02",
    "dates.end": "2005-12-30",
    "dates.target_hour": 12,  # still a 6-hourly time of the store
    # history in the store; 12 h is not the model's step, so the experiment switch goes with it
    "dates.history_hours": {
        "dates.history_hours": 12,
        "dates.start": "2005-01-02",
        "dates.allow_history_mismatch": True,
    },
    # the surrogate's file named explicitly (a file that is not there would be a missing input)
    "model.checkpoint": "results/surrogate/surrogate.pt",
    "surrogate.train_period": ["2004-10-01", "2004-11-29"],
    "latents.tap": "encoder",
    # a tap fewer from the same forward passes (the features' and steering's taps stay extracted)
    "latents.taps": ["encoder", "backbone.encoder.1"],
    "latents.stats": ["mean", "std"],
    "regions": {"tropics": {"lat_min": -20, "lat_max": 20, "lon_min": 0, "lon_max": 360}},
    "pca.region": "europe",
    "pca.levels": ["surface", "atmos_1"],
    "regimes.bootstrap_block": 7,
    "regimes.cv_gap_days": 5,
    "probes.region": "europe",
    "probes.quantities": ["t2m", "msl"],
    "probes.alphas": [0.1, 10, 1000],  # "auto" | "none" | a block length: no generated value for oneOf
    "perturbation.batch_size": "auto",  # an integer or "auto": no generated value for oneOf
    "interventions.batch_size": "auto",  # an integer or "auto": no generated value for oneOf
    "attribution.cases": ["great_storm_1987"],  # fewer cases: the headline table changes
    "attribution.target_variable": "2t",
    "attribution.target_level": 500,
    "attribution.target_region": "europe",
    "attribution.latent_layer": "encoder",
    "attribution.map_levels": [500, 850],
    "attribution.map_variable": "t",
    "perturbation.cases": {"great_storm_1987": {"variable": "2t"}},
    "perturbation.methods": ["lrp", "random"],
    # rule needs the compute_relevance rule's target to be the perturbation's (europe, not the box)
    "perturbation.lrp_source": {"perturbation.lrp_source": "rule", "attribution.target_region": "europe"},
    "perturbation.latent_layer": "encoder",
    "perturbation.relevance.variables": ["msl", "t"],
    "perturbation.relevance.levels": [500, 850],
    "perturbation.relevance.history": [0],
    "perturbation.masked.variables": ["msl"],
    "perturbation.masked.levels": [850],
    "perturbation.masked.history": [0],
    "perturbation.fractions": [1, 2, 5],
    "perturbation.random_kinds": ["scattered"],
    "perturbation.ci_level": 0.9,
    "download.enabled": {  # only with a real store: the download copies it into data.path
        "download.enabled": True,
        "download.url": STORE,
        "data.source": "weatherbench2",
        "data.path": "results/data/era5_local.zarr",
        "probes.quantities": PHYSICAL_QUANTITIES,
        "interventions.directions": ["pc1", "storm_axis"],
    },
    "download.url": "gs://weatherbench2/other.zarr",
    "download.cds_dir": "cds",
    "labels.region": "europe",
    "labels.hour": 18,
    "labels.start": "2005-02-01",
    "labels.end": "2005-11-30",
    "labels.calm_threshold": 10.0,
    "labels.source": "weatherbench2",
    "labels.path": STORE,
    "storms": {"great_storm_1987": {"radius_deg": 6.0}},
    "interventions.tap": "backbone",  # latents.tap named: the enum's first other tap is not extracted
    "interventions.region": "europe",
    "interventions.directions": ["pc1"],
    "interventions.quantities": ["2t"],
    "interventions.alphas": [-1.0, 1.0],
    "features.steering.tap": "backbone.encoder.1",
    "features.steering.quantities": ["2t"],
    "features.steering.alphas": [-1.0, 1.0],
    "validation.cases": ["katrina_2005"],
    "validation.methods": ["lrp_cp", "saliency"],
    "validation.cascade_methods": ["lrp_cp"],
    "validation.target_variable": "10v",
    "validation.target_level": {"validation.target_level": 500, "validation.target_variable": "z"},
    "features.taps": ["backbone"],
    "features.sample.lat_edges": [-90, 0, 90],
    "features.sae.k_aux": 4,
    "features.sae.learning_rate": 0.001,
    "features.sae.seeds": [0, 2],
}

#: Keys whose change cannot change any output, and why; they must schedule nothing.
NO_EFFECT: dict[str, str] = {
    **{k: "an execution setting (how a job runs), passed as a resource" for k in EXECUTION_KEYS},
    "perturbation.headline_case": "empty means the first case, which is what the default names",
}
#: Overlay values for NO_EFFECT keys that have no generated value.
ALTERNATIVES["perturbation.headline_case"] = ""


def _get(cfg: dict, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def alternative(key: str, node: dict) -> dict[str, object]:
    """A valid overlay changing ``key``: ``{dotted key: new value}``."""
    if key in ALTERNATIVES:
        alt = ALTERNATIVES[key]
        return alt if isinstance(alt, dict) and key in alt else {key: alt}
    value = _get(BASE, key)
    kind = node.get("type")
    if "enum" in node:
        return {key: next(v for v in node["enum"] if v != value)}
    if kind == "boolean":
        return {key: not value}
    if kind == "integer":
        new = value + 1
        if "maximum" in node and new > node["maximum"]:
            new = value - 1
        return {key: new}
    if kind == "number":
        new = value * 2 if value else 1.0
        if "maximum" in node and new > node["maximum"]:
            new = value / 2
        return {key: new}
    raise AssertionError(f"no alternative value for config key {key!r}: add one to ALTERNATIVES")


# --------------------------------------------------------------------------------------
# What the rules declare.
# --------------------------------------------------------------------------------------


def _calls(text: str, name: str) -> list[ast.Call]:
    """The calls ``name(...)`` in ``text`` (found by balanced parentheses, parsed by ast)."""
    out = []
    for m in re.finditer(rf"\b{name}\(", text):
        depth, i = 0, m.end() - 1
        while True:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                break
            i += 1
        out.append(ast.parse(text[m.start() : i + 1].strip(), mode="eval").body)
    return out


def _imported(root: Path) -> dict[str, object]:
    """The names common.smk imports from the library (the per-use view types a rule may
    declare, ``declare(BootstrapSettings, ...)``)."""
    namespace: dict[str, object] = {}
    text = (root / "workflow/rules/common.smk").read_text()
    for m in re.finditer(r"^from aurora_xai\.[\w.]+ import (\([^)]*\)|[^\n]*)", text, re.M):
        exec(m.group(0), namespace)
    return namespace


def _keys(arg: ast.expr, namespace: dict[str, object]) -> list[str]:
    """The dotted keys one argument of ``declare`` stands for."""
    if isinstance(arg, ast.Name):
        return view_keys(namespace[arg.id])
    return [ast.literal_eval(arg)]


def declared_keys(root: Path = REPO, dag: bool = False) -> dict[str, set[str]]:
    """Rule -> the config keys its params declare (``declare(...)``); with ``dag``, the
    keys it lists as shaping its jobs (``dag=``) instead."""
    out: dict[str, set[str]] = {}
    namespace = _imported(root)
    for info in workflow_rules(root):
        rule, block, path = info.name, info.text, info.file
        keys: set[str] = set()
        for call in _calls(block, "declare"):
            if not dag:
                keys.update(k for a in call.args for k in _keys(a, namespace))
            for kw in call.keywords:
                assert kw.arg == "dag", f"{rule}: unknown keyword {kw.arg} of declare()"
                if dag:
                    keys.update(ast.literal_eval(kw.value))
        if _calls(block, "declare_all") and not dag:
            keys.update(k for k in leaf_keys() if k not in EXECUTION_KEYS)
        assert "config[" not in block.replace('config["data"]["path"]', ""), (
            f"rule {rule} reads the config outside declare(): {path.name}"
        )
        out[rule] = {re.sub(r"\.\{\w+\}.*$", "", k) for k in keys}
    return out


def readers(key: str, declared: dict[str, set[str]]) -> set[str]:
    """Rules declaring ``key``, a section above it, or a part of it (an execution key is
    never declared: ``select`` leaves it out of any section)."""
    if key in EXECUTION_KEYS:
        return set()
    return {
        rule
        for rule, keys in declared.items()
        if any(key == k or key.startswith(k + ".") or k.startswith(key + ".") for k in keys)
    }


#: Rule-graph edges (parent, child) that only some of the parent's jobs feed: the child
#: reruns only when those jobs do.
PARTIAL_EDGES = {
    # steer_features reads the trained model's SAE; train_sae's random-model jobs (the
    # control) feed evaluate_sae and feature_atlas only
    ("train_sae", "steer_features"),
}


def downstream(rules: set[str], edges: dict[str, set[str]]) -> set[str]:
    out, todo = set(rules), list(rules)
    while todo:
        for child in edges.get(todo.pop(), ()):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def rule_graph(workdir: Path, overlay: Path | None = None) -> tuple[set[str], dict[str, set[str]]]:
    """Rules of the DAG and their edges parent -> children (Snakemake's --rulegraph)."""
    args = ["--rulegraph", "--nolock", "--configfile", "config/config.yaml"]
    if overlay:
        args.append(str(overlay))
    dot = run_snakemake(workdir, *args).stdout
    names = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)"', dot, re.M))
    edges: dict[str, set[str]] = {}
    for a, b in re.findall(r"^\s*(\d+) -> (\d+)", dot, re.M):
        edges.setdefault(names[a], set()).add(names[b])
    return set(names.values()), edges


def scheduled(workdir: Path, overlay: Path) -> set[str]:
    """Rules a dry run with the overlay would run (``all`` left out)."""
    proc = run_snakemake(
        workdir, "-n", "--quiet", "rules", "--nolock", "--configfile", "config/config.yaml", str(overlay)
    )
    if "Nothing to be done" in proc.stdout + proc.stderr:
        return set()
    return set(job_counts(proc))


KEYS = sorted(leaf_keys())


@pytest.fixture(scope="module")
def outcomes(default_run, tmp_path_factory, request) -> dict[str, tuple]:
    """Per key: (rules scheduled, (least, most) expected, overlay), from dry runs two at a
    time, for the keys of the selected tests (all of them in a plain run)."""
    selected = {
        item.callspec.params.get("key")
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec")
    }
    selected = {k for k in selected if isinstance(k, str)} | {"perturbation.n_draws"}
    declared = declared_keys(default_run)
    shaping = declared_keys(default_run, dag=True)
    folder = tmp_path_factory.mktemp("overlays")
    base_rules, base_edges = rule_graph(default_run)

    run_keys = leaf_keys(default_run / "workflow/schemas/config.schema.yaml")

    def one(key: str):
        if key not in run_keys:  # only when reusing a run made from an older tree
            return key, (None, set(), {})
        node = run_keys[key]
        try:
            change = alternative(key, node)
        except AssertionError as err:
            return key, (err, set(), {})
        overlay = {}
        for k, v in change.items():
            overlay = merge(overlay, nest(k, v))
        path = folder / f"{key}.yaml"
        path.write_text(yaml.safe_dump(overlay))
        try:
            got = scheduled(default_run, path)
        except AssertionError as err:  # reported by the key's own test
            return key, (err, set(), overlay)
        rules, edges = (base_rules, base_edges)
        # the overlay changes the DAG's shape (latents.published_geometry: no interventions;
        # model.name, model.random_weights: no surrogate to train)
        shapers = ("download.", "data.source", "attribution.cases", "latents.published_geometry", "model.")
        if any(k.startswith(shapers) for k in change):
            rules, edges = rule_graph(default_run, path)
        params = set().union(*(readers(k, declared) for k in change))
        dag = set().union(*(readers(k, shaping) for k in change))
        # the rules whose params change rerun with everything downstream; rules whose
        # jobs the key shapes may in addition gain, lose or rerun jobs
        # an edge of the rule graph that only some jobs of the parent rule feed is not a
        # sure rerun (PARTIAL_EDGES)
        sure = {a: {b for b in bs if (a, b) not in PARTIAL_EDGES} for a, bs in edges.items()}
        least = downstream(params, sure) & rules
        most = downstream(params | dag, edges) & rules
        return key, (got, (least - {"all"}, most - {"all"}), overlay)

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, sorted(selected)))


def test_every_schema_key_has_a_valid_alternative():
    for key, node in leaf_keys().items():
        change = alternative(key, node)
        overlay: dict = {}
        for k, v in change.items():
            overlay = merge(overlay, nest(k, v))
        cfg = load_config(REPO / "config/config.yaml", overlay)
        assert _get(cfg, key) != _get(BASE, key) or key in NO_EFFECT, key


@pytest.mark.workflow
@pytest.mark.parametrize("key", KEYS)
def test_changing_a_key_reruns_exactly_its_readers(outcomes, key):
    got, expected, overlay = outcomes[key]
    if got is None:
        pytest.skip(f"{key} is not in the schema of the reused run")
    if isinstance(got, Exception):
        pytest.fail(f"{key}: the dry run with overlay {overlay} failed: {got}")
    least, most = expected
    if key in NO_EFFECT:
        least = most = set()
    assert least <= got <= most, (
        f"{key}: overlay {overlay} schedules {sorted(got)}, but the rules declaring it and their "
        f"dependents are {sorted(least)} (up to {sorted(most)} with the rules whose jobs it shapes); "
        f"extra: {sorted(got - most)}, missing: {sorted(least - got)}"
    )
    if key in NO_EFFECT:
        assert not got, f"{key} cannot change an output ({NO_EFFECT[key]}) but schedules {sorted(got)}"
    else:
        assert got, f"{key} changes outputs but no rule reruns: declare it in the rules that read it"


@pytest.mark.workflow
def test_perturbation_draws_rerun_the_perturbation(outcomes):
    """The case that used to go stale: perturbation.n_draws."""
    got, _, _ = outcomes["perturbation.n_draws"]
    assert {"run_perturbation", "plot_perturbation", "collect_headline"} <= got
    assert "extract_latents" not in got and "compute_relevance" not in got


def test_scripts_read_only_what_their_rule_hands_them():
    for path in sorted((REPO / "workflow/scripts").glob("*.py")):
        text = path.read_text()
        assert not re.search(r"\b(snakemake|sm)\.config\b", text), f"{path.name} reads snakemake.config"


def test_every_rule_declares_its_code():
    """Every rule with a script has a params entry hashing the library code it imports."""
    for path in sorted((REPO / "workflow/rules").glob("*.smk")):
        text = path.read_text()
        for block in re.split(r"^\s*rule ", text, flags=re.M)[1:]:
            if "script:" in block:
                script = re.search(r'"\.\./scripts/(\w+\.py)"', block).group(1)
                assert f'code=code("{script}")' in block, f"rule {block.split(':')[0]} lacks code=code({script!r})"


def test_code_hash_follows_library_imports(tmp_path):
    from aurora_xai.provenance import code_hash

    pkg = tmp_path / "src" / "mylib"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("X = 1\n")
    (pkg / "c.py").write_text("Y = 1\n")
    script = tmp_path / "script.py"
    script.write_text("def f():\n    from mylib.a import thing\n")
    h0 = code_hash(script, package="mylib", root=tmp_path / "src")
    (pkg / "c.py").write_text("Y = 2\n")  # not imported: same hash
    assert code_hash(script, package="mylib", root=tmp_path / "src") == h0
    (pkg / "sub" / "b.py").write_text("X = 2\n")  # imported through a relative import
    assert code_hash(script, package="mylib", root=tmp_path / "src") != h0


def test_rules_declare_the_views_their_scripts_read():
    """``settings.view(X)`` in a script needs ``declare(X, ...)`` in its rule (a script
    shared by several rules may read a view only some of them declare)."""
    rules: dict[str, list[set[str]]] = {}
    for path in sorted((REPO / "workflow/rules").glob("*.smk")):
        for block in re.split(r"^\s*rule ", path.read_text(), flags=re.M)[1:]:
            m = re.search(r'"\.\./scripts/(\w+\.py)"', block)
            if m:
                names = {a.id for call in _calls(block, "declare") for a in call.args if isinstance(a, ast.Name)}
                rules.setdefault(m.group(1), []).append(names)
    for script, declared in rules.items():
        used = set(re.findall(r"settings\.view\((\w+)\)", (REPO / "workflow/scripts" / script).read_text()))
        if len(declared) == 1:
            assert used <= declared[0], f"{script} reads views {sorted(used - declared[0])} its rule does not declare"
