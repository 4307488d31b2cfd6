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

from dragoman.lm.models import load_model
from dragoman.train import recipe
from dragoman.train.finetune import apply_lora, sft_rows, translated
from dragoman.train.trainer import TrainConfig
from dragoman.workflow import io, stage

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
    report = recipe.train(st, model, tok, cfg, train_rows, dev_rows, init=st.input["model"])
    if report is not None:
        io.write_json(st.output["report"], {**report, "method": p["method"], **data_report})


if __name__ == "__main__":
    stage.run(main, globals())
