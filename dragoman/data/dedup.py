"""Exact and near-duplicate detection. The first record seen wins, so callers order records by priority."""
from __future__ import annotations

import hashlib
import struct

from datasketch import MinHash, MinHashLSH

from dragoman.data.normalize import match_key


def exact_key(texts: list[str]) -> str:
    """Hash of the match keys of all of a record's texts (casefold, no punctuation or diacritics)."""
    return hashlib.sha1("\x1f".join(match_key(t) for t in texts).encode("utf-8")).hexdigest()


def _hash32(s: bytes) -> int:
    return struct.unpack("<I", hashlib.blake2b(s, digest_size=4).digest())[0]


def shingles(text: str, n: int) -> set[bytes]:
    """Character n-grams of the match key: script-agnostic (works for Tibetan, which has no spaces)."""
    t = match_key(text)
    if len(t) <= n:
        return {t.encode("utf-8")} if t else set()
    return {t[i:i + n].encode("utf-8") for i in range(len(t) - n + 1)}


class NearDup:
    """MinHash-LSH index: `seen(text)` is True when a Jaccard-similar text was added before, else adds it."""

    def __init__(self, threshold: float, num_perm: int, shingle: int, seed: int = 1):
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.num_perm, self.n, self.seed, self.count = num_perm, shingle, seed, 0
        proto = MinHash(num_perm=num_perm, seed=seed)  # permutations drawn once, shared by every MinHash
        self.perms, self.scheme = proto.permutations, proto.scheme

    def minhash(self, text: str) -> MinHash:
        # blake2b-32 of each shingle, then datasketch's vectorised permutations: deterministic across runs
        m = MinHash(num_perm=self.num_perm, seed=self.seed, hashfunc=_hash32, permutations=self.perms,
                    scheme=self.scheme)
        sh = shingles(text, self.n)
        if sh:
            m.update_batch(list(sh))
        return m

    def seen(self, text: str) -> str | None:
        """Key of an earlier near-duplicate, or None (then `text` is indexed)."""
        m = self.minhash(text)
        hits = self.lsh.query(m)
        if hits:
            return min(hits)
        key = f"{self.count:09d}"
        self.lsh.insert(key, m)
        self.count += 1
        return None

