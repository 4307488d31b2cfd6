"""What the training stages share around the loop: model + adapter setup, rows, scratch key, outputs."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from dragoman import io
from dragoman.chat import tokenize_chat
from dragoman.mixture import sft_mixture, table_of
from dragoman.packing import IGNORE, Row, pad, pack
from dragoman.scratch import scratch_dir, scratch_key

log = logging.getLogger("dragoman.finetune")


def load_tokenizer(path: str):
    """The tokenizer of a folder (or hub id), padding with EOS where it names no pad token."""
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(path: str, quantize_4bit: dict | None = None):
    """Tokenizer and model from a folder; `quantize_4bit` = bitsandbytes NF4 settings for QLoRA."""
    from transformers import AutoModelForCausalLM
    tok = load_tokenizer(path)
    kw: dict[str, Any] = {"dtype": torch.float32}
    if quantize_4bit is not None:
        from transformers import BitsAndBytesConfig
        kw["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type=quantize_4bit["quant_type"],
            bnb_4bit_use_double_quant=quantize_4bit["double_quant"],
            bnb_4bit_compute_dtype=getattr(torch, quantize_4bit["compute_dtype"]))
        kw["device_map"] = {"": 0} if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(path, **kw)
    return model, tok


def apply_lora(model, lora: dict, kbit: bool = False, seed: int = 0):
    """peft LoRA with the params' r / alpha / dropout / target modules (and modules_to_save, e.g. embeddings).

    Seeded: LoRA's A matrices are drawn from the global torch RNG, and B = 0 hides an unseeded draw until step 2.
    """
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    torch.manual_seed(seed)
    if kbit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    cfg = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                     target_modules=list(lora["target_modules"]), modules_to_save=list(lora.get("modules_to_save") or []) or None,
                     task_type="CAUSAL_LM")
    return get_peft_model(model, cfg)


def with_answers(tokenized: list[tuple[list[int], list[int]]], tags: list[str]) -> tuple[list, list, dict]:
    """Drop examples whose answer was cut away entirely (prompt >= seq_len): they would train nothing.

    Returns the kept examples, their tags, and {tag: dropped count} for the stage report.
    """
    kept, kept_tags, dropped = [], [], {}
    for ex, tag in zip(tokenized, tags):
        if any(l != IGNORE for l in ex[1]):
            kept.append(ex)
            kept_tags.append(tag)
        else:
            dropped[tag] = dropped.get(tag, 0) + 1
    return kept, kept_tags, dict(sorted(dropped.items()))


def sft_rows(tok, train: list[dict], dev: list[dict], p: dict, langs: dict, seq_len: int,
             packing: bool, translated: list[dict] = ()) -> tuple[list[Row], list[Row], dict]:
    """Train and dev rows of the SFT mixture (examples without answer tokens dropped) and the report's fields."""
    examples = sft_mixture(train, p, langs, translated)
    tokenized, tags, no_answer = with_answers([tokenize_chat(tok, m, seq_len) for _, m in examples],
                                              [t for t, _ in examples])
    table = table_of([(t, None) for t in tags], [sum(1 for l in labels if l != IGNORE) for _, labels in tokenized])
    train_rows = rows_of(tokenized, seq_len, tok.pad_token_id, packing)
    dev_examples = sft_mixture(dev, p, langs)  # eval_rows caps what is evaluated
    dev_tok, _, _ = with_answers([tokenize_chat(tok, m, seq_len) for _, m in dev_examples], [t for t, _ in dev_examples])
    dev_rows = rows_of(dev_tok, seq_len, tok.pad_token_id, True)
    return train_rows, dev_rows, {"examples": len(examples), "dropped_no_answer_tokens": no_answer,
                                  "train_rows": len(train_rows), "mixture": table}


def translated(st) -> list[dict]:
    """The translated instruction corpus, when the rule passes one (sft.mixture.translated_instructions > 0)."""
    path = st.input.get("instructions")
    return list(io.read_jsonl(path)) if path else []


def rows_of(examples: list[tuple[list[int], list[int]]], seq_len: int, pad_id: int, packing: bool) -> list[Row]:
    return pack(examples, seq_len, pad_id) if packing else pad(examples, seq_len, pad_id)


def scratch_for(stage: str, inputs: list[str], params: dict, code: list[str]) -> Path:
    return scratch_dir(stage, scratch_key(inputs, params, code))


def finish(scratch: Path) -> None:
    """Outputs are written: the resume state has served its purpose (a forced rerun trains from scratch)."""
    import shutil
    shutil.rmtree(scratch, ignore_errors=True)


def count_params(model) -> dict:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}


def save_model(model, tok, out: str, init: str) -> None:
    """A Hugging Face folder with full weights (what the next stage loads), plus `adapter/` for LoRA.

    A LoRA adapter is merged into the fp32 weights reloaded from `init`, not into the training copy, whose frozen
    weights are 4-bit under QLoRA: the merged model loses nothing to the training precision.
    """
    from peft import PeftModel
    with io.atomic_path(out) as tmp:
        if hasattr(model, "peft_config"):
            model.save_pretrained(tmp / "adapter")
            base, _ = load_model(init)
            model = PeftModel.from_pretrained(base, tmp / "adapter").merge_and_unload()
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)


def write_live(history: list[dict], live_dir: str, timings: list[dict] = ()) -> None:
    """Curves through DVCLive, written once from the (resumable) history, so `dvc plots show` draws them.

    `timings` (tokens/s, memory per step) go here and only here: the live folder is not a cached artifact.
    """
    from dvclive import Live
    with io.atomic_path(live_dir) as tmp:
        with Live(str(tmp), save_dvc_exp=False, dvcyaml=None, report=None) as live:
            for h in history:
                live.step = h["step"]
                for k in ("loss", "lr", "grad_norm", "eval_loss"):
                    if k in h:
                        live.log_metric(("eval/" if k == "eval_loss" else "train/") + k, h[k], plot=True)
            for t in timings:
                live.step = t["step"]
                live.log_metric("perf/tokens_per_s", t["tokens_per_s"], plot=True)
                live.log_metric("perf/rss_mb", t["rss_mb"], plot=True)


def summary(result: dict) -> dict:
    h = result["history"]
    evals = [x for x in h if "eval_loss" in x]
    train = [x for x in h if "loss" in x]
    return {"steps": result["steps"], "tokens_seen": result["tokens_seen"], "optimizer": result["optimizer"],
            "processes": result["processes"], "eval_loss_step0": round(evals[0]["eval_loss"], 5),
            "eval_loss_final": round(evals[-1]["eval_loss"], 5),
            "train_loss_first": round(train[0]["loss"], 5) if train else None,
            "train_loss_final": round(train[-1]["loss"], 5) if train else None}
