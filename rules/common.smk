# Helpers shared by every rule file (and only here). The config is params.yaml, validated at load.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir)))

from dragoman.codedeps import code_deps
from dragoman.params import select, validate

validate(config, "params.yaml")


def params_for(*keys):
    """{dotted key: value}: the params a rule's script reads. Snakemake reruns the rule when they change,
    the dvc.yaml generator lists exactly these keys, and the script can read nothing else.
    """
    return select(config, keys)


def code(script):
    """The script and every dragoman/ module it imports: editing any of them reruns the rule."""
    return list(code_deps(script, workflow.basedir))


def source_inputs():
    """Raw files the declared sources read (package and hub sources have none)."""
    paths = []
    for src in config["sources"].values():
        if "path" in src:
            paths.append(src["path"])
        paths.extend(src.get("files", {}).values())
    return sorted(set(paths))


def dvc_commit_command():
    """Record the run in dvc.lock (dvc commit) keeping outputs' mtimes: see dragoman/dvcsync.py."""
    return f"{sys.executable} -m dragoman.dvcsync"


def lineage_models(names):
    """{name: models/<name>}: named inputs for the stages that read several models of the lineage."""
    return {name: f"models/{name}" for name in names}


def provenance_keys():
    """Params sections recorded in results/metrics.json's provenance: the stages of the evaluated lineage."""
    return ["base", "cpt", "sft", "qlora", "merge"]


def default_targets():
    return [
        "models/base",
        "data/splits/train.jsonl",
        "reports/splits.json",
        "reports/fertility.json",
        "reports/teacher_fp8.json",
        "reports/translator.json",
        "reports/instructions.json",
        "results/metrics.json",
        "reports/layers.json",
        "results/model_card.md",
        "reports/sft.json",
        "reports/qlora.json",
    ]
