"""Generate dvc.yaml from the Snakemake DAG: the rules in rules/*.smk are the one hand-written DAG.

    python -m dragoman.workflow.dvcgen            # rewrite dvc.yaml (make dvc.yaml)
    python -m dragoman.workflow.dvcgen --check    # exit 1 if the committed dvc.yaml is stale (tests run this)

Each Snakemake job becomes a DVC stage that runs the same script through its command-line shim:
deps = the script, the dragoman/ modules it imports and the rule's inputs; params = exactly the keys of the
rule's params_for(...), plus the rule's hub_pins(...) keys as params of hub.lock.json; reports/*.json and results/*.json become metrics kept in git (cache: false), other
small outputs under reports/ and results/ (curves, charts, hypotheses, the card) are cache: false outs and
PNGs/tables there become plots; everything else (data, models) is cached.
Snakemake's public API stops at a DAG it will run; the job list (rule, named inputs and outputs, params of each job)
needs its internals. They are used in one function, `snakemake_jobs`, which refuses any Snakemake version other
than the one it was checked with (tests/test_workflow_defs.py covers both).
"""
from __future__ import annotations

import argparse
import contextlib
import io as _io
import os
import sys
from pathlib import Path

import yaml

from dragoman.workflow.pin import LOCK

HEADER = ("# GENERATED from the Snakemake rules (rules/*.smk) by `make dvc.yaml` (python -m dragoman.workflow.dvcgen).\n"
          "# Do not edit by hand: change the rules and regenerate; tests fail when this file is stale.\n")
TARGET = "all"
TABLE_PLOTS = {"results/headline.csv": {"x": "ppl_target", "y": "model", "template": "bar_horizontal",
                                        "title": "target-language perplexity by model (lower is better)"}}


SNAKEMAKE_CHECKED = "9.27.1"  # the version whose internals snakemake_jobs was written against (requirements.txt)


def check_snakemake_version(version: str) -> None:
    if version != SNAKEMAKE_CHECKED:
        raise RuntimeError(f"dvcgen reads the DAG through Snakemake internals checked with snakemake=={SNAKEMAKE_CHECKED}"
                           f", found {version}: install the pinned version (requirements.txt) or re-check "
                           f"dragoman/workflow/dvcgen.py:snakemake_jobs and update SNAKEMAKE_CHECKED")


def snakemake_jobs(root: Path, target: str = TARGET) -> list:
    """Jobs of the DAG that builds `target`, in a stable topological order (the only use of Snakemake internals:
    `_workflow`, `_prepare_dag`, `_build_dag`)."""
    import snakemake
    check_snakemake_version(snakemake.__version__)
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (ConfigSettings, DAGSettings, OutputSettings, ResourceSettings,
                                          StorageSettings)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        with contextlib.redirect_stdout(_io.StringIO()), SnakemakeApi(OutputSettings(quiet={"all"})) as api:
            wf = api.workflow(resource_settings=ResourceSettings(cores=1), config_settings=ConfigSettings(),
                              storage_settings=StorageSettings(), snakefile=Path("Snakefile"))
            dag_api = wf.dag(DAGSettings(targets={target}, forceall=True))
            w = dag_api.workflow_api._workflow
            w.dag_settings = dag_api.dag_settings
            w._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True)
            w._build_dag()
            order = {}
            for level, jobs in enumerate(w.dag.toposorted()):
                for job in jobs:
                    order[job] = level
            return sorted(order, key=lambda j: (order[j], j.rule.name))
    finally:
        os.chdir(cwd)


def _rel(path: str, root: Path) -> str:
    p = Path(path)
    return (p.resolve().relative_to(root.resolve()) if p.is_absolute() else p).as_posix()


def stage_of(job, root: Path) -> dict:
    script = _rel(os.path.normpath(os.path.join(os.path.dirname(job.rule.snakefile), job.rule.script)), root)
    args, deps = [f"python {script}"], {script} | {_rel(p, root) for p in job.input}
    for name, value in job.input.items():
        if name != "code" and isinstance(value, str):  # a single named file: the script reads it
            args.append(f"--input {name}={_rel(value, root)}")
    outs, metrics = [], []
    for name, path in job.output.items():
        path = _rel(path, root)
        args.append(f"--output {name}={path}")
        small = path.startswith(("reports/", "results/"))
        if small and path.endswith(".json"):
            metrics.append(path)
        elif small:  # DVCLive folders, charts, hypotheses, the card: small, kept in git, not in the DVC cache
            outs.append({path: {"cache": False}})
        else:
            outs.append(path)
    keys = list(job.params.p) if "p" in job.params.keys() else []
    hub = list(job.params.hub) if "hub" in job.params.keys() else []
    if keys:
        args.append(f"--keys {','.join(keys)}")
    if hub:
        args.append(f"--hub-keys {','.join(hub)}")
    stage: dict = {"cmd": " ".join(args), "deps": sorted(deps)}
    if keys or hub:
        stage["params"] = keys + ([{LOCK: hub}] if hub else [])
    if outs:
        stage["outs"] = sorted(outs, key=lambda o: o if isinstance(o, str) else next(iter(o)))
    if metrics:
        stage["metrics"] = [{m: {"cache": False}} for m in sorted(metrics)]
    return stage


def render(root: Path) -> str:
    stages = {}
    for job in snakemake_jobs(root):
        if job.rule.name == TARGET or not job.rule.script:
            continue
        stages[job.rule.name] = stage_of(job, root)
    reports = sorted(next(iter(m)) for s in stages.values() for m in s.get("metrics", [])
                     if not next(iter(m)).endswith(".perf.json"))
    small = sorted(next(iter(o)) for s in stages.values() for o in s.get("outs", []) if isinstance(o, dict))
    plots = [{f"{d}/plots/metrics": {"x": "step"}} for d in small if d.endswith(".live")]
    plots += [p for p in small if p.endswith(".png")]
    plots += [{p: spec} for p, spec in TABLE_PLOTS.items() if p in small]
    doc = {"stages": stages, "metrics": reports, "plots": plots}
    return HEADER + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1000)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=".", help="repository root (holds Snakefile and params.yaml)")
    ap.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml differs from what the rules give")
    a = ap.parse_args(argv)
    root = Path(a.root)
    text = render(root)
    target = root / "dvc.yaml"
    if a.check:
        if not target.exists() or target.read_text() != text:
            print("dvc.yaml is stale: run `make dvc.yaml` and commit it", file=sys.stderr)
            return 1
        return 0
    sys.path.insert(0, str(root.resolve()))
    from dragoman.workflow.io import atomic_path
    with atomic_path(target) as tmp:
        tmp.write_text(text)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
