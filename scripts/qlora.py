"""Stage `qlora`: 4-bit NF4 QLoRA on the SFT mixture (seed 000's recipe, a branch parallel to `sft`).

Inputs:  model (models/cpt or models/base, by `qlora.init`), train, dev (data/splits/{train,dev}.jsonl),
         instructions (data/instructions/train.jsonl)
Outputs: model (models/qlora: adapter/ + weights merged into the unquantized init model), report
         (reports/qlora.json), live (reports/qlora.live), perf (reports/qlora.perf.json)
Params:  qlora, sft.mixture, sft.translate_prompt, sft.classification_tasks, languages (the SFT mixture)
Debug:   python scripts/qlora.py --input model=models/cpt --input train=data/splits/train.jsonl \
             --input dev=data/splits/dev.jsonl --input instructions=data/instructions/train.jsonl --output model=/tmp/qlora --output report=/tmp/qlora.json \
             --output live=/tmp/qlora.live --keys qlora,sft.mixture,sft.translate_prompt,sft.classification_tasks,languages

bitsandbytes NF4 + double quantization + bf16 compute, `prepare_model_for_kbit_training`, peft LoRA.
On CPU QLoRA saves memory, not time (10-25 % slower than LoRA); `paged_adamw_8bit` is CUDA-only and falls
back to 8-bit AdamW, and the report records which optimizer ran.
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

log = logging.getLogger("qlora")


def main(st: stage.Stage) -> None:
    q, langs = st.params["qlora"], st.params["languages"]
    p = {k: st.params[f"sft.{k}"] for k in ("mixture", "translate_prompt", "classification_tasks")} | {"seed": q["seed"]}
    cfg = TrainConfig.from_params(q)
    model, tok = load_model(st.input["model"], quantize_4bit=q["quant"])
    train = list(io.read_jsonl(st.input["train"]))
    dev = list(io.read_jsonl(st.input["dev"]))
    train_rows, dev_rows, data_report = sft_rows(tok, train, dev, p, langs, cfg.seq_len, cfg.packing,
                                                   translated(st))
    model = apply_lora(model, q["lora"], kbit=True, seed=cfg.seed)
    n_4bit = sum(1 for m in model.modules() if type(m).__name__ == "Linear4bit")
    # the adapter is merged into the unquantized init model, not into the 4-bit training copy
    report = recipe.train(st, model, tok, cfg, train_rows, dev_rows, init=st.input["model"])
    if report is not None:
        io.write_json(st.output["report"], {**report, "method": "qlora", "linear4bit_layers": n_4bit,
                                            "quant": q["quant"], **data_report})


if __name__ == "__main__":
    stage.run(main, globals())
