"""Grouped hash splits and decontamination.

A record's split is a pure function of (seed, source, group key): all records of a group land together, so
duplicates sharing a key (one English sentence with many translations, one hadith, one document) never
straddle splits, and adding records never moves old ones.
"""
from __future__ import annotations

import hashlib

from dragoman.data.normalize import match_key

SPLITS = ("train", "dev", "test")


def hash_unit(seed: int, source: str, group: str) -> float:
    """Uniform in [0, 1), stable across machines and Python versions (sha256, not hash())."""
    h = hashlib.sha256(f"{seed}\x1f{source}\x1f{group}".encode("utf-8")).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def assign(seed: int, source: str, group: str, fractions: dict[str, float]) -> str:
    u = hash_unit(seed, source, group)
    test, dev = fractions.get("test", 0.0), fractions.get("dev", 0.0)
    if u < test:
        return "test"
    if u < test + dev:
        return "dev"
    return "train"


def record_texts(rec: dict) -> list[str]:
    """Every text field of a record, whatever its kind (what dedup and decontamination compare)."""
    kind = rec["kind"]
    if kind == "parallel":
        return [rec["texts"][k] for k in sorted(rec["texts"])]
    if kind in ("text", "classification"):
        return [rec["text"]]
    if kind == "instruction":
        return [m["content"] for m in rec["messages"]]
    if kind == "mcq":
        return [rec["question"], *rec["choices"]]
    raise ValueError(f"record {rec.get('id')}: unknown kind '{kind}'")


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


class Contamination:
    """Index of dev/test items: short ones by exact match key, long ones by word n-grams.

    `hit(texts)` names the eval source a training record overlaps, or None. A long field overlaps when more
    than `min_overlap` of its n-grams occur in eval items (0.0: any single shared n-gram).
    """

    def __init__(self, ngram: int, short_words: int, min_overlap: float = 0.0):
        self.n, self.short, self.min_overlap = ngram, short_words, min_overlap
        self.exact: dict[str, str] = {}
        self.grams: dict[tuple[str, ...], str] = {}

    def add(self, texts: list[str], source: str) -> None:
        for t in texts:
            key = match_key(t)
            words = key.split()
            if not words:
                continue
            if len(words) < max(self.short, self.n):
                self.exact.setdefault(key, source)
            else:
                for g in _ngrams(words, self.n):
                    self.grams.setdefault(g, source)

    def hit(self, texts: list[str]) -> str | None:
        for t in texts:
            key = match_key(t)
            if key in self.exact:
                return self.exact[key]
            words = key.split()
            if len(words) >= self.n and self.grams:
                grams = _ngrams(words, self.n)
                hits = [self.grams[g] for g in grams if g in self.grams]
                # formulaic text (a hadith's chain of narrators) shares a few n-grams with everything:
                # min_overlap > 0 asks for a share of the record's n-grams, not just one
                if hits and len(hits) / len(grams) > self.min_overlap:
                    return min(hits)
        return None
