"""Stage `benchmarks` (optional, `benchmarks.enabled`): the evaluated models through lm-evaluation-harness.

Inputs:  one folder per model in `benchmarks.models`, test (data/splits/test.jsonl)
Outputs: report (reports/benchmarks.json: per model and task, the harness's metrics and their stderr),
         perf (reports/benchmarks.perf.json)
Params:  benchmarks
Debug:   python scripts/benchmarks.py --input base=models/base --input merged=models/merged \
             --input test=data/splits/test.jsonl --output report=/tmp/bench.json --keys benchmarks

`dragoman_mcq` is a local task over the test split's multiple-choice items of `benchmarks.mcq.source` (EXAMS-ar
by default) with the prompt `metrics` uses, so its acc / acc_norm are the quantities `metrics` reports, computed
by the harness (tests/test_harness.py: equal item by item). `benchmarks.hub_tasks` adds harness tasks by name
(Hala's Arabic list, e.g. arabic_mmlu, arabicmmlu, alghafa): these download their data from the hub, so they run
only where it is reachable.
"""

import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import dragoman from this checkout

from dragoman.lm import harness
from dragoman.train.mixture import sample
from dragoman.workflow import io, stage

log = logging.getLogger("benchmarks")


def numbers(results: dict) -> dict:
    """{metric: value} of one task's harness results, without the harness's alias and sample-count fields."""
    return {k.split(",")[0]: round(v, 6) for k, v in sorted(results.items())
            if isinstance(v, (int, float)) and "," in k}


def main(st: stage.Stage) -> None:
    p = st.params["benchmarks"]
    test = io.read_jsonl(st.input["test"])
    items = [r for r in test if r["kind"] == "mcq" and r["source"] == p["mcq"]["source"]]
    items = sample(items, p["mcq"]["n"], p["seed"]) if p["mcq"]["n"] else items
    report = {"mcq_items": len(items), "mcq_source": p["mcq"]["source"], "models": {}}
    with tempfile.TemporaryDirectory() as folder:  # the local task definition: rebuilt each run, never cached
        tasks = ([harness.write_mcq_task(items, Path(folder))] if items else []) + list(p["hub_tasks"])
        for name in p["models"]:
            log.info("%s: lm-eval on %s", name, ", ".join(tasks))
            out = harness.evaluate(st.input[name], tasks, Path(folder), p["batch_size"], p["bf16"])
            report["models"][name] = {t: numbers(out["results"][t]) for t in tasks}
    report["tasks"] = tasks
    report["lm_eval_version"] = __import__("lm_eval").__version__
    io.write_json(st.output["report"], report)


if __name__ == "__main__":
    stage.run(main, globals())
