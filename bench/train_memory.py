"""Steady-state training memory of full fine-tuning vs LoRA vs QLoRA on the same model and batch.

    python bench/train_memory.py [--model models/base] [--steps 3] [--seq-len 256] [--batch 4]

Each method runs in its own process (so one's allocations do not hide another's); memory is the process RSS
after the last step (steady state, not the load peak), next to the peak. Ratios are against full fine-tuning.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LORA = {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}
QUANT = {"quant_type": "nf4", "double_quant": True, "compute_dtype": "bfloat16"}


def one(method: str, model_dir: str, steps: int, seq_len: int, batch: int) -> dict:
    import resource

    import torch

    from dragoman.lm.chat import tokenize_text
    from dragoman.train.finetune import apply_lora, rows_of
    from dragoman.lm.models import load_model
    from dragoman.train.trainer import Trainer, TrainConfig
    torch.manual_seed(0)
    model, tok = load_model(model_dir, quantize_4bit=QUANT if method == "qlora" else None)
    if method != "full":
        model = apply_lora(model, LORA, kbit=method == "qlora")
    text = "مرحبا بكم في هذا الاختبار. " * 200
    rows = rows_of([tokenize_text(tok, text)] * batch * (steps + 1), seq_len, tok.pad_token_id, True)
    cfg = TrainConfig(seq_len=seq_len, batch_size=batch, max_steps=steps, eval_every=10**6, eval_rows=1,
                      save_every=0, grad_checkpointing=method == "qlora",
                      optimizer="adamw_8bit" if method == "qlora" else "adamw")
    result = Trainer(model, cfg, None).fit(rows, rows[:1])
    return {"method": method, "steady_rss_mb": result["perf"]["steady_rss_mb"],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "tokens_per_s": result["perf"]["tokens_per_s"], "optimizer": result["optimizer"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/base")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.one, a.model, a.steps, a.seq_len, a.batch)))
        return
    res = {}
    for m in ("full", "lora", "qlora"):
        out = subprocess.run([sys.executable, __file__, "--one", m, "--model", a.model, "--steps", str(a.steps),
                              "--seq-len", str(a.seq_len), "--batch", str(a.batch)], capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"{m} failed:\n{out.stderr[-2000:]}")
        res[m] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"model {a.model}, batch {a.batch} x {a.seq_len} tokens, {a.steps} steps")
    for m, r in res.items():
        print(f"  {m:6s} steady {r['steady_rss_mb']:7.0f} MB  peak {r['peak_rss_mb']:7.0f} MB  "
              f"{r['tokens_per_s']:6.0f} tok/s  ({r['optimizer']})")
    for m in ("lora", "qlora"):
        print(f"ratio {m}/full steady memory: {res[m]['steady_rss_mb'] / res['full']['steady_rss_mb']:.2f}")


if __name__ == "__main__":
    main()
