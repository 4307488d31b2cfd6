"""Training throughput: packed vs padded rows, and achieved FLOP/s as a share of this machine's bf16 GEMM rate.

    python bench/train_throughput.py [--model models/base] [--steps 4] [--method lora|full]

Same model, same examples (SFT-style translation tasks from data/splits/train.jsonl, or synthetic short
examples if the splits are missing), same rows per step; tokens/s counts real (non-pad) tokens only.
Model FLOPs: per real token 6 per body weight for full fine-tuning, 4 per frozen + 6 per adapter weight for LoRA
(frozen weights need no weight gradients); the LM head's only for tokens that carry loss, the only positions the
trainer computes logits for (attention's FLOPs are left out: a conservative count). The bf16 GEMM rate is
measured in the same run (2048² matmuls).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from dragoman import io
from dragoman.chat import tokenize_chat
from dragoman.finetune import apply_lora, load_model, rows_of
from dragoman.mixture import translation_tasks
from dragoman.trainer import Trainer, TrainConfig

LORA = {"r": 16, "alpha": 32, "dropout": 0.0,  # the default cpt/sft adapter
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}


def gemm_rate(n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n, dtype=torch.bfloat16), torch.randn(n, n, dtype=torch.bfloat16)
    a @ b
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def examples(tok, n: int) -> list:
    path = Path("data/splits/train.jsonl")
    if path.exists():
        recs = [r for r in io.read_jsonl(path) if r["kind"] == "parallel"][: n * 2]
        tasks = translation_tasks(recs, {"ar": "Arabic", "en": "English"}, "Translate from {src} to {tgt}.\n\n{text}", n, 0)
    else:
        tasks = [("x", [{"role": "user", "content": f"Say {i}"}, {"role": "assistant", "content": "ok " * (i % 20)}])
                 for i in range(n)]
    return [tokenize_chat(tok, m, 256) for _, m in tasks]


def run(model_dir: str, packing: bool, method: str, steps: int, ex_cache: dict) -> tuple[float, float]:
    """(real tokens/s, model FLOP/s) of `steps` training steps after a warm-up step."""
    torch.manual_seed(0)
    model, tok = load_model(model_dir)
    if method == "lora":
        model = apply_lora(model, LORA)
    ex = ex_cache.setdefault("ex", examples(tok, 2000))
    rows = rows_of(ex, 256, tok.pad_token_id, packing)
    cfg = TrainConfig(seq_len=256, batch_size=8, max_steps=steps + 1, eval_every=10**6, eval_rows=1, save_every=0)
    tr = Trainer(model, cfg, None)
    tr.fit(rows[:8], rows[:1])  # warm-up: first step pays allocation and kernel selection
    fit = tr.fit(rows, rows[:1])
    real_tok = fit["perf"]["tokens_per_s"] * fit["perf"]["train_wall_s"]
    per_real, per_loss = flops_per_token(model, method)
    return fit["perf"]["tokens_per_s"], (real_tok * per_real + fit["tokens_seen"] * per_loss) / fit["perf"]["train_wall_s"]


def flops_per_token(model, method: str) -> tuple[float, float]:
    """Model FLOPs per real token (the transformer body) and per loss token (the LM head, which the trainer runs
    only where a token carries loss). Forward 2 per weight, backward 2 for the input gradient, plus 2 for the
    weight gradient of trainable weights; embedding lookups cost none."""
    head, emb = model.get_output_embeddings().weight, model.get_input_embeddings().weight
    n_total = sum(p.numel() for p in model.parameters())
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    body = n_total - emb.numel() - (0 if head is emb else head.numel())
    if method == "full":
        return 6 * body, 6 * head.numel()
    return 4 * body + 2 * n_trainable, 4 * head.numel()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/base")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--method", default="lora", choices=["lora", "full"])
    a = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    peak = gemm_rate()
    cache: dict = {}
    padded, _ = run(a.model, False, a.method, a.steps, cache)
    packed, flops = run(a.model, True, a.method, a.steps, cache)
    print(f"bf16 GEMM rate (2048²): {peak / 1e9:.0f} GFLOP/s, {torch.get_num_threads()} threads")
    print(f"{a.method}: padded {padded:.0f} real tok/s, packed {packed:.0f} real tok/s")
    print(f"ratio packed/padded tokens/s: {packed / padded:.2f}x")
    print(f"achieved {flops / 1e9:.0f} GFLOP/s (packed) = {100 * flops / peak:.1f}% of the bf16 GEMM rate")


if __name__ == "__main__":
    main()
