"""End to end: the data half of the DAG on the tiny config, under Snakemake and DVC, sharing one run."""
import hashlib
import json
from pathlib import Path

import yaml

from conftest import BIN, planned_jobs, run

OUTPUTS = ["data/ingested/records.jsonl", "data/clean/records.jsonl", "data/clean/dropped.jsonl",
           "data/splits/train.jsonl", "data/splits/dev.jsonl", "data/splits/test.jsonl",
           "reports/ingest.json", "reports/clean.json", "reports/splits.json", "reports/fertility.json",
           "models/base/model.safetensors", "models/cpt/model.safetensors", "models/sft/model.safetensors",
           "models/qlora/model.safetensors", "models/qlora/adapter/adapter_model.safetensors",
           "reports/cpt.json", "reports/sft.json", "reports/qlora.json"]


def digest(repo: Path) -> dict:
    return {p: hashlib.sha256((repo / p).read_bytes()).hexdigest() for p in OUTPUTS}


def load(repo, p):
    return json.loads((repo / p).read_text())


def test_outputs_and_ledgers(tiny_repo):
    for p in OUTPUTS:
        assert (tiny_repo / p).exists(), p
    ing, cl, sp = (load(tiny_repo, f"reports/{s}.json") for s in ("ingest", "clean", "splits"))
    for rep in (ing, cl, sp):
        for name, s in rep["sources"].items():
            assert s["in"] == s["kept"] + sum(s["dropped"].values()), name
    for name in ing["sources"]:  # each stage reads exactly what the previous one kept
        assert cl["sources"][name]["in"] == ing["sources"][name]["kept"] == 150
        assert sp["sources"][name]["in"] == cl["sources"][name]["kept"]
    dropped = [json.loads(l) for l in (tiny_repo / "data/clean/dropped.jsonl").read_text().splitlines()]
    assert len(dropped) == sum(sum(s["dropped"].values()) for s in cl["sources"].values())
    assert all(d["drop_reason"] for d in dropped)
    # official splits kept; groups never straddle splits
    test_ids = {json.loads(l)["source"] for l in (tiny_repo / "data/splits/test.jsonl").read_text().splitlines()}
    assert {"arsarcasm_test", "exams_ar"} <= test_ids
    where = {}
    for split in ("train", "dev", "test"):
        for l in (tiny_repo / f"data/splits/{split}.jsonl").read_text().splitlines():
            r = json.loads(l)
            assert where.setdefault((r["source"], r["group"]), split) == split
    fert = load(tiny_repo, "reports/fertility.json")
    assert fert["languages"]["ar"]["tokens_per_word"] > fert["languages"]["en"]["tokens_per_word"] > 0
    assert "no_diacritics" in fert["languages"]["ar"]["variants"]


def test_training_stages_report_and_learn(tiny_repo):
    for stage in ("cpt", "sft", "qlora"):
        rep = load(tiny_repo, f"reports/{stage}.json")
        assert rep["steps"] == 4 and rep["tokens_seen"] > 0 and rep["mixture"], stage
        assert rep["eval_loss_final"] < rep["eval_loss_step0"], (stage, rep["eval_loss_step0"], rep["eval_loss_final"])
        perf = load(tiny_repo, f"reports/{stage}.perf.json")
        assert perf["tokens_per_s"] > 0 and perf["steady_rss_mb"] > 0
        assert (tiny_repo / f"reports/{stage}.live/plots/metrics/train/loss.tsv").exists()
    assert load(tiny_repo, "reports/cpt.perf.json")["resumed_from_step"] == 2  # the crashed run's checkpoint
    q = load(tiny_repo, "reports/qlora.json")
    assert q["linear4bit_layers"] > 0 and q["optimizer"] in ("adamw_8bit", "adamw")
    sft_mix = load(tiny_repo, "reports/sft.json")["mixture"]
    assert any(k.endswith(":translate") for k in sft_mix) and any(k.endswith(":dialect") for k in sft_mix)
    assert not (tiny_repo / ".scratch" / "cpt").exists() or not any((tiny_repo / ".scratch" / "cpt").iterdir())


def test_after_a_snakemake_run_neither_tool_has_anything_to_do(tiny_repo):
    assert planned_jobs(tiny_repo) == set()
    # the Snakefile's onsuccess handler recorded the run in dvc.lock
    assert "up to date" in run([str(BIN / "dvc"), "status"], tiny_repo).stdout.lower()


def test_clean_param_edit_reruns_clean_and_downstream_only(tiny_repo):
    params = (tiny_repo / "params.yaml").read_text()
    try:
        p = yaml.safe_load(params)
        p["clean"]["min_chars"] = 10
        (tiny_repo / "params.yaml").write_text(yaml.safe_dump(p, allow_unicode=True, sort_keys=False))
        assert planned_jobs(tiny_repo) == {"clean", "splits", "fertility", "cpt", "sft", "qlora", "all"}
    finally:
        (tiny_repo / "params.yaml").write_text(params)
    assert planned_jobs(tiny_repo) == set()


def test_dvc_repro_reproduces_byte_identical_outputs_then_reruns_only_what_changed(tiny_repo):
    before = digest(tiny_repo)
    out = run([str(BIN / "dvc"), "repro", "--force"], tiny_repo).stdout  # DVC runs every stage itself
    assert "Running stage 'clean'" in out
    assert digest(tiny_repo) == before  # deterministic: same bytes from the other tool and a second run
    assert "up to date" in run([str(BIN / "dvc"), "status"], tiny_repo).stdout.lower()
    params = (tiny_repo / "params.yaml").read_text()
    p = yaml.safe_load(params)
    p["clean"]["min_chars"] = 10
    (tiny_repo / "params.yaml").write_text(yaml.safe_dump(p, allow_unicode=True, sort_keys=False))
    try:
        out = run([str(BIN / "dvc"), "repro"], tiny_repo).stdout
        ran = {l.split("'")[1] for l in out.splitlines() if l.startswith("Running stage")}
        assert ran == {"clean", "splits", "fertility", "cpt", "sft", "qlora"}, out
    finally:
        (tiny_repo / "params.yaml").write_text(params)
        run([str(BIN / "dvc"), "repro"], tiny_repo)
    assert planned_jobs(tiny_repo) == set()  # and after a DVC run, Snakemake has nothing to do either

