"""Per-source record accounting: every record a stage reads is either kept or dropped with a reason.

The invariant in = kept + sum(dropped) is checked before the report is written; a stage that loses a record
without counting it fails instead of writing a report that lies.
"""
from __future__ import annotations

from collections import Counter, defaultdict


class Ledger:
    def __init__(self) -> None:
        self.inn: Counter = Counter()
        self.kept: Counter = Counter()
        self.dropped: dict[str, Counter] = defaultdict(Counter)

    def read(self, source: str, n: int = 1) -> None:
        self.inn[source] += n

    def keep(self, source: str, n: int = 1) -> None:
        self.kept[source] += n

    def drop(self, source: str, reason: str, n: int = 1) -> None:
        self.dropped[source][reason] += n

    def check(self) -> None:
        for s in sorted(set(self.inn) | set(self.kept) | set(self.dropped)):
            d = sum(self.dropped[s].values())
            if self.inn[s] != self.kept[s] + d:
                raise AssertionError(f"ledger for source '{s}': in={self.inn[s]} != kept={self.kept[s]} + dropped={d}")

    def report(self) -> dict:
        """{"sources": {name: {in, kept, dropped: {reason: n}}}, "total": {...}} with sorted keys."""
        self.check()
        sources = {}
        for s in sorted(self.inn):
            sources[s] = {"in": self.inn[s], "kept": self.kept[s], "dropped": dict(sorted(self.dropped[s].items()))}
        tot_drop: Counter = Counter()
        for c in self.dropped.values():
            tot_drop.update(c)
        total = {"in": sum(self.inn.values()), "kept": sum(self.kept.values()), "dropped": dict(sorted(tot_drop.items()))}
        return {"sources": sources, "total": total}
