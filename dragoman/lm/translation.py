"""Translation helpers shared by the translate-and-tune stages and `metrics`: prompts, source cutting, scoring.

Scoring is sacrebleu's BLEU, chrF and chrF++ with their signatures. BLEU's default `13a` tokenizer splits at
spaces and punctuation; scripts written without spaces between words (Tibetan, Chinese, Japanese, Thai) get
`tokenize="char"` instead, recorded in the signature. (`flores200` would need a SentencePiece model download.)
"""
from __future__ import annotations

import re

SPACELESS_SCRIPTS = {"tibetan", "han", "japanese", "thai", "lao", "khmer", "myanmar"}
SENTENCE_END = re.compile(r"(?<=[.!?؟۔།])\s+|\n+")


def messages(template: str, text: str, src: str, tgt: str, names: dict[str, str]) -> list[dict]:
    """A one-turn chat asking to translate `text` from `src` into `tgt` (language codes, named by `names`)."""
    return [{"role": "user", "content": template.format(src=names.get(src, src), tgt=names.get(tgt, tgt), text=text)}]


def cut_at_sentence(text: str, max_tokens: int, count_tokens) -> tuple[str, str]:
    """(prefix, how): the longest run of whole sentences within `max_tokens` tokens.

    how = "whole" (nothing cut), "sentence" (cut at a sentence boundary) or "words" (the first sentence alone is
    too long: cut at the last word boundary that fits, so the translator still gets a clean prefix).
    """
    if count_tokens(text) <= max_tokens:
        return text, "whole"
    out = ""
    for sent in (s for s in SENTENCE_END.split(text) if s.strip()):
        cand = f"{out} {sent}".strip() if out else sent.strip()
        if count_tokens(cand) > max_tokens:
            break
        out = cand
    if out:
        return out, "sentence"
    words = text.split()
    lo, hi = 0, len(words)
    while lo < hi:  # binary search on the number of words that fit
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if count_tokens(" ".join(words[:mid])) <= max_tokens else (lo, mid - 1)
    return " ".join(words[:lo]), "words"


def trim_to_source(output: str, source: str) -> tuple[str, bool]:
    """(output, trimmed): keep no more lines and sentences than the source has.

    Small models that miss the end of turn go on after the translation (a second paraphrase, a new question);
    cutting the output to the source's line and sentence count removes that continuation. Used where data is
    made (pairs, instructions), never on evaluation hypotheses.
    """
    lines = output.split("\n")
    n_lines = source.count("\n") + 1
    text = "\n".join(lines[:n_lines]).strip()
    n_sent = len([x for x in SENTENCE_END.split(source) if x.strip()])
    parts = re.split(r"(?<=[.!?؟۔།])\s+", text)
    if len(parts) > n_sent:
        text = " ".join(parts[:n_sent]).strip()
    return text, text != output.strip()


def bleu_tokenizer(script: str) -> str:
    return "char" if script in SPACELESS_SCRIPTS else "13a"


def score(hyps: list[str], refs: list[str], script: str) -> dict:
    """BLEU / chrF / chrF++ of hypotheses against one reference each, with sacrebleu signatures."""
    from sacrebleu.metrics import BLEU, CHRF
    if not hyps:
        return {"n": 0}
    bleu, chrf, chrfpp = BLEU(tokenize=bleu_tokenizer(script)), CHRF(), CHRF(word_order=2)
    out = {"n": len(hyps)}
    for name, metric in (("bleu", bleu), ("chrf", chrf), ("chrf++", chrfpp)):
        out[name] = round(metric.corpus_score(hyps, [refs]).score, 4)
        out[f"{name}_signature"] = str(metric.get_signature())
    return out
