"""Stage `fertility`: how many tokens the base tokenizer spends per word and per character, per language.

Inputs:  model (models/base: only its tokenizer is read), dev (data/splits/dev.jsonl)
Outputs: report (reports/fertility.json), perf (reports/fertility.perf.json)
Params:  fertility, languages
Debug:   python scripts/fertility.py --input model=models/base --input dev=data/splits/dev.jsonl \
             --output report=/tmp/fertility.json --keys fertility,languages

For the target and the source language: tokens/word (words split by whitespace, or by tsheg syllables for
Tibetan), tokens/character, and the share of tokens that are not whole characters (byte-level pieces, which
decode alone to U+FFFD). Each `fertility.variants` entry re-measures the target text after normalization ops
(e.g. Arabic without diacritics). SmolLM2's tokenizer: ~4 tokens/word on vowelled Arabic, ~1.2 on English.
"""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import dragoman from this checkout

from dragoman.workflow import io, stage
from dragoman.train.mixture import texts_in
from dragoman.data.normalize import normalize, words

log = logging.getLogger("fertility")


def texts_for(records: list[dict], lang: str, limit: int) -> list[str]:
    """Up to `limit` texts in `lang`, from every kind of record, in file order."""
    out: list[str] = []
    for r in records:
        out += texts_in(r, lang)
        if len(out) >= limit:
            break
    return out[:limit]


def measure(tok, texts: list[str], script: str | None) -> dict:
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    n_tok = sum(len(x) for x in ids)
    n_words = sum(len(words(t, script)) for t in texts)
    n_chars = sum(len(t) for t in texts)
    pieces = {i for x in ids for i in x}
    byte_ids = {i for i in pieces if "\ufffd" in tok.decode([i])}
    n_byte = sum(1 for x in ids for i in x if i in byte_ids)
    return {"texts": len(texts), "tokens": n_tok, "words": n_words, "chars": n_chars,
            "tokens_per_word": round(n_tok / max(1, n_words), 4), "tokens_per_char": round(n_tok / max(1, n_chars), 4),
            "byte_piece_share": round(n_byte / max(1, n_tok), 4)}


def main(st: stage.Stage) -> None:
    from transformers import AutoTokenizer

    langs, limit = st.params["languages"], st.params["fertility.max_records"]
    tok = AutoTokenizer.from_pretrained(st.input["model"])
    records = list(io.read_jsonl(st.input["dev"]))
    report: dict = {"tokenizer_vocab": len(tok), "languages": {}}
    for role in ("target", "source"):
        lang = langs[role]
        texts = texts_for(records, lang, limit)
        if not texts:
            raise ValueError(f"{st.input['dev']}: no {role}-language ('{lang}') text to measure; "
                             f"check languages.{role} and the sources")
        entry = {"role": role, **measure(tok, texts, langs["scripts"].get(lang))}
        if role == "target":
            entry["variants"] = {name: measure(tok, [normalize(t, ops) for t in texts], langs["scripts"].get(lang))
                                 for name, ops in st.params["fertility.variants"].items()}
        report["languages"][lang] = entry
        log.info("%s (%s): %.2f tokens/word, %.2f tokens/char", lang, role, entry["tokens_per_word"], entry["tokens_per_char"])
    t, s = report["languages"][langs["target"]], report["languages"][langs["source"]]
    report["target_vs_source_tokens_per_word"] = round(t["tokens_per_word"] / max(1e-9, s["tokens_per_word"]), 3)
    io.write_json(st.output["report"], report)


if __name__ == "__main__":
    stage.run(main, globals())
