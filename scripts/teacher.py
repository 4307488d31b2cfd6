"""Stage `teacher`: the translation teacher of translate-and-tune (Hala, arXiv 2509.14008).

Inputs:  model (models/base), train, dev (data/splits/{train,dev}.jsonl)
Outputs: model (models/teacher), report (reports/teacher.json), live (reports/teacher.live), perf
Params:  teacher, languages; hub.lock.json teacher.model (a hub model's pinned commit)
Debug:   python scripts/teacher.py --input model=models/base --input train=data/splits/train.jsonl \
             --input dev=data/splits/dev.jsonl --output model=/tmp/teacher --output report=/tmp/teacher.json \
             --output live=/tmp/teacher.live --keys teacher,languages --hub-keys teacher.model

`teacher.model: bootstrap` (the embedded default, nothing to download) LoRA-tunes the base model on the
parallel training pairs, both directions, with `teacher.prompt`. A hub id or local path (at real scale
`CohereLabs/command-a-translate-08-2025`) is used as it is: no training, and models/teacher holds only a
pointer to it (models.POINTER), so a 100B-parameter teacher is not copied.
"""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import dragoman from this checkout

from dragoman.lm.models import write_pointer
from dragoman.train import recipe
from dragoman.train.finetune import chat_rows
from dragoman.train.mixture import sample, translation_tasks
from dragoman.workflow import io, stage

log = logging.getLogger("teacher")


def translation_rows(tok, records: list[dict], p: dict, names: dict, seq_len: int, packing: bool, limit: int):
    """(rows, table) of translation tasks, both directions, from up to `limit` parallel records."""
    parallel = [r for r in records if r["kind"] == "parallel"]
    tasks = translation_tasks(sample(parallel, limit, p["seed"], keep_order=False), names, p["prompt"], limit,
                              p["seed"])
    rows, table, _ = chat_rows(tok, tasks, seq_len, packing)
    return rows, table


def main(st: stage.Stage) -> None:
    p, langs = st.params["teacher"], st.params["languages"]
    if p["model"] != "bootstrap":
        model = st.load_id("teacher.model")  # a hub id as org/name@<pinned sha>: the pointer moves with the pin
        log.info("teacher.model = %s: used as is, no training", model)
        with io.atomic_path(st.output["model"]) as tmp:
            tmp.mkdir()
            write_pointer(tmp, model)
        io.write_json(st.output["report"], {"model": p["model"], "trained": False, "hub": st.hub.get("teacher.model")})
        with io.atomic_path(st.output["live"]) as tmp:
            tmp.mkdir()
        return
    p, cfg, model, tok = recipe.load(st, "teacher")
    train, dev = recipe.records(st, "train", "dev")
    train_rows, table = translation_rows(tok, train, p, langs["names"], cfg.seq_len, cfg.packing, p["max_pairs"])
    dev_rows, _ = translation_rows(tok, dev, p, langs["names"], cfg.seq_len, True, cfg.eval_rows * 4)
    report = recipe.train(st, model, tok, cfg, train_rows, dev_rows, lora=p["lora"])
    recipe.write_report(st, report, model="bootstrap", mixture=table)


if __name__ == "__main__":
    stage.run(main, globals())
