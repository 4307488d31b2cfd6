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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import dragoman from this checkout

from dragoman.train import recipe
from dragoman.train.finetune import sft_rows, translated
from dragoman.workflow import stage


def main(st: stage.Stage) -> None:
    langs = st.params["languages"]
    q, cfg, model, tok = recipe.load(st, "qlora", quantize_4bit=st.params["qlora.quant"])
    p = {k: st.params[f"sft.{k}"] for k in ("mixture", "translate_prompt", "classification_tasks")} | {"seed": q["seed"]}
    train, dev = recipe.records(st, "train", "dev")
    train_rows, dev_rows, data_report = sft_rows(tok, train, dev, p, langs, cfg.seq_len, cfg.packing,
                                                   translated(st))
    n_4bit = sum(1 for m in model.modules() if type(m).__name__ == "Linear4bit")  # before peft wraps them
    # the adapter is merged into the unquantized init model (the `model` input), not into the 4-bit training copy
    report = recipe.train(st, model, tok, cfg, train_rows, dev_rows, lora=q["lora"], kbit=True)
    recipe.write_report(st, report, method="qlora", linear4bit_layers=n_4bit, quant=q["quant"], **data_report)


if __name__ == "__main__":
    stage.run(main, globals())
