"""Judging translation pairs: cheap heuristics, dual conditional cross-entropy, or an LLM judge.

- `heuristic_reason`: empty, untranslated copy, length ratio, script share, language ID. Always runs first.
- `xent` (Junczys-Dowmunt 2018, "Dual conditional cross-entropy filtering"): H_fwd = -1/|y| log P(y|x) and
  H_bwd = -1/|x| log P(x|y) under the teacher (per-token normalised, translation prompt both ways);
  score = |H_fwd - H_bwd| + (H_fwd + H_bwd) / 2. Lower is better: both directions likely, and agreeing.
- `llm`: a judge model's log P(ACCEPT) - log P(REJECT) for the first answer token after a strict bilingual
  prompt (Hala used Qwen2.5-3B-Instruct); accepted when > 0. Decided by comparing the two, so no third answer.
"""
from __future__ import annotations

import torch

from dragoman.data import langid
from dragoman.lm.chat import render, tokenize_chat
from dragoman.data.normalize import match_key, script_share
from dragoman.train.packing import IGNORE

LLM_PROMPT = ("You are a strict bilingual judge. Does the {tgt} text translate the {src} text completely and "
              "faithfully? Answer with exactly one word, ACCEPT or REJECT.\n\n{src}: {source}\n\n{tgt}: {target}")


def heuristic_reason(src: str, tgt: str, tgt_lang: str, langs: dict, p: dict) -> str | None:
    """Why the pair (src text, tgt text in `tgt_lang`) fails the cheap checks, or None if it passes."""
    if not src.strip() or not tgt.strip():
        return "empty"
    if match_key(src) == match_key(tgt):
        return "copy"
    ls, lt = len(match_key(src)), len(match_key(tgt))  # as `clean` measures: diacritics would inflate vowelled text
    ratio = max(ls, lt) / max(1, min(ls, lt))
    if ratio > p["max_length_ratio"]:
        return "length_ratio"
    script = langs["scripts"].get(tgt_lang)
    if script and script_share(tgt, script) < p["min_script_share"]:
        return "script"
    if len(tgt) >= p["langid_min_chars"] and langid.family_score(tgt, langs["families"][tgt_lang]) < p["langid_min_score"]:
        return "langid"
    return None


def dual_xent_score(h_fwd: float, h_bwd: float) -> float:
    return abs(h_fwd - h_bwd) + 0.5 * (h_fwd + h_bwd)


@torch.no_grad()
def answer_xent(model, tok, conversations: list[list[dict]], max_len: int, batch_size: int = 16) -> list[float]:
    """Per-token mean cross-entropy (nats) of each conversation's assistant turn given its prompt."""
    examples = [tokenize_chat(tok, m, max_len) for m in conversations]
    out: list[float] = []
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    for i in range(0, len(examples), batch_size):
        chunk = examples[i:i + batch_size]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.tensor([x + [pad] * (width - len(x)) for x, _ in chunk])
        labels = torch.tensor([y + [IGNORE] * (width - len(y)) for _, y in chunk])
        mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x, _ in chunk])
        logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits.float().cpu()
        nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), labels[:, 1:], ignore_index=IGNORE,
                                                reduction="none")
        n = (labels[:, 1:] != IGNORE).sum(1)
        out += [float(s / c) if c else float("nan") for s, c in zip(nll.sum(1), n)]
    return out


def xent_scores(model, tok, pairs: list[tuple[str, str, str, str]], template: str, names: dict, max_len: int,
                batch_size: int = 16) -> list[dict]:
    """[{h_fwd, h_bwd, score}] for pairs (src_lang, src_text, tgt_lang, tgt_text)."""
    def conv(a_lang, a, b_lang, b):
        prompt = template.format(src=names.get(a_lang, a_lang), tgt=names.get(b_lang, b_lang), text=a)
        return [{"role": "user", "content": prompt}, {"role": "assistant", "content": b}]
    fwd = answer_xent(model, tok, [conv(*p) for p in pairs], max_len, batch_size)
    bwd = answer_xent(model, tok, [conv(p[2], p[3], p[0], p[1]) for p in pairs], max_len, batch_size)
    return [{"h_fwd": round(f, 5), "h_bwd": round(b, 5), "score": round(dual_xent_score(f, b), 5)}
            for f, b in zip(fwd, bwd)]


@torch.no_grad()
def llm_scores(model, tok, pairs: list[tuple[str, str, str, str]], names: dict, batch_size: int = 8) -> list[float]:
    """log P(ACCEPT) - log P(REJECT) of the judge's first answer token, one per pair."""
    accept = tok("ACCEPT", add_special_tokens=False)["input_ids"][0]
    reject = tok("REJECT", add_special_tokens=False)["input_ids"][0]
    if accept == reject:
        raise ValueError("the judge tokenizer gives ACCEPT and REJECT the same first token: pick another judge")
    prompts = [render(tok, [{"role": "user", "content": LLM_PROMPT.format(
        src=names.get(a, a), tgt=names.get(b, b), source=x, target=y)}], add_generation_prompt=True)
        for a, x, b, y in pairs]
    out: list[float] = []
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    for i in range(0, len(prompts), batch_size):
        enc = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts[i:i + batch_size]]
        width = max(map(len, enc))
        ids = torch.tensor([[pad] * (width - len(e)) + e for e in enc])  # left padding: last position = next token
        mask = torch.tensor([[0] * (width - len(e)) + [1] * len(e) for e in enc])
        pos = (mask.cumsum(1) - 1).clamp(min=0)  # positions count real tokens only, as generate() does
        logp = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device),
                     position_ids=pos.to(model.device)).logits[:, -1].float()
        logp = torch.log_softmax(logp, -1).cpu()
        out += [float(r[accept] - r[reject]) for r in logp]
    return out
