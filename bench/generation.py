"""Batched generation (the CPU backend of dragoman/lm/generate.py) vs one prompt at a time, same prompts and model.

    python bench/generation.py [--model models/base] [--n 32] [--batch 16] [--max-new-tokens 32]
    python bench/generation.py --fp8 models/teacher_fp8 --model models/teacher   # FP8 vs unquantized teacher

Prints new tokens/s of each and the ratio, measured in this one run on this machine. Greedy decoding with a
fixed number of new tokens (EOS disabled) so both sides produce exactly the same amount of text.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SENTENCES = ["The book is on the table.", "Where is the train station?", "I have two brothers and a sister.",
             "She reads the newspaper every morning.", "We arrived late because of the rain.",
             "Can you help me carry these boxes?", "The museum opens at nine o'clock.", "He forgot his keys again."]


def tokens_per_s(model_dir: str, n: int, batch: int, max_new: int) -> float:
    import torch

    from dragoman.lm.generate import GenConfig, Generator
    cfg = GenConfig(max_new_tokens=max_new, batch_size=batch, bf16=True, backend="hf")
    gen = Generator(model_dir, cfg, "bench", None, name=f"batch={batch}")
    gen.model.generation_config.eos_token_id = None  # same amount of text on both sides
    gen.stop_ids = lambda: [-1]
    prompt = "Translate the following English text into Arabic.\n\n{}"
    items = [(str(i), [{"role": "user", "content": prompt.format(SENTENCES[i % len(SENTENCES)] + f" ({i})")}])
             for i in range(n)]
    torch.manual_seed(0)
    gen.tokenizer, gen.model  # load before timing
    t0 = time.perf_counter()
    gen(items)
    return gen.new_tokens / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/base")
    ap.add_argument("--fp8", default=None, help="an FP8 checkpoint to compare with --model (batched, both)")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    a = ap.parse_args()
    if a.fp8:
        full = tokens_per_s(a.model, a.n, a.batch, a.max_new_tokens)
        fp8 = tokens_per_s(a.fp8, a.n, a.batch, a.max_new_tokens)
        print(json.dumps({"unquantized_tokens_per_s": round(full, 1), "fp8_tokens_per_s": round(fp8, 1),
                          "fp8_over_unquantized": round(fp8 / full, 2)}, indent=1))
        return
    batched = tokens_per_s(a.model, a.n, a.batch, a.max_new_tokens)
    single = tokens_per_s(a.model, a.n, 1, a.max_new_tokens)
    print(json.dumps({"n": a.n, "batch": a.batch, "batched_tokens_per_s": round(batched, 1),
                      "one_at_a_time_tokens_per_s": round(single, 1), "ratio": round(batched / single, 2)}, indent=1))


if __name__ == "__main__":
    main()
