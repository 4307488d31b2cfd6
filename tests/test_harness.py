"""The field's harness as the reference: our multiple-choice scoring (dragoman/lm/evaluate.py, what `metrics`
reports as EXAMS acc / acc_norm) against lm-evaluation-harness on the same EXAMS-ar items and the same model,
through a local task definition (no hub)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

N_ITEMS = 60

# the prompt of scripts/metrics.py's mcq(), as lm-eval's jinja templates
TASK = {
    "task": "dragoman_exams_ar",
    "dataset_path": "json",
    "test_split": "test",
    "output_type": "multiple_choice",
    "doc_to_text": "Question: {{question}}\n{% for c in choices %}{{ 'ABCDEFGH'[loop.index0] }}. {{c}}\n{% endfor %}"
                   "Answer:",
    "doc_to_choice": "{{choices}}",
    "doc_to_target": "{{answer}}",
    "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}],
}


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
    import lm_eval
    from lm_eval.tasks import TaskManager

    from dragoman.lm.models import load_model
    import importlib.util
    spec = importlib.util.spec_from_file_location("metrics_script", ROOT / "scripts" / "metrics.py")
    metrics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(metrics)

    model, tok = load_model(str(tiny_model))
    length = lambda ctx, choices: len(tok(ctx + " " + max(choices, key=len))["input_ids"])
    records = exams_records(N_ITEMS, lambda r: length(*metrics.mcq_items([r])[0]) <= 250)
    data = tmp_path / "exams.jsonl"
    data.write_text("".join(json.dumps({"question": r["question"], "choices": r["choices"], "answer": r["answer"]},
                                       ensure_ascii=False) + "\n" for r in records))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "dragoman_exams_ar.yaml").write_text(yaml.safe_dump(
        {**TASK, "dataset_kwargs": {"data_files": {"test": str(data)}}}, allow_unicode=True, sort_keys=False))
    out = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={tiny_model},dtype=float32", device="cpu",
                                  tasks=["dragoman_exams_ar"], task_manager=TaskManager(include_path=str(tasks)),
                                  batch_size=4, log_samples=True)
    theirs = out["results"]["dragoman_exams_ar"]

    ours = metrics.mcq(model.eval(), tok, records, {"batch_size": 4, "bf16": False})
    assert ours["n"] == N_ITEMS == len(out["samples"]["dragoman_exams_ar"])
    # item by item: the same log-likelihood for every choice
    from dragoman.lm import evaluate as ev
    picks = ev.choose(model, tok, metrics.mcq_items(records), 4, False, metrics.MCQ_DELIMITER)
    for sample in sorted(out["samples"]["dragoman_exams_ar"], key=lambda s: s["doc_id"]):
        lls = [float(r[0][0] if isinstance(r[0], (list, tuple)) else r[0]) for r in sample["filtered_resps"]]
        mine = picks[sample["doc_id"]]
        assert lls == pytest.approx(mine["loglik"], abs=1e-4), sample["doc_id"]
        gold = records[sample["doc_id"]]["answer"]  # and the same picks: acc_norm divides by the choice's length
        assert (sample["acc"], sample["acc_norm"]) == (float(mine["pick"] == gold), float(mine["pick_norm"] == gold))
    assert ours["acc"] == pytest.approx(theirs["acc,none"], abs=1e-4)
    assert ours["acc_norm"] == pytest.approx(theirs["acc_norm,none"], abs=1e-4)
