"""Runs through a real Slurm cluster with the `slurm` profile (tests marked `slurm`).

Start a single-node cluster first (Debian/Ubuntu, as root):

    .ci/slurm-up.sh
    python -m pytest -m slurm tests/test_slurm.py

The tests are skipped, with the reason, when the Slurm tools are missing or no node
is ready (they fail instead when AURORA_XAI_REQUIRE_SLURM=1, as in CI).  Each workflow
runs twice at the same time, into temporary directories: with the profile (through
Slurm) and with the same profile but the local executor; the outputs must agree.  The
controller's own records (`scontrol show job`, kept for MinJobAge seconds, and the
slurmctld log when readable) show that the jobs went through Slurm, to which
partition, with which gres and memory.

Conda is not used here (`software-deployment-method` is removed from a copy of the
profile): the rules run in the Python environment running the tests.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import filecmp
import functools
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
DEFAULT_PROFILE = REPO / "profiles" / "default" / "config.yaml"
MODEL_MODULE = REPO / "src" / "aurora_xai" / "model.py"
TOY_SNAKEFILE = REPO / "tests" / "slurm_toy" / "Snakefile"
WORKFLOW_SNAKEFILE = REPO / "Snakefile"
# The real workflow, kept small: 2005 sampled every three weeks, one attribution case,
# fewer resamples, and the synthetic store written for just the sampled days (plus the
# default's other periods, short windows around the study's cases).  Its targets are
# the per-analysis rows of the headline table that such sparse dates allow: the
# storm/calm test (and so results/tables/headline.csv itself) needs a sample every day.
REAL_TARGETS = [
    "results/tables/headline/pca.csv",
    "results/tables/headline/bootstrap.csv",
    "results/tables/headline/lrp_katrina_2005.csv",
]
_STEP_DAYS = 21


def real_config() -> dict:
    """The overlay on config/config.yaml for the small run."""
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    days = {datetime.date(2005, 1, 1) + datetime.timedelta(days=_STEP_DAYS * k) for k in range(18)}
    days.add(datetime.date(2005, 8, 29))  # katrina_2005's case time
    periods = [[str(d), str(d)] for d in sorted(days)]
    periods += [p for p in default["synthetic"]["periods"] if not str(p[0]).startswith("2005")]
    return {
        "dates": {"start": "2005-01-01", "end": "2005-12-31", "step_days": _STEP_DAYS},
        "synthetic": {"periods": periods, "extra_variables": False},
        "attribution": {"cases": ["katrina_2005"]},
        "regimes": {"n_bootstrap": 100, "n_permutations": 100},
        "surrogate": {"steps": 20},  # the surrogate trained through Slurm too, briefly
        # a second training and relevance job would push the run past its 5 minutes; the
        # profile's GPU request for those rules is checked without a cluster
        "validation": {"data_randomisation": False},
    }


# Wall-clock limits (s) for one Snakemake run; the whole file stays within ~5 min.
TOY_TIMEOUT = 150
REAL_TIMEOUT = 300

_SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")


# ---------------------------------------------------------------------------------
# helpers


@functools.cache
def _slurm_unavailable() -> str | None:
    """Why the tests cannot run here, or None if a Slurm node is ready."""
    tools = ["sbatch", "squeue", "sinfo", "scontrol"]
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        return f"Slurm tools not found ({', '.join(missing)}); start one: .ci/slurm-up.sh"
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%t"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        return "sinfo timed out: the Slurm controller does not answer"
    if out.returncode != 0:
        return f"Slurm controller not reachable: {out.stderr.strip()}"
    states = set(out.stdout.split())
    if not states & {"idle", "mix", "alloc"}:
        return f"no Slurm node ready (node states: {sorted(states) or 'none'})"
    return None


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    """Skip the test, with the reason, unless a Slurm node is ready.

    With AURORA_XAI_REQUIRE_SLURM=1 (as in CI, which starts the cluster) the test
    fails instead, so that a broken cluster cannot pass as a skip.
    """
    reason = _slurm_unavailable()
    if reason is not None:
        if os.environ.get("AURORA_XAI_REQUIRE_SLURM") == "1":
            pytest.fail(f"AURORA_XAI_REQUIRE_SLURM=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def profile_dir(tmp_path_factory) -> Path:
    """profiles/slurm without `software-deployment-method` (no conda here)."""
    settings = yaml.safe_load(PROFILE.read_text())
    assert settings.pop("software-deployment-method") == "conda"
    directory = tmp_path_factory.mktemp("profile")
    (directory / "config.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    return directory


@dataclasses.dataclass
class Run:
    """A Snakemake process started in `workdir`, its output going to a file."""

    cmd: list[str]
    workdir: Path
    proc: subprocess.Popen
    out: Path
    deadline: float


def start_snakemake(args: list[str], workdir: Path, timeout: int) -> Run:
    cmd = [sys.executable, "-m", "snakemake", *args]
    out = workdir.parent / f"{workdir.name}.out"
    with open(out, "w") as sink:
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return Run(cmd, workdir, proc, out, time.monotonic() + timeout)


def finish_snakemake(run: Run) -> str:
    """Wait for a run; return its output, or fail the test with it and the job logs."""
    try:
        run.proc.wait(timeout=max(1.0, run.deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        run.proc.terminate()  # Snakemake cancels the Slurm jobs it submitted
        try:
            run.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            run.proc.kill()
        output = run.out.read_text(errors="replace")
        left = [str(j) for j in submitted_jobs(output)]
        if left:  # make sure: cancel what this run submitted, nothing else
            subprocess.run(["scancel", *left], check=False, capture_output=True, timeout=20)
        pytest.fail(f"snakemake timed out: {' '.join(run.cmd)}\n{output[-5000:]}" + _slurm_logs(run.workdir))
    output = run.out.read_text(errors="replace")
    if run.proc.returncode != 0:
        pytest.fail(
            f"snakemake failed ({run.proc.returncode}): {' '.join(run.cmd)}\n{output[-8000:]}"
            + _slurm_logs(run.workdir)
        )
    return output


def run_pair(args: list[str], local: Path, remote: Path, timeout: int) -> str:
    """The same Snakemake run with the local executor and through Slurm, side by side.

    Returns the output of the Slurm run.
    """
    local_run = start_snakemake([*args, "--executor", "local", "--cores", "2"], local, timeout)
    slurm_run = start_snakemake(args, remote, timeout)
    try:
        output = finish_snakemake(slurm_run)
    finally:
        finish_snakemake(local_run)
    return output


def _slurm_logs(workdir: Path) -> str:
    logs = sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
    return "".join(f"\n----- {p}\n{p.read_text()[-2000:]}" for p in logs[-6:])


def submitted_jobs(output: str) -> dict[int, str]:
    """Slurm job ids that Snakemake reports, with the rule of each."""
    jobs = {}
    for jobid, log in _SUBMITTED.findall(output):
        rule = re.search(r"slurm_logs/rule_(\w+?)/", log)
        jobs[int(jobid)] = rule.group(1) if rule else "?"
    return jobs


def controller_record(jobid: int) -> dict[str, str]:
    """The controller's record of a job (`scontrol show job`), as key -> value."""
    out = subprocess.run(
        ["scontrol", "show", "job", "-o", str(jobid)],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    ).stdout
    return dict(re.findall(r"(\S+?)=(\S*)", out))


