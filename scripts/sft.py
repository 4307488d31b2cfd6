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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import dragoman from this checkout

from dragoman.train import recipe
from dragoman.train.finetune import sft_rows, translated
from dragoman.workflow import stage


def main(st: stage.Stage) -> None:
    langs = st.params["languages"]
    p, cfg, model, tok = recipe.load(st, "sft")
    train, dev = recipe.records(st, "train", "dev")
    train_rows, dev_rows, data_report = sft_rows(tok, train, dev, p, langs, cfg.seq_len, cfg.packing,
                                                   translated(st))
    report = recipe.train(st, model, tok, cfg, train_rows, dev_rows,
                          lora=p["lora"] if p["method"] == "lora" else None)  # None: full fine-tuning
    recipe.write_report(st, report, method=p["method"], **data_report)


if __name__ == "__main__":
    stage.run(main, globals())
