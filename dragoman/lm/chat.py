"""Chat-template tokenization with prompt masking: loss only on the assistant's tokens.

The conversation is rendered once with the model's chat template and tokenized with offsets. Each assistant
turn's character span is found by rendering the prefix before it (with the generation prompt) and the prefix
including it; tokens starting inside a span carry loss, everything else gets -100. The end-of-turn marker
rendered after the content is part of the span, so the model learns to stop.
"""
from __future__ import annotations

from dragoman.train.packing import IGNORE


def render(tok, messages: list[dict], add_generation_prompt: bool = False) -> str:
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def assistant_spans(tok, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """(full rendered text, [(start, end) character span of each assistant turn])."""
    full = render(tok, messages)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        start = len(render(tok, messages[:i], add_generation_prompt=True))
        end = len(render(tok, messages[: i + 1]))
        if full[:end] != render(tok, messages[: i + 1]):
            raise ValueError("chat template is not prefix-consistent: cannot locate assistant turns")
        spans.append((start, end))
    return full, spans


def tokenize_chat(tok, messages: list[dict], max_len: int | None = None) -> tuple[list[int], list[int]]:
    """(input_ids, labels) with labels = -100 outside assistant turns; cut to max_len."""
    text, spans = assistant_spans(tok, messages)
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, labels = enc["input_ids"], []
    for tid, (s, _) in zip(ids, enc["offset_mapping"]):
        labels.append(tid if any(a <= s < b for a, b in spans) else IGNORE)
    if max_len:
        ids, labels = ids[:max_len], labels[:max_len]
    return ids, labels


def tokenize_text(tok, text: str) -> tuple[list[int], list[int]]:
    """CPT: every token carries loss; an EOS closes the document so packed documents stay separable."""
    ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    return ids, list(ids)
