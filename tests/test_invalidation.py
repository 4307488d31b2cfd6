"""Exact invalidation: editing one param (or one source file) reruns exactly the stages that read it and
everything downstream, under both Snakemake and DVC. The expected sets are written out by hand below."""
from __future__ import annotations

import json
import os

import pytest
import yaml

from conftest import BIN, planned_jobs, run

# Hand-written DAG: stage -> the stages that read one of its outputs.
CONSUMERS = {
    "base": {"cpt", "fertility", "teacher", "translator", "merge", "metrics", "layers"},
    "ingest": {"clean"}, "clean": {"splits"},
    "splits": {"fertility", "cpt", "teacher", "teacher_fp8", "pairs", "translator", "instructions", "sft", "qlora",
               "metrics", "card"},
    "fertility": set(), "teacher": {"teacher_fp8"}, "teacher_fp8": {"pairs"}, "pairs": {"translator"},
    "translator": {"instructions", "card"}, "instructions": {"sft", "qlora", "card"},
    "cpt": {"sft", "qlora", "metrics", "layers", "card"}, "sft": {"merge", "metrics", "layers", "card"},
    "qlora": {"metrics"}, "merge": {"metrics", "layers", "card"}, "metrics": {"card"}, "layers": set(), "card": set(),
}

# One row per params section: (key edited, new value, the stages that read it).
PARAM_ROWS = [
    ("base.dtype", "bfloat16", {"base", "metrics"}),
    ("ingest.limit", 140, {"ingest"}),
    ("clean.min_chars", 10, {"clean"}),
    ("splits.seed", 7, {"splits"}),
    ("fertility.max_records", 50, {"fertility"}),
    ("teacher.max_steps", 3, {"teacher"}),
    ("teacher.prompt", "Translate {src} to {tgt}: {text}", {"teacher", "teacher_fp8", "pairs", "metrics"}),
    ("teacher_fp8.eval.n", 5, {"teacher_fp8"}),
    ("pairs.n_instructions", 3, {"pairs"}),
    ("translator.max_steps", 3, {"translator"}),
    ("instructions.n", 5, {"instructions"}),
    ("cpt.max_steps", 3, {"cpt", "metrics"}),
    ("sft.max_steps", 3, {"sft", "metrics"}),
    ("sft.translate_prompt", "{src} -> {tgt}: {text}", {"sft", "qlora", "metrics"}),  # metrics: provenance
    ("qlora.max_steps", 3, {"qlora", "metrics"}),
    ("merge.t", 0.3, {"merge", "metrics", "card"}),
    ("eval.seed", 1, {"metrics"}),
    ("card.name", "my-model", {"card"}),
]
# Code edits: a script reruns its stage; a dragoman/ module reruns every stage that imports it.
CODE_ROWS = [
    ("scripts/fertility.py", {"fertility"}),
    ("dragoman/lm/judge.py", {"pairs", "instructions"}),
    ("dragoman/lm/evaluate.py", {"metrics"}),
]


def closure(stages: set[str]) -> set[str]:
    out, todo = set(), list(stages)
    while todo:
        s = todo.pop()
        if s not in out:
            out.add(s)
            todo += CONSUMERS[s]
    return out


def dvc_changed(repo) -> set[str]:
    status = json.loads(run([str(BIN / "dvc"), "status", "--json"], repo).stdout or "{}")
    return {k.split(":")[-1] for k in status}


def set_key(d: dict, dotted: str, value) -> None:
    *head, last = dotted.split(".")
    for k in head:
        d = d[k]
    assert last in d, dotted
    d[last] = value


@pytest.mark.parametrize("key,value,readers", PARAM_ROWS, ids=[r[0] for r in PARAM_ROWS])
def test_param_edit_reruns_exactly_its_readers_and_downstream(tiny_repo, key, value, readers):
    original = (tiny_repo / "params.yaml").read_text()
    try:
        p = yaml.safe_load(original)
        set_key(p, key, value)
        (tiny_repo / "params.yaml").write_text(yaml.safe_dump(p, allow_unicode=True, sort_keys=False))
        assert dvc_changed(tiny_repo) == readers  # DVC: the stages whose declared params changed
        assert planned_jobs(tiny_repo) == closure(readers) | {"all"}  # Snakemake: those and everything downstream
    finally:
        (tiny_repo / "params.yaml").write_text(original)


@pytest.mark.parametrize("path,readers", CODE_ROWS, ids=[r[0] for r in CODE_ROWS])
def test_code_edit_reruns_the_stages_that_import_it(tiny_repo, path, readers):
    f = tiny_repo / path
    original, stat = f.read_text(), f.stat()
    try:
        f.write_text(original + "\n# edited\n")
        assert dvc_changed(tiny_repo) == readers
        assert planned_jobs(tiny_repo) == closure(readers) | {"all"}
    finally:
        f.write_text(original)
        # Snakemake judges a rule's `script:` by its mtime ("Code has changed"), dragoman/ modules (small `code=`
        # inputs) by checksum: an undo restores the mtime too
        os.utime(f, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert planned_jobs(tiny_repo) == set()


def test_a_partial_run_records_only_its_own_stages(tiny_repo):
    """dvcsync records the stages of the run's DAG, not every stage: a partial target built while `merge.t` is
    edited leaves merge (and what reads it) stale for DVC, as it is for Snakemake."""
    original = (tiny_repo / "params.yaml").read_text()
    try:
        p = yaml.safe_load(original)
        set_key(p, "merge.t", 0.3)
        (tiny_repo / "params.yaml").write_text(yaml.safe_dump(p, allow_unicode=True, sort_keys=False))
        (tiny_repo / "reports/fertility.json").unlink()
        run([str(BIN / "snakemake"), "--cores", "2", "reports/fertility.json"], tiny_repo)
        assert dvc_changed(tiny_repo) == {"merge", "metrics", "card"}
        assert planned_jobs(tiny_repo) == closure({"merge", "metrics", "card"}) | {"all"}
    finally:
        (tiny_repo / "params.yaml").write_text(original)
    assert dvc_changed(tiny_repo) == set() and planned_jobs(tiny_repo) == set()  # fertility was recorded
