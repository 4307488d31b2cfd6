# Helpers shared by every rule file (and only here). The config is params.yaml, validated at load.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir)))

from dragoman.workflow.codedeps import code_deps
from dragoman.workflow import pin
from dragoman.workflow.params import select, validate

validate(config, "params.yaml")
# hub inputs load at the commit hub.lock.json pins (python -m dragoman.workflow.pin writes it); a run whose hub
# references are not pinned as params.yaml writes them stops at `onstart` (Snakefile), before any job; a dry run
# or dvcgen only plans, and each stage checks its own pins again
HUB_LOCK = pin.read_lock(workflow.basedir)
HUB_KEYS = [*pin.MODEL_KEYS, "sources"]


def params_for(*keys):
    """{dotted key: value}: the params a rule's script reads. Snakemake reruns the rule when they change,
    the dvc.yaml generator lists exactly these keys, and the script can read nothing else.
    """
    return select(config, keys)


def hub_pins(*keys):
    """{key: pin} from hub.lock.json for the hub references that the job loads. A moved pin reruns the job
    (a params change for Snakemake; dvc.yaml lists the same keys as params of hub.lock.json).
    """
    return pin.entries(HUB_LOCK, list(keys))


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
    """Record this run's stages in dvc.lock (dvc commit) keeping outputs' mtimes: see dragoman/workflow/dvcsync.py.

    This run's stages are the jobs of its DAG, run or found up to date (`workflow.dag`, Snakemake's own record
    of what it checked; like dvcgen, tied to the Snakemake version that dvcgen.check_snakemake_version accepts).
    """
    stages = sorted({job.rule.name for job in workflow.dag.jobs})
    return f"{sys.executable} -m dragoman.workflow.dvcsync {' '.join(stages)}"


def lineage_models(names):
    """{name: models/<name>}: named inputs for the stages that read several models of the lineage."""
    return {name: f"models/{name}" for name in names}


def provenance_keys():
    """Params sections recorded in results/metrics.json's provenance: the stages of the evaluated lineage."""
    return ["base", "cpt", "sft", "qlora", "merge"]


def uses_translated_corpus():
    """The translate-and-tune stages run only when an SFT mixture takes translated instructions."""
    return config["sft"]["mixture"]["translated_instructions"] > 0


def translated_corpus():
    """Named input {instructions: data/instructions/train.jsonl} for sft/qlora, or nothing when switched off."""
    return (
        {"instructions": "data/instructions/train.jsonl"}
        if uses_translated_corpus()
        else {}
    )


def lineage_reports():
    """Stage reports the model card cites: the training stages of the evaluated models, plus translate-and-tune."""
    stages = [m for m in ("cpt", "sft", "qlora") if m in config["eval"]["models"]]
    if uses_translated_corpus():
        stages += ["translator", "instructions"]
    return {s: f"reports/{s}.json" for s in stages}


def default_targets():
    """What `snakemake` builds by default; stages nothing here needs (e.g. cpt when no model uses it) never run."""
    targets = [
        "models/base",
        "reports/splits.json",
        "reports/fertility.json",
        "results/metrics.json",
        "reports/layers.json",
        "results/model_card.md",
    ]
    if config["benchmarks"]["enabled"]:
        targets.append("reports/benchmarks.json")
    if uses_translated_corpus():
        targets += [
            "reports/teacher_fp8.json",
            "reports/translator.json",
            "reports/instructions.json",
        ]
    return targets