def controller_allocations() -> set[int] | None:
    """Job ids that slurmctld logged as started; None if its log is not readable."""
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=20).stdout
    match = re.search(r"^SlurmctldLogFile\s*=\s*(\S+)", config, re.MULTILINE)
    if not match or not os.access(match.group(1), os.R_OK):
        return None
    text = Path(match.group(1)).read_text(errors="replace")
    # the main scheduler logs "sched: Allocate JobId=N", the backfill scheduler
    # "_start_job: Started JobId=N"
    pattern = r"(?:sched: Allocate|_start_job: Started) JobId=(\d+)"
    return {int(j) for j in re.findall(pattern, text)}


def result_items(workdir: Path) -> dict[str, Path]:
    """Files under results/, with zarr stores as single items."""
    items = {}
    root = workdir / "results"
    for path in sorted(root.rglob("*")):
        if any(p.suffix == ".zarr" for p in path.relative_to(root).parents):
            continue  # inside a zarr store
        if path.is_file() or path.suffix == ".zarr":
            items[str(path.relative_to(workdir))] = path
    return items


def assert_same_outputs(local: Path, remote: Path) -> None:
    """Outputs of two runs agree: bytes, or numbers for tables and NetCDF/zarr."""
    a, b = result_items(local), result_items(remote)
    assert a, f"no results in {local}"
    assert sorted(a) == sorted(b), "the two runs made different files"
    for name in a:
        pa, pb = a[name], b[name]
        if pa.is_file() and filecmp.cmp(pa, pb, shallow=False):
            continue
        if pa.suffix in (".csv", ".tsv"):
            import pandas as pd

            sep = "\t" if pa.suffix == ".tsv" else ","
            pd.testing.assert_frame_equal(pd.read_csv(pa, sep=sep), pd.read_csv(pb, sep=sep), rtol=1e-6)
        elif pa.suffix in (".nc", ".zarr"):
            import xarray as xr

            opener = xr.open_zarr if pa.suffix == ".zarr" else xr.open_dataset
            with opener(pa) as da, opener(pb) as db:
                # attributes carry provenance (times, hosts), so compare data only
                xr.testing.assert_allclose(da, db, rtol=1e-6)
        elif pa.suffix in (".png", ".pdf", ".svg", ".html", ".json", ".log"):
            continue  # figures and metadata embed dates; existence is checked above
        else:
            pytest.fail(f"{name} differs between the local and the Slurm run")


