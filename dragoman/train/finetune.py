"""What goes into a training stage's loop: the LoRA wrapper and the training rows (chat examples, the SFT mixture).

The loop itself is dragoman/train/trainer.py; what happens around it (scratch, save, curves) is recipe.py.
"""
from __future__ import annotations

import torch

from dragoman.lm.chat import tokenize_chat
from dragoman.train.mixture import sft_mixture, table_of
from dragoman.train.packing import IGNORE, Row, pad, pack
from dragoman.workflow import io


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


def chat_rows(tok, examples: list[tuple[str, list[dict]]], seq_len: int, packing: bool) -> tuple[list[Row], dict, dict]:
    """(rows, mixture table, {tag: dropped}) of tagged chat examples: loss on assistant tokens, examples left
    without any answer token dropped and counted, then packed (or padded) into `seq_len` rows."""
    tokenized, tags, dropped = with_answers([tokenize_chat(tok, m, seq_len) for _, m in examples],
                                            [t for t, _ in examples])
    table = table_of([(t, None) for t in tags], [sum(1 for l in labels if l != IGNORE) for _, labels in tokenized])
    return rows_of(tokenized, seq_len, tok.pad_token_id, packing), table, dropped


def sft_rows(tok, train: list[dict], dev: list[dict], p: dict, langs: dict, seq_len: int,
             packing: bool, translated: list[dict] = ()) -> tuple[list[Row], list[Row], dict]:
    """Train and dev rows of the SFT mixture (examples without answer tokens dropped) and the report's fields."""
    examples = sft_mixture(train, p, langs, translated)
    train_rows, table, no_answer = chat_rows(tok, examples, seq_len, packing)
    dev_rows, _, _ = chat_rows(tok, sft_mixture(dev, p, langs), seq_len, True)  # eval_rows caps what is evaluated
    return train_rows, dev_rows, {"examples": len(examples), "dropped_no_answer_tokens": no_answer,
                                  "mixture": table}


def translated(st) -> list[dict]:
    """The translated instruction corpus, when the rule passes one (sft.mixture.translated_instructions > 0)."""
    path = st.input.get("instructions")
    return list(io.read_jsonl(path)) if path else []


def rows_of(examples: list[tuple[list[int], list[int]]], seq_len: int, pad_id: int, packing: bool) -> list[Row]:
    return pack(examples, seq_len, pad_id) if packing else pad(examples, seq_len, pad_id)
