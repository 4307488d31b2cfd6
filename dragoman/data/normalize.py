"""Text normalization: Unicode-level (every language) and script-aware ops (chosen per language in params).

Defaults are lossless for training targets: NFC, drop invisible control/bidi marks, tidy whitespace.
Lossy ops (diacritics stripping, alef/ya unification) are opt-in per language; ة→ه is never done.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Callable

# Unicode ranges per script: the script-share filter counts a field's letters inside its language's script.
SCRIPTS: dict[str, str] = {
    "arabic": "\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF",
    "tibetan": "\u0F00-\u0FFF",
    "latin": "A-Za-z\u00C0-\u024F\u1E00-\u1EFF",
    "han": "\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF",
    "cyrillic": "\u0400-\u04FF",
    "devanagari": "\u0900-\u097F",
}

# Bidi controls and zero-width marks that change nothing visible but split tokens and defeat dedup.
_INVISIBLE = re.compile("[\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\u00ad]")
_CONTROL = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u3000]+")
_NEWLINES = re.compile(r"\s*\n\s*")

TATWEEL = "\u0640"
AR_DIACRITICS = re.compile("[\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06DC\u06DF-\u06E8\u06EA-\u06ED]")
_ALEF = re.compile("[\u0622\u0623\u0625\u0671]")  # آ أ إ ٱ -> ا
_YA = re.compile("\u0649")  # ى (alef maqsura) -> ي
TSHEG, SHAD = "\u0F0B", "\u0F0D"
_BO_NBSP_TSHEG = re.compile("\u0F0C")  # non-breaking tsheg -> tsheg
_BO_SPACE_BEFORE_PUNCT = re.compile("[ \u00a0]+([\u0F0B\u0F0D\u0F0E\u0F14])")
_BO_MULTI_TSHEG = re.compile("\u0F0B{2,}")


def unicode_clean(text: str) -> str:
    """NFC, drop control and bidi/zero-width characters, collapse runs of spaces, trim."""
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _SPACES.sub(" ", text)
    return _NEWLINES.sub("\n", text).strip()


def strip_tatweel(t: str) -> str:
    return t.replace(TATWEEL, "")


def strip_diacritics(t: str) -> str:
    return AR_DIACRITICS.sub("", t)


def unify_alef(t: str) -> str:
    return _ALEF.sub("\u0627", t)


def unify_ya(t: str) -> str:
    return _YA.sub("\u064A", t)


def tsheg_spacing(t: str) -> str:
    """Tibetan: non-breaking tsheg -> tsheg, no space before tsheg/shad, no doubled tsheg."""
    t = _BO_NBSP_TSHEG.sub(TSHEG, t)
    t = _BO_SPACE_BEFORE_PUNCT.sub(r"\1", t)
    return _BO_MULTI_TSHEG.sub(TSHEG, t)


OPS: dict[str, Callable[[str], str]] = {
    "strip_tatweel": strip_tatweel,
    "strip_diacritics": strip_diacritics,
    "unify_alef": unify_alef,
    "unify_ya": unify_ya,
    "tsheg_spacing": tsheg_spacing,
}


def normalize(text: str, ops: dict[str, bool] | None = None) -> str:
    """unicode_clean, then the enabled script ops in a fixed order (OPS order, not params order)."""
    text = unicode_clean(text)
    for name, fn in OPS.items():
        if ops and ops.get(name):
            text = fn(text)
    return text


def script_share(text: str, script: str) -> float:
    """Share of the letters of `text` that belong to `script` (1.0 when there are no letters)."""
    letters = [c for c in text if c.isalpha() or unicodedata.category(c).startswith("M")]
    if not letters:
        return 1.0
    inside = re.compile(f"[{SCRIPTS[script]}]")
    return sum(1 for c in letters if inside.match(c)) / len(letters)


_WORD_SPLIT = {"tibetan": re.compile(r"[\s\u0F0B-\u0F14]+")}
_DEFAULT_SPLIT = re.compile(r"\s+")


def words(text: str, script: str | None = None) -> list[str]:
    """Words for fertility and n-gram overlap: whitespace, or syllables (tsheg) for Tibetan."""
    return [w for w in _WORD_SPLIT.get(script or "", _DEFAULT_SPLIT).split(text) if w]


_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


def match_key(text: str) -> str:
    """Aggressive key for exact matching (dedup, decontamination): casefold, no diacritics/tatweel/punctuation."""
    t = strip_tatweel(strip_diacritics(unicode_clean(text))).casefold()
    return _PUNCT.sub(" ", t).strip()