# ---------------------------------------------------------------------------------
# the model rules: found in the code, not listed by hand


def model_entry_points() -> set[tuple[str, str]]:
    """The library's model-building functions: ``build*`` functions of aurora_xai.model."""
    tree = ast.parse(MODEL_MODULE.read_text())
    found = {
        ("aurora_xai.model", node.name)
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("build")
    }
    assert found, f"no build* function in {MODEL_MODULE}: what builds the model now?"
    return found


@functools.cache
def model_rules() -> frozenset[str]:
    """Rules whose action builds the model.

    A `script:` counts when its code reaches a model-building function, directly or
    through the library functions it calls (followed statically, as tests/test_envs.py
    follows imports); a `run:` or `shell:` block when its text names one.
    """
    from test_envs import ACTION_DIRECTIVES, follow_imports
    from workflow_rules import workflow_rules

    entry = model_entry_points()
    found = set()
    for rule in workflow_rules():
        if "script" in rule.directives:
            reached: set[tuple[str, str | None]] = set()
            follow_imports(rule.path_of("script"), reached=reached)
            if reached & entry:
                found.add(rule.name)
        elif any(name in rule.directives.get(action, "") for action in ACTION_DIRECTIVES for _, name in entry):
            found.add(rule.name)
    return frozenset(found)


def gpu_requests(profile: dict) -> dict[str, dict]:
    """Rules that a profile's `set-resources` sends to a GPU, with their entries."""
    keys = {"gres", "gpu", "gpus", "gpu_model"}
    entries = profile.get("set-resources") or {}
    return {rule: entry for rule, entry in entries.items() if keys & set(entry)}


def measured_costs() -> dict[str, tuple[float, float]]:
    """(wall time in minutes, peak memory in GB) per rule of the README's 0.25 deg rehearsal
    table: the largest of the rule's rows from its latest run."""
    rows: dict[str, list[tuple[str, float, float]]] = {}
    pattern = re.compile(r"^\| `(\w+)` \| ([A-Z](?:, [A-Z])*) \| ([\d.]+) (min|s) \| ([\d.]+) GB \|", re.MULTILINE)
    for rule, runs, time_value, unit, peak in pattern.findall((REPO / "README.md").read_text()):
        minutes = float(time_value) / (60 if unit == "s" else 1)
        rows.setdefault(rule, []).append((max(runs.split(", ")), minutes, float(peak)))
    costs = {}
    for rule, entries in rows.items():
        latest = max(run for run, _, _ in entries)
        costs[rule] = (
            max(m for run, m, _ in entries if run == latest),
            max(p for run, _, p in entries if run == latest),
        )
    return costs


_JOB = re.compile(r"^rule (\w+):\n((?:    .*\n)+)", re.MULTILINE)


def dry_run_jobs(args: list[str], workdir: Path) -> dict[str, dict]:
    """Per rule, the threads and resources of its (first) job in a dry run."""
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(WORKFLOW_SNAKEFILE), "-n", "--forceall", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    jobs: dict[str, dict] = {}
    for rule, body in _JOB.findall(out.stdout + out.stderr):
        fields = dict(re.findall(r"^    (\w+): (.*)$", body, re.MULTILINE))
        resources = dict(re.findall(r"(\w+)=([^,]+)", fields.get("resources", "")))
        jobs.setdefault(rule, {"threads": int(fields.get("threads", 1)), **resources})
    return jobs


# ---------------------------------------------------------------------------------
# tests


