"""The field's harness as the reference: our multiple-choice scoring (dragoman/lm/evaluate.py, what `metrics`
reports as EXAMS acc / acc_norm) against lm-evaluation-harness on the same EXAMS-ar items and the same model,
through a local task definition (no hub)."""
from __future__ import annotations

import json

import pytest
import yaml

from conftest import ROOT

N_ITEMS = 60


def exams_records(n: int, fits) -> list[dict]:
    """The first n EXAMS-ar items read the way `ingest` reads them (question, choices, answer index) that `fits`
    (the tiny model's 256 positions: lm-eval cuts longer inputs from the left, our scorer does not cut)."""
    from dragoman.data.sources import rows, to_record
    src = dict(yaml.safe_load((ROOT / "params.yaml").read_text())["sources"]["exams_ar"])
    src["path"] = str(ROOT / src["path"])
    out = []
    for file, line, row in rows(src):
        rec = to_record("exams_ar", src, file, line, row)
        if fits(rec):
            out.append(rec)
        if len(out) == n:
            break
    return out


def test_our_exams_scores_equal_lm_evaluation_harness(tiny_model, tmp_path):
    from dragoman.lm import harness
    from dragoman.lm.models import load_model
    import importlib.util
    spec = importlib.util.spec_from_file_location("metrics_script", ROOT / "scripts" / "metrics.py")
    metrics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(metrics)

    model, tok = load_model(str(tiny_model))
    length = lambda ctx, choices: len(tok(ctx + " " + max(choices, key=len))["input_ids"])
    records = exams_records(N_ITEMS, lambda r: length(*metrics.mcq_items([r])[0]) <= 250)
    task = harness.write_mcq_task(records, tmp_path / "tasks")
    out = harness.evaluate(str(tiny_model), [task], tmp_path / "tasks", batch_size=4, bf16=False, log_samples=True)
    theirs = out["results"][task]

    ours = metrics.mcq(model.eval(), tok, records, {"batch_size": 4, "bf16": False})
    assert ours["n"] == N_ITEMS == len(out["samples"][task])
    # item by item: the same log-likelihood for every choice
    from dragoman.lm import evaluate as ev
    picks = ev.choose(model, tok, metrics.mcq_items(records), 4, False, metrics.MCQ_DELIMITER)
    for sample in sorted(out["samples"][task], key=lambda s: s["doc_id"]):
        lls = [float(r[0][0] if isinstance(r[0], (list, tuple)) else r[0]) for r in sample["filtered_resps"]]
        mine = picks[sample["doc_id"]]
        assert lls == pytest.approx(mine["loglik"], abs=1e-4), sample["doc_id"]
        gold = records[sample["doc_id"]]["answer"]  # and the same picks: acc_norm divides by the choice's length
        assert (sample["acc"], sample["acc_norm"]) == (float(mine["pick"] == gold), float(mine["pick_norm"] == gold))
    assert ours["acc"] == pytest.approx(theirs["acc,none"], abs=1e-4)
    assert ours["acc_norm"] == pytest.approx(theirs["acc_norm,none"], abs=1e-4)


def test_benchmarks_stage_reports_the_harness_numbers(tiny_model, tmp_path, monkeypatch):
    """The optional `benchmarks` stage from its command line (as dvc.yaml would run it) on test-split records."""
    import subprocess
    import sys
    from dragoman.lm.models import load_model
    model, tok = load_model(str(tiny_model))
    records = exams_records(8, lambda r: len(tok(r["question"] + " ".join(r["choices"]))["input_ids"]) <= 200)
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps({**r, "kind": "mcq", "source": "exams_ar"}, ensure_ascii=False) + "\n"
                            for r in records))
    out = tmp_path / "bench.json"
    p = subprocess.run([sys.executable, str(ROOT / "scripts/benchmarks.py"), "--input", f"base={tiny_model}",
                        "--input", f"merged={tiny_model}", "--input", f"test={test}", "--output", f"report={out}",
                        "--keys", "benchmarks", "--params", str(ROOT / "params.yaml")],
                       cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["mcq_items"] == 8 and report["tasks"] == ["dragoman_mcq"]
    import importlib.util
    spec = importlib.util.spec_from_file_location("metrics_script", ROOT / "scripts" / "metrics.py")
    metrics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(metrics)
    ours = metrics.mcq(model.eval(), tok, records, {"batch_size": 4, "bf16": False})
    for name in ("base", "merged"):
        assert report["models"][name]["dragoman_mcq"]["acc"] == pytest.approx(ours["acc"], abs=1e-4)
        assert report["models"][name]["dragoman_mcq"]["acc_norm"] == pytest.approx(ours["acc_norm"], abs=1e-4)
