"""What only a CUDA machine can check: skipped without a GPU (CI has none), run on one with

    python -m pytest tests/test_gpu.py -v

- packed rows under CUDA SDPA (its own kernels) still give each example the logits it has alone;
- the trainer moves to the GPU by itself (accelerate) and its step-0 loss matches the CPU run's;
- QLoRA: NF4 weights on the GPU, `paged_adamw_8bit` runs for real (CPU falls back to 8-bit AdamW), loss falls.
"""
import contextlib

import pytest
import torch

from dragoman.lm.chat import tokenize_text
from dragoman.train.finetune import apply_lora, rows_of
from dragoman.lm.models import load_model
from dragoman.train.packing import collate, pack
from dragoman.train.trainer import Trainer, TrainConfig, _loss_sum

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

TEXTS = ["مرحبا كيف حالك اليوم؟", "The quick brown fox jumps over the lazy dog.", "الكتاب على الطاولة.",
         "Hello, how are you today?", "ذهب الولد إلى المدرسة صباحا.", "Good morning, my friend."] * 6
NF4 = {"quant_type": "nf4", "double_quant": True, "compute_dtype": "bfloat16"}  # seed 000's quantization


def rows(tok, seq_len: int = 64):
    return rows_of([tokenize_text(tok, t) for t in TEXTS], seq_len, tok.pad_token_id, True)


def test_packed_logits_equal_unpacked_on_cuda(tiny_model):
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation="sdpa").cuda().eval()
    _, tok = load_model(str(tiny_model))
    examples = [tokenize_text(tok, t) for t in TEXTS[:4]]
    batch = collate(pack(examples, 64, tok.pad_token_id), packed=True)
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"].cuda(), position_ids=batch["position_ids"].cuda(),
                       use_cache=False).logits
        offset, row = 0, 0
        for ids, _ in examples:
            if offset + len(ids) > 64:
                row, offset = row + 1, 0
            alone = model(input_ids=torch.tensor([ids]).cuda(), use_cache=False).logits[0]
            torch.testing.assert_close(packed[row, offset:offset + len(ids)], alone, atol=1e-4, rtol=1e-4)
            offset += len(ids)


def test_trainer_runs_on_cuda_and_matches_cpu_step0(tiny_model):
    model, tok = load_model(str(tiny_model))
    model = apply_lora(model, {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]})
    train = rows(tok)
    dev = train[:4]
    with torch.no_grad():  # the CPU reference: fp32, the same loss the trainer's step-0 eval computes
        s, n = _loss_sum(model, collate(dev, True), contextlib.nullcontext, model.get_output_embeddings())
    cfg = TrainConfig(seq_len=64, batch_size=4, max_steps=4, lr=1e-2, eval_every=4, eval_rows=4, save_every=0, bf16=False)
    tr = Trainer(model, cfg, None)
    fit = tr.fit(train, dev)
    assert next(tr.unwrap().parameters()).device.type == "cuda"
    assert fit["history"][0]["eval_loss"] == pytest.approx(float(s) / n, rel=1e-4)
    assert fit["history"][-1]["eval_loss"] < fit["history"][0]["eval_loss"]


def test_qlora_nf4_with_paged_adamw_8bit_learns(tiny_model):
    model, tok = load_model(str(tiny_model), quantize_4bit=NF4)
    model = apply_lora(model, {"r": 8, "alpha": 32, "dropout": 0.05,
                               "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}, kbit=True)
    linear4bit = [m for m in model.modules() if type(m).__name__ == "Linear4bit"]
    assert linear4bit and all(m.weight.device.type == "cuda" for m in linear4bit)
    cfg = TrainConfig(seq_len=64, batch_size=4, max_steps=30, lr=2e-3, eval_every=30, eval_rows=4, save_every=0,
                      optimizer="paged_adamw_8bit", max_grad_norm=0.3)
    train = rows(tok)
    fit = Trainer(model, cfg, None).fit(train, train[:4])
    assert fit["optimizer"] == "paged_adamw_8bit"  # the real paged optimizer, no fallback on CUDA
    assert fit["history"][-1]["eval_loss"] < fit["history"][0]["eval_loss"]