def test_profile_found_from_repository_root(tmp_path: Path):
    """`snakemake --profile slurm` typed in the repository root finds profiles/slurm.

    Needs the Slurm executor plugin but no cluster, so it is not marked `slurm`.
    """
    assert (REPO / "slurm").resolve() == PROFILE.parent
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", "slurm"]
        + ["-s", str(TOY_SNAKEFILE), "--directory", str(tmp_path), "--list-rules"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Using profile" in out.stderr and "slurm" in out.stderr
    assert "extract_latents" in out.stdout


def test_model_rules_ask_for_a_gpu():
    """Every rule that builds the model, and no other, gets the profile's GPU request.

    Needs neither a cluster nor Snakemake: the rules are found in the code.
    """
    rules = model_rules()
    # the analysis finds the rules known to run the model (so it still works)
    assert {"extract_latents", "compute_relevance", "run_perturbation"} <= rules, rules
    profile = yaml.safe_load(PROFILE.read_text())
    requests = gpu_requests(profile)
    missing = sorted(rules - set(requests))
    extra = sorted(set(requests) - rules)
    assert not missing, f"rules that build the model without a GPU in {PROFILE.name}: {missing}"
    assert not extra, f"rules with a GPU in {PROFILE.name} that build no model: {extra}"
    # one request for all of them, on another partition than the CPU jobs'
    gpu_keys = {"slurm_partition", "gres", "gpu", "gpus", "gpu_model"}
    same = {yaml.safe_dump({k: v for k, v in entry.items() if k in gpu_keys}) for entry in requests.values()}
    assert len(same) == 1, requests
    entry = next(iter(requests.values()))
    assert entry["slurm_partition"] != profile["default-resources"]["slurm_partition"]


#: Model rules the rehearsal's DAG leaves out, and why (the profile still sends them to the GPU).
NOT_IN_REHEARSAL = {
    "train_surrogate": "the rehearsal runs the study's architecture, not the surrogate",
    "score_surrogate": "the rehearsal runs the study's architecture, not the surrogate",
    "validate_attribution": "validation.enabled is false in the rehearsal (its ~40 passes at 0.25 deg on a CPU)",
    "train_shuffled_surrogate": "the data-randomisation control trains a surrogate; the rehearsal runs Aurora's architecture",
    "validate_data_randomisation": "the data-randomisation control needs the trained surrogate (not Aurora's architecture)",
    "steer_features": "features.steering.enabled is false in the rehearsal (~2,500 forecasts at 0.25 deg on a CPU)",
}


def test_model_rules_sized_from_rehearsal(tmp_path: Path, profile_dir: Path):
    """With the rehearsal's config, what the profile submits for each model rule: the GPU,
    several threads, and at least the memory and wall time the rehearsal measured; wall
    time grows with the job's work.  A dry run, no cluster needed."""
    configs = [str(REPO / "config" / "config.yaml"), str(REPO / "config" / "rehearsal.yaml")]
    # a dry run caps threads at --cores (1 by default); a real run through Slurm has no cap
    args = ["--profile", str(profile_dir), "--cores", "64", "--configfile"]
    jobs = dry_run_jobs([*args, *configs], tmp_path)
    costs = measured_costs()
    rules = model_rules()
    absent = rules - set(jobs)
    assert absent == set(NOT_IN_REHEARSAL), f"model rules missing from the rehearsal's DAG: {sorted(absent)}"
    rules = rules - absent
    for rule in sorted(rules):
        job = jobs[rule]
        assert (job["slurm_partition"], job["gres"]) == ("gpu", "gpu:1"), (rule, job)
        assert job["threads"] >= 2, (rule, job)
        minutes, peak_gb = costs[rule]  # every model rule has run at 0.25 deg
        assert int(job["mem_mb"]) >= 1000 * peak_gb, (rule, job, peak_gb)
        assert int(job["runtime"]) >= minutes, (rule, job, minutes)
    for rule in set(jobs) - rules:
        assert jobs[rule]["slurm_partition"] == "cpu" and "gres" not in jobs[rule], (rule, jobs[rule])

    # ten times the labelled days: ten times the LRP passes (labels absent: the most allowed)
    overlay = tmp_path / "more_days.yaml"
    overlay.write_text(yaml.safe_dump({"labels": {"n_days": 30}}))
    more = dry_run_jobs([*args, *configs, str(overlay)], tmp_path)
    before, after = int(jobs["compute_relevance_days"]["runtime"]), int(more["compute_relevance_days"]["runtime"])
    assert after > 5 * before, (before, after)
    assert more["compute_relevance_days"]["mem_mb"] == jobs["compute_relevance_days"]["mem_mb"]


def test_local_default_asks_for_no_gpu(tmp_path: Path):
    """`snakemake --cores 2` (profiles/default, the embedded config) requests no GPU and
    no more threads than cores."""
    assert not gpu_requests(yaml.safe_load(DEFAULT_PROFILE.read_text()) or {})
    jobs = dry_run_jobs(["--cores", "2", "--configfile", str(REPO / "config" / "config.yaml")], tmp_path)
    assert model_rules() <= set(jobs)
    for rule, job in jobs.items():
        assert not {"gres", "gpu", "slurm_partition"} & set(job), (rule, job)
        assert job["threads"] <= 2, (rule, job)


@pytest.mark.slurm
def test_toy_workflow_through_slurm(slurm_cluster, tmp_path: Path, profile_dir: Path):
    local, remote = tmp_path / "local", tmp_path / "slurm"
    local.mkdir()
    remote.mkdir()
    output = run_pair(["--profile", str(profile_dir), "-s", str(TOY_SNAKEFILE)], local, remote, TOY_TIMEOUT)

    # what Snakemake submitted: 2 x extract_latents, check_memory twice (the first
    # attempt fails for lack of memory), summarise_latents
    jobs = submitted_jobs(output)
    by_rule: dict[str, list[int]] = {}
    for jobid, rule in sorted(jobs.items()):
        by_rule.setdefault(rule, []).append(jobid)
    assert {r: len(ids) for r, ids in by_rule.items()} == {
        "extract_latents": 2,
        "check_memory": 2,
        "summarise_latents": 1,
    }, output[-4000:]

    # what the controller did with them
    records = {jobid: controller_record(jobid) for jobid in jobs}
    for jobid, rec in records.items():
        assert rec["JobId"] == str(jobid)
        assert Path(rec["WorkDir"]).resolve() == remote.resolve()
        assert rec["Comment"].startswith(f"rule_{jobs[jobid]}")
        assert rec["BatchHost"] != "(null)", rec
    for jobid in by_rule["extract_latents"]:  # the profile's GPU request
        assert records[jobid]["Partition"] == "gpu"
        assert records[jobid]["TresPerNode"] == "gres:gpu:1"
        assert records[jobid]["JobState"] == "COMPLETED"
    for jobid in by_rule["summarise_latents"]:  # the profile's default partition
        assert records[jobid]["Partition"] == "cpu"
        assert records[jobid]["JobState"] == "COMPLETED"
    first, second = (records[j] for j in by_rule["check_memory"])
    assert (first["MinMemoryNode"], first["JobState"]) == ("4000M", "FAILED")
    assert (second["MinMemoryNode"], second["JobState"]) == ("8000M", "COMPLETED")
    allocated = controller_allocations()
    if allocated is not None:
        assert set(jobs) <= allocated, "jobs missing from the slurmctld log"

    # the jobs themselves saw Slurm: their logs record the job ids
    for seed in (1, 2):
        log = (remote / f"logs/extract_latents/seed{seed}.log").read_text()
        jobid = int(re.search(r"SLURM_JOB_ID=(\d+)", log).group(1))
        assert jobs[jobid] == "extract_latents"
        assert "SLURM_JOB_PARTITION=gpu" in log

    assert_same_outputs(local, remote)


@pytest.mark.slurm
@pytest.mark.skipif(not WORKFLOW_SNAKEFILE.exists(), reason="the workflow's Snakefile does not exist yet")
def test_workflow_through_slurm(slurm_cluster, tmp_path: Path, profile_dir: Path):
    """The real workflow on a small config: the same results as a local run."""
    local, remote = tmp_path / "local", tmp_path / "slurm"
    local.mkdir()
    remote.mkdir()
    overlay = tmp_path / "small.yaml"
    overlay.write_text(yaml.safe_dump(real_config()))
    # config/config.yaml is named relative to the working directory: give it, then
    # the small overlay (later files win, key by key)
    args = [*REAL_TARGETS, "--profile", str(profile_dir), "-s", str(WORKFLOW_SNAKEFILE)]
    args += ["--configfile", str(REPO / "config" / "config.yaml"), str(overlay)]
    output = run_pair(args, local, remote, REAL_TIMEOUT)

    jobs = submitted_jobs(output)
    assert jobs, "no job was submitted to Slurm"
    for jobid, rule in jobs.items():
        rec = controller_record(jobid)
        assert rec["JobState"] == "COMPLETED", (rule, rec)
        assert Path(rec["WorkDir"]).resolve() == remote.resolve()
        if rule in model_rules():
            assert (rec["Partition"], rec["TresPerNode"]) == ("gpu", "gres:gpu:1"), (rule, rec)
        else:
            assert rec["Partition"] == "cpu", (rule, rec)
    allocated = controller_allocations()
    if allocated is not None:
        assert set(jobs) <= allocated, "jobs missing from the slurmctld log"

    assert all((remote / t).is_file() for t in REAL_TARGETS)
    assert_same_outputs(local, remote)
