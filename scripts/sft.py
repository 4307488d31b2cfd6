"""Stage `sft`: supervised fine-tuning of the CPT model on the instruction mixture, loss on assistant tokens only.

Inputs:  model (models/cpt), train, dev (data/splits/{train,dev}.jsonl), instructions (data/instructions/train.jsonl)
Outputs: model (models/sft: merged weights + adapter/), report (reports/sft.json: losses, tokens, mixture table),
         live (reports/sft.live: DVCLive curves), perf (reports/sft.perf.json)
Params:  sft, languages
Debug:   python scripts/sft.py --input model=models/cpt --input train=data/splits/train.jsonl \
             --input dev=data/splits/dev.jsonl --input instructions=data/instructions/train.jsonl --output model=/tmp/sft --output report=/tmp/sft.json \
             --output live=/tmp/sft.live --keys sft,languages

Mixture (rows per generator in `sft.mixture`): the translated instruction corpus (Hala's main ingredient),
bilingual translation tasks from the parallel training pairs
(both directions), classification questions from the labelled training records (InstAr-500k: 45.7 % of its rows
are generated classification), and an optional share of source-language instructions against forgetting.
"""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import dragoman from this checkout

from dragoman import io, stage
from dragoman.codedeps import code_deps
from dragoman.finetune import (apply_lora, count_params, finish, load_model, save_model, scratch_for, sft_rows, summary,
                               translated, write_live)
from dragoman.trainer import Trainer, TrainConfig

log = logging.getLogger("sft")


def main(st: stage.Stage) -> None:
    p, langs = st.params["sft"], st.params["languages"]
    cfg = TrainConfig.from_params(p)
    model, tok = load_model(st.input["model"])
    train = list(io.read_jsonl(st.input["train"]))
    dev = list(io.read_jsonl(st.input["dev"]))
    train_rows, dev_rows, data_report = sft_rows(tok, train, dev, p, langs, cfg.seq_len, cfg.packing,
                                                   translated(st))
    if p["method"] == "lora":
        model = apply_lora(model, p["lora"], seed=cfg.seed)
    n_params = count_params(model)
    scratch = scratch_for("sft", [st.input[k] for k in ("model", "train", "dev", "instructions") if k in st.input], {"sft": p, "languages": langs},
                          list(code_deps("scripts/sft.py")))
    trainer = Trainer(model, cfg, scratch)
    result = trainer.fit(train_rows, dev_rows)
    if trainer.acc.is_main_process:
        save_model(trainer.unwrap(), tok, st.output["model"], st.input["model"])
        write_live(result["history"], st.output["live"], result["timings"])
        io.write_json(st.output["report"], {**summary(result), "method": p["method"], "params": n_params,
                                            **data_report})
        finish(scratch)
    st.perf.update(result["perf"])


if __name__ == "__main__":
    stage.run(main, globals())
