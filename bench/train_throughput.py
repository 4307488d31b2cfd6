"""Training throughput: packed vs padded rows, and achieved FLOP/s as a share of this machine's bf16 GEMM rate.

    python bench/train_throughput.py [--model models/base] [--steps 4] [--method lora|full] [--batch-size 8] [--seq-len 256] [--compile]
        [--random-init --model CONFIG_DIR --tokenizer models/base]

On a GPU everything runs there (the trainer via accelerate, the GEMM rate on 8192² matmuls, the ceiling's kernels).

Same model, same examples (SFT-style translation tasks from data/splits/train.jsonl, or synthetic short
examples if the splits are missing), same rows per step; tokens/s counts real (non-pad) tokens only.
Model FLOPs: per real token 6 per body weight for full fine-tuning, 4 per frozen + 6 per adapter weight for LoRA
(frozen weights need no weight gradients); the LM head's only for tokens that carry loss, the only positions the
trainer computes logits for (attention's FLOPs are left out: a conservative count). The bf16 GEMM rate is
measured in the same run (2048² matmuls).

The ceiling: the same step's matmuls (every Linear's forward and gradient GEMMs at its own shape, LoRA's rank-r
ones included) and attention (SDPA forward + backward, the model's heads and row length) timed alone, with
nothing else: the share of the GEMM rate these kernels allow if every other op (norms, rotary, SiLU, casts,
loss, optimizer) cost nothing.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from dragoman.workflow import io
from dragoman.lm.chat import tokenize_chat
from dragoman.train.finetune import apply_lora, rows_of
from dragoman.lm.models import load_model, load_tokenizer
from dragoman.train.mixture import translation_tasks
from dragoman.train.trainer import Trainer, TrainConfig

LORA = {"r": 16, "alpha": 32, "dropout": 0.0,  # the default cpt/sft adapter
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}


DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
GEMM_N = 8192 if DEVICE == "cuda" else 2048  # a GEMM large enough to reach the device's peak


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def timed(fn, reps: int = 5) -> float:
    """Seconds per call, after one untimed call."""
    fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    sync()
    return (time.perf_counter() - t0) / reps


def gemm_rate(n: int = GEMM_N, reps: int = 5, trials: int = 3) -> float:
    """Best of `trials` timings: a shared 2-core machine's rate varies by ±20 % from one second to the next."""
    a, b = (torch.randn(n, n, dtype=torch.bfloat16, device=DEVICE) for _ in range(2))
    return max(2 * n**3 / timed(lambda: a @ b, reps) for _ in range(trials))


def examples(tok, n: int, data: str, seq_len: int) -> list:
    path = Path(data)
    if path.exists():
        recs = [r for r in io.read_jsonl(path) if r["kind"] == "parallel"][: n * 2]
        tasks = translation_tasks(recs, {"ar": "Arabic", "en": "English"}, "Translate from {src} to {tgt}.\n\n{text}", n, 0)
    else:
        tasks = [("x", [{"role": "user", "content": f"Say {i}"}, {"role": "assistant", "content": "ok " * (i % 20)}])
                 for i in range(n)]
    return [tokenize_chat(tok, m, seq_len) for _, m in tasks]


def kernel_floor(model, method: str, rows: int, seq_len: int, loss_tokens: float) -> dict:
    """Seconds one training step spends in its matmuls and attention alone, each timed at the model's shapes."""
    bf, n = torch.bfloat16, rows * seq_len
    randn = lambda *shape, **kw: torch.randn(*shape, dtype=bf, device=DEVICE, **kw)  # noqa: E731
    shapes: Counter = Counter()  # (in, out, LoRA rank or 0, weight gradient?) -> how many Linear layers have it
    head = model.get_output_embeddings()
    for name, m in model.named_modules():
        base = getattr(m, "base_layer", None)
        if hasattr(m, "lora_A") and isinstance(base, torch.nn.Linear):
            shapes[(base.in_features, base.out_features, m.lora_A[m.active_adapters[0]].out_features, False)] += 1
        elif type(m) is torch.nn.Linear and m is not head and "lora_" not in name and not name.endswith("base_layer"):
            shapes[(m.in_features, m.out_features, 0, method == "full")] += 1
    gemm = 0.0
    for (i, o, r, wgrad), count in shapes.items():
        x, g, w = randn(n, i), randn(n, o), randn(o, i)
        a, b = (randn(r, i), randn(o, r)) if r else (None, None)

        def step():
            x @ w.t()                  # forward
            g @ w                      # input gradient
            if wgrad:
                g.t() @ x              # weight gradient (full fine-tuning)
            if r:                      # LoRA: x A^T, h B^T forward; g B, g_h A input grad; both weight grads
                h, gh = x @ a.t(), g @ b
                h @ b.t(), gh @ a, gh.t() @ x, g.t() @ h
        gemm += count * timed(step)
    hx = randn(max(1, int(loss_tokens)), head.in_features)
    hg, hw = randn(hx.shape[0], head.out_features), randn(head.out_features, head.in_features)
    gemm += timed(lambda: (hx @ hw.t(), hg @ hw) + ((hg.t() @ hx,) if method == "full" and head.weight.requires_grad else ()))
    c = model.config
    heads, dim = c.num_attention_heads, getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    q, k, v = (randn(rows, heads, seq_len, dim, requires_grad=True) for _ in range(3))
    go = randn(rows, heads, seq_len, dim)
    attn = c.num_hidden_layers * timed(
        lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).backward(go))
    return {"gemm_s": gemm, "attention_s": attn}


