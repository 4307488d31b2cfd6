"""lm-evaluation-harness, the field's reference: local task definitions over our own records, and one call that
scores a model folder on them (the `benchmarks` stage; tests/test_harness.py checks our EXAMS scoring against it).

The multiple-choice task uses the prompt of scripts/metrics.py's `mcq_items` as lm-eval's jinja templates, so a
model's harness accuracy and our `metrics` accuracy are the same quantity on the same items.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

MCQ_TASK = "dragoman_mcq"
MCQ_TEMPLATE = {
    "output_type": "multiple_choice",
    "test_split": "test",
    "doc_to_text": "Question: {{question}}\n{% for c in choices %}{{ 'ABCDEFGH'[loop.index0] }}. {{c}}\n{% endfor %}"
                   "Answer:",
    "doc_to_choice": "{{choices}}",
    "doc_to_target": "{{answer}}",
    "target_delimiter": " ",
    "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}],
}


def write_mcq_task(records: list[dict], folder: Path, name: str = MCQ_TASK) -> str:
    """A task folder lm-eval's TaskManager(include_path=folder) loads: our mcq records as a local JSON dataset."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"{name}.jsonl"
    data.write_text("".join(json.dumps({"question": r["question"], "choices": r["choices"], "answer": r["answer"]},
                                       ensure_ascii=False, sort_keys=True) + "\n" for r in records), encoding="utf-8")
    task = {"task": name, "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(data)}},
            **MCQ_TEMPLATE}
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(task, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return name


def evaluate(model_path: str, tasks: list[str], include_path: Path | None, batch_size: int, bf16: bool,
             log_samples: bool = False, limit: int | None = None) -> dict:
    """lm_eval.simple_evaluate on a model folder: {"results": {task: {metric: value}}, ...}; on a GPU in bf16."""
    import lm_eval
    import torch
    from lm_eval.tasks import TaskManager
    on_gpu = torch.cuda.is_available()
    dtype = "bfloat16" if on_gpu and bf16 else "float32"
    return lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={model_path},dtype={dtype}", device="cuda" if on_gpu else "cpu",
        tasks=tasks, task_manager=TaskManager(include_path=str(include_path) if include_path else None),
        batch_size=batch_size, log_samples=log_samples, limit=limit)
