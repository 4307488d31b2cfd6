"""Stage `cpt`: continual pretraining of the base model on target-language text (+ source-language replay).

Inputs:  model (models/base), train, dev (data/splits/{train,dev}.jsonl)
Outputs: model (models/cpt: merged weights + adapter/), report (reports/cpt.json: losses, tokens, mixture table),
         live (reports/cpt.live: DVCLive curves), perf (reports/cpt.perf.json: tokens/s, memory)
Params:  cpt, languages
Debug:   python scripts/cpt.py --input model=models/base --input train=data/splits/train.jsonl \
             --input dev=data/splits/dev.jsonl --output model=/tmp/cpt --output report=/tmp/cpt.json \
             --output live=/tmp/cpt.live --keys cpt,languages
Multi-process (DDP): accelerate launch --multi_gpu --num_processes 2 scripts/cpt.py ... (same arguments; on a
         machine without GPUs this still runs 2 CPU processes, gloo backend)

`cpt.method: lora` (default on CPU; `lora.modules_to_save: [embed_tokens, lm_head]` also trains the
embeddings, which seed 002 found CPT reshapes most) or `full` (seed 002's full CPT). Training state lives in
.scratch/cpt/<key>: a killed run resumes where it stopped; changed inputs, params or code start fresh.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import dragoman from this checkout

from dragoman.lm.chat import tokenize_text
from dragoman.train import recipe
from dragoman.train.finetune import rows_of
from dragoman.train.mixture import cpt_documents, sample, texts_in
from dragoman.workflow import stage


def main(st: stage.Stage) -> None:
    langs = st.params["languages"]
    p, cfg, model, tok = recipe.load(st, "cpt")
    train, dev = recipe.records(st, "train", "dev")
    count = lambda t: len(tok(t, add_special_tokens=False)["input_ids"])
    docs, table = cpt_documents(sample(train, p["max_records"], cfg.seed), langs["target"], langs["source"],
                                p["replay_ratio"], count)
    train_rows = rows_of([tokenize_text(tok, t) for _, t in docs], cfg.seq_len, tok.pad_token_id, cfg.packing)
    dev_docs = [t for r in dev for t in texts_in(r, langs["target"])]
    dev_rows = rows_of([tokenize_text(tok, t) for t in dev_docs], cfg.seq_len, tok.pad_token_id, True)
    lora = p["lora"] if p["method"] == "lora" else None  # full: every weight trains
    report = recipe.train(st, model, tok, cfg, train_rows, dev_rows, lora=lora)
    recipe.write_report(st, report, method=p["method"], mixture=table)


if __name__ == "__main__":
    stage.run(main, globals())