def run(a: argparse.Namespace, packing: bool, ex_cache: dict) -> dict:
    """Real tokens/s, model FLOP/s and seconds per step of `steps` training steps after a warm-up step, and the
    seconds the same step's matmuls and attention take alone."""
    torch.manual_seed(0)
    method = a.method
    if a.random_init:  # speed does not depend on the weights' values: bench an architecture from its config alone
        from transformers import AutoConfig, AutoModelForCausalLM
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(a.model), dtype=torch.float32)
        tok = load_tokenizer(a.tokenizer or a.model)
    else:
        model, tok = load_model(a.model)
    if method == "lora":
        model = apply_lora(model, LORA)
    ex = ex_cache.setdefault("ex", examples(tok, 250 * a.batch_size * a.seq_len // 256, a.data, a.seq_len))
    rows = rows_of(ex, a.seq_len, tok.pad_token_id, packing)
    cfg = TrainConfig(seq_len=a.seq_len, batch_size=a.batch_size, max_steps=a.steps + 1, eval_every=10**6, eval_rows=1,
                      save_every=0, compile=a.compile)
    tr = Trainer(model, cfg, None)
    tr.fit(rows[:a.batch_size], rows[:1])  # warm-up: first step pays allocation and kernel selection
    fit = tr.fit(rows, rows[:1])
    wall = fit["perf"]["train_wall_s"]
    real_tok = fit["perf"]["tokens_per_s"] * wall
    per_real, per_loss = flops_per_token(model, method)
    out = {"tokens_per_s": fit["perf"]["tokens_per_s"], "flops": (real_tok * per_real + fit["tokens_seen"] * per_loss) / wall,
           "step_s": wall / fit["steps"]}
    if packing:
        out |= kernel_floor(model, method, cfg.batch_size, cfg.seq_len, fit["tokens_seen"] / fit["steps"])
    return out


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
    ap.add_argument("--batch-size", type=int, default=8, help="rows per step (the default stages' 8)")
    ap.add_argument("--seq-len", type=int, default=256, help="tokens per row (the default stages' 256)")
    ap.add_argument("--data", default="data/splits/train.jsonl", help="splits file with parallel records")
    ap.add_argument("--compile", action="store_true", help="torch.compile each decoder layer (TrainConfig.compile)")
    ap.add_argument("--random-init", action="store_true",
                    help="random weights from --model's config.json (e.g. Qwen2-1.5B's, without its weights)")
    ap.add_argument("--tokenizer", help="tokenizer folder, with --random-init when --model has none")
    a = ap.parse_args()
    peak = gemm_rate()
    cache: dict = {}
    padded = run(a, False, cache)
    packed = run(a, True, cache)
    floor = packed["gemm_s"] + packed["attention_s"]
    flops_per_step = packed["flops"] * packed["step_s"]
    where = torch.cuda.get_device_name() if DEVICE == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"bf16 GEMM rate ({GEMM_N}²): {peak / 1e9:.0f} GFLOP/s on {where}; batch {a.batch_size} x {a.seq_len}")
    print(f"{a.method}: padded {padded['tokens_per_s']:.0f} real tok/s, packed {packed['tokens_per_s']:.0f} real tok/s")
    print(f"ratio packed/padded tokens/s: {packed['tokens_per_s'] / padded['tokens_per_s']:.2f}x")
    print(f"achieved {packed['flops'] / 1e9:.0f} GFLOP/s (packed) = {100 * packed['flops'] / peak:.1f}% of the bf16 GEMM rate")
    print(f"step {packed['step_s']:.2f} s; its matmuls alone {packed['gemm_s']:.2f} s, attention alone "
          f"{packed['attention_s']:.2f} s, everything else {packed['step_s'] - floor:.2f} s")
    print(f"ceiling with these kernels (everything else free): {100 * flops_per_step / floor / peak:.1f}% of the bf16 GEMM rate")


if __name__ == "__main__":
    main()
