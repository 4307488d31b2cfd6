"""Stage `teacher`: the translation teacher of translate-and-tune (Hala, arXiv 2509.14008).

Inputs:  model (models/base), train, dev (data/splits/{train,dev}.jsonl)
Outputs: model (models/teacher), report (reports/teacher.json), live (reports/teacher.live), perf
Params:  teacher, languages
Debug:   python scripts/teacher.py --input model=models/base --input train=data/splits/train.jsonl \
             --input dev=data/splits/dev.jsonl --output model=/tmp/teacher --output report=/tmp/teacher.json \
             --output live=/tmp/teacher.live --keys teacher,languages

`teacher.model: bootstrap` (the embedded default, nothing to download) LoRA-tunes the base model on the
parallel training pairs, both directions, with `teacher.prompt`. A hub id or local path (at real scale
`CohereLabs/command-a-translate-08-2025`) is used as it is: no training, and models/teacher holds only a
pointer to it (models.POINTER), so a 100B-parameter teacher is not copied.
"""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import dragoman from this checkout

from dragoman import io, stage
from dragoman.chat import tokenize_chat
from dragoman.codedeps import code_deps
from dragoman.finetune import (apply_lora, count_params, finish, load_model, rows_of, save_model, scratch_for,
                               summary, with_answers, write_live)
from dragoman.mixture import sample, table_of, translation_tasks
from dragoman.models import write_pointer
from dragoman.trainer import Trainer, TrainConfig

log = logging.getLogger("teacher")


def translation_rows(tok, records: list[dict], p: dict, names: dict, seq_len: int, packing: bool, limit: int):
    """(rows, table) of translation tasks, both directions, from up to `limit` parallel records."""
    parallel = [r for r in records if r["kind"] == "parallel"]
    tasks = translation_tasks(sample(parallel, limit, p["seed"], keep_order=False), names, p["prompt"], limit,
                              p["seed"])
    tokenized, tags, _ = with_answers([tokenize_chat(tok, m, seq_len) for _, m in tasks], [t for t, _ in tasks])
    table = table_of([(t, None) for t in tags], [sum(1 for x in lab if x >= 0) for _, lab in tokenized])
    return rows_of(tokenized, seq_len, tok.pad_token_id, packing), table


def main(st: stage.Stage) -> None:
    p, langs = st.params["teacher"], st.params["languages"]
    if p["model"] != "bootstrap":
        log.info("teacher.model = %s: used as is, no training", p["model"])
        with io.atomic_path(st.output["model"]) as tmp:
            tmp.mkdir()
            write_pointer(tmp, p["model"])
        io.write_json(st.output["report"], {"model": p["model"], "trained": False})
        with io.atomic_path(st.output["live"]) as tmp:
            tmp.mkdir()
        return
    cfg = TrainConfig.from_params(p)
    model, tok = load_model(st.input["model"])
    train = list(io.read_jsonl(st.input["train"]))
    dev = list(io.read_jsonl(st.input["dev"]))
    train_rows, table = translation_rows(tok, train, p, langs["names"], cfg.seq_len, cfg.packing, p["max_pairs"])
    dev_rows, _ = translation_rows(tok, dev, p, langs["names"], cfg.seq_len, True, cfg.eval_rows * 4)
    model = apply_lora(model, p["lora"], seed=cfg.seed)
    n_params = count_params(model)
    scratch = scratch_for("teacher", [st.input[k] for k in ("model", "train", "dev")],
                          {"teacher": p, "languages": langs}, list(code_deps("scripts/teacher.py")))
    trainer = Trainer(model, cfg, scratch)
    result = trainer.fit(train_rows, dev_rows)
    if trainer.acc.is_main_process:
        save_model(trainer.unwrap(), tok, st.output["model"], st.input["model"])
        write_live(result["history"], st.output["live"], result["timings"])
        io.write_json(st.output["report"], {**summary(result), "model": "bootstrap", "trained": True,
                                            "params": n_params, "train_rows": len(train_rows), "mixture": table})
        finish(scratch)
    st.perf.update(result["perf"])


if __name__ == "__main__":
    stage.run(main, globals())
