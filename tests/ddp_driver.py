"""Train the tiny model for a few steps and dump the loss curve (run by tests/test_training.py, 1 or 2 processes).

    ddp_driver.py MODEL OUT.json BATCH [DROPOUT SCRATCH]   # DROPOUT > 0: LoRA dropout on; SCRATCH: checkpoints
    (every 2 steps) there, and the trained LoRA weights go to OUT.json.pt
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from dragoman.lm.chat import tokenize_text
from dragoman.train.finetune import apply_lora, rows_of
from dragoman.lm.models import load_model
from dragoman.train.trainer import Trainer, TrainConfig

model_dir, out, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
dropout = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
scratch = Path(sys.argv[5]) if len(sys.argv) > 5 else None
torch.manual_seed(0)
model, tok = load_model(model_dir)
model = apply_lora(model, {"r": 4, "alpha": 8, "dropout": dropout, "target_modules": ["q_proj", "v_proj"]})
texts = ["مرحبا كيف حالك اليوم؟", "The quick brown fox jumps over the lazy dog.", "الكتاب على الطاولة.",
         "Hello, how are you today?", "ذهب الولد إلى المدرسة صباحا.", "Good morning, my friend."] * 6
rows = rows_of([tokenize_text(tok, t) for t in texts], 32, tok.pad_token_id, True)
cfg = TrainConfig(seq_len=32, batch_size=batch, grad_accum=2, lr=1e-2, max_steps=4, eval_every=2, eval_rows=4,
                  save_every=2 if scratch else 0, bf16=False, seed=0)
tr = Trainer(model, cfg, scratch)
result = tr.fit(rows, rows[:4])
if tr.acc.is_main_process:
    Path(out).write_text(json.dumps({"history": result["history"], "processes": result["processes"],
                                     "resumed_from_step": result["perf"]["resumed_from_step"]}))
    if scratch:
        torch.save({n: p.detach().cpu() for n, p in tr.unwrap().named_parameters() if p.requires_grad}, out + ".pt")
