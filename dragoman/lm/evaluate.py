"""Log-likelihood evaluation: perplexity, multiple choice (lm-eval's acc / acc_norm), label classification,
and the text perturbations of the robustness checks.

Everything here is a forward pass, no generation: cheap enough to run on every model of the lineage.
"""
from __future__ import annotations

import math
import random
import re

import torch

from dragoman.lm.chat import render


def _batches(seqs: list[list[int]], batch_size: int):
    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))  # similar lengths share a batch
    for k in range(0, len(order), batch_size):
        yield order[k:k + batch_size]


@torch.no_grad()
def continuation_logprobs(model, pad_id: int, pairs: list[tuple[list[int], list[int]]], batch_size: int = 16,
                          bf16: bool = True) -> list[tuple[float, int]]:
    """[(sum log P(continuation | context), continuation length)] for (context ids, continuation ids) pairs."""
    seqs = [c + x for c, x in pairs]
    out: list[tuple[float, int]] = [(0.0, 0)] * len(pairs)
    for idx in _batches(seqs, batch_size):
        width = max(len(seqs[i]) for i in idx)
        ids = torch.tensor([seqs[i] + [pad_id] * (width - len(seqs[i])) for i in idx])
        mask = torch.tensor([[1] * len(seqs[i]) + [0] * (width - len(seqs[i])) for i in idx])
        with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits
        logp = torch.log_softmax(logits.float(), -1).cpu()
        for row, i in enumerate(idx):
            ctx, cont = pairs[i]
            pos = torch.arange(len(ctx) - 1, len(ctx) + len(cont) - 1)  # logits at t predict token t + 1
            out[i] = (float(logp[row, pos, torch.tensor(cont)].sum()), len(cont))
    return out


def perplexity(model, tok, texts: list[str], max_len: int, batch_size: int = 16, bf16: bool = True) -> dict:
    """Token-weighted perplexity: exp(total NLL / total tokens), each text cut to max_len tokens.

    The first token of each text is conditioned on BOS (or EOS when the tokenizer has no BOS), so every token
    of the text is scored.
    """
    start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    pairs = [([start], tok(t, add_special_tokens=False)["input_ids"][: max_len - 1]) for t in texts]
    pairs = [p for p in pairs if p[1]]
    chars = sum(len(tok.decode(ids)) for _, ids in pairs)
    scored = continuation_logprobs(model, tok.pad_token_id or 0, pairs, batch_size, bf16)
    nll, n = -sum(s for s, _ in scored), sum(k for _, k in scored)
    # nats per character compares texts that tokenize differently (perturbed vs original); ppl does not
    return {"ppl": round(math.exp(nll / n), 4) if n else None, "nll_per_char": round(nll / chars, 5) if chars else None,
            "tokens": n, "texts": len(pairs)}


def choose(model, tok, items: list[tuple[str, list[str]]], batch_size: int = 16, bf16: bool = True,
           delimiter: str = "") -> list[dict]:
    """For (context, choices): the log-likelihood pick (acc) and the per-character-normalized pick (acc_norm),
    as lm-eval scores multiple choice: each choice is scored as the continuation `delimiter + choice` of the
    context, and acc_norm divides by the length of the choice alone (lm-eval's target_delimiter and
    completion_len; tests/test_harness.py checks both item by item against lm-evaluation-harness)."""
    pairs, owner = [], []
    for k, (ctx, choices) in enumerate(items):
        c_ids = tok(ctx, add_special_tokens=False)["input_ids"]
        for ch in choices:
            pairs.append((c_ids, tok(delimiter + ch, add_special_tokens=False)["input_ids"] or [tok.eos_token_id]))
            owner.append(k)
    scored = continuation_logprobs(model, tok.pad_token_id or 0, pairs, batch_size, bf16)
    out, j = [], 0
    for ctx, choices in items:
        ll = [scored[j + c][0] for c in range(len(choices))]
        norm = [ll[c] / max(1, len(choices[c])) for c in range(len(choices))]
        out.append({"pick": max(range(len(ll)), key=ll.__getitem__),
                    "pick_norm": max(range(len(norm)), key=norm.__getitem__), "loglik": ll})
        j += len(choices)
    return out


def chat_context(tok, prompt: str) -> str:
    """A user turn rendered with the chat template, ready for the assistant's answer."""
    return render(tok, [{"role": "user", "content": prompt}], add_generation_prompt=True)


def accuracy_f1(gold: list[int], pred: list[int], n_classes: int) -> dict:
    """Accuracy and macro-F1 (classes absent from both gold and predictions are left out of the mean)."""
    acc = sum(g == p for g, p in zip(gold, pred)) / len(gold) if gold else 0.0
    f1s = []
    for c in range(n_classes):
        tp = sum(g == c and p == c for g, p in zip(gold, pred))
        fp = sum(g != c and p == c for g, p in zip(gold, pred))
        fn = sum(g == c and p != c for g, p in zip(gold, pred))
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    return {"accuracy": round(acc, 4), "macro_f1": round(sum(f1s) / len(f1s), 4) if f1s else 0.0, "n": len(gold)}


# ---------------------------------------------------------------- perturbations (robustness)
ARABIC_LETTER = re.compile(r"[\u0621-\u064A\u067E\u0686\u06A4\u06AF]")
ARABIC_MARK = re.compile(r"[\u064B-\u065F\u0670]")  # harakat, shadda, sukun, dagger alif
NO_JOIN_AFTER = set("ءآأؤإاةدذرزو")  # letters that never connect to the next one: tatweel after them is wrong


def insert_tatweel(text: str, rate: float, seed: int) -> str:
    """Insert ـ (U+0640) between two Arabic letters that join, after the first one's diacritics, with
    probability `rate` per joint (seeded)."""
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(text):
        j = i + 1
        while j < len(text) and ARABIC_MARK.match(text[j]):
            j += 1
        out.append(text[i:j])
        if (ARABIC_LETTER.match(text[i]) and text[i] not in NO_JOIN_AFTER and j < len(text)
                and ARABIC_LETTER.match(text[j]) and rng.random() < rate):
            out.append("\u0640")
        i = j
    return "".join(out)


def typos(text: str, rate: float, seed: int) -> str:
    """Seeded character typos: each letter with probability `rate` is deleted, doubled or swapped with the next."""
    rng = random.Random(seed)
    chars, out, i = list(text), [], 0
    while i < len(chars):
        c = chars[i]
        if c.isalpha() and rng.random() < rate:
            op = rng.randrange(3)
            if op == 0:
                i += 1
                continue
            if op == 1:
                out += [c, c]
                i += 1
                continue
            if i + 1 < len(chars):
                out += [chars[i + 1], c]
                i += 2
                continue
        out.append(c)
        i += 1
    return "".join(out)
