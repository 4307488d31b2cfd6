"""Stage `splits`: train/dev/test by official split or grouped hash, then decontaminate training data.

Inputs:  clean (data/clean/records.jsonl)
Outputs: train, dev, test (data/splits/{train,dev,test}.jsonl), dropped (data/splits/dropped.jsonl),
         report (reports/splits.json: per source the records per split, and decontamination drops per
         eval source; in = kept + dropped), perf (reports/splits.perf.json)
Params:  splits, sources
Debug:   python scripts/splits.py --input clean=data/clean/records.jsonl --output train=/tmp/train.jsonl \
             --output dev=/tmp/dev.jsonl --output test=/tmp/test.jsonl --output dropped=/tmp/dropped.jsonl \
             --output report=/tmp/splits.json --keys splits,sources

A source with `split:` keeps its official split; others are hashed by (seed, source, group key) with the
source's `fractions` or the default ones. No training record may contain a dev/test item: short items are
matched exactly after normalization, long ones by word n-gram overlap (`splits.decontam`).
"""

import logging
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import dragoman from this checkout

from dragoman.workflow import io, stage
from dragoman.workflow.ledger import Ledger
from dragoman.data.splits import SPLITS, Contamination, assign, record_texts

log = logging.getLogger("splits")


def split_of(rec: dict, sources: dict, seed: int, default_fractions: dict) -> str:
    if rec.get("split"):
        return rec["split"]
    src = sources.get(rec["source"], {})
    return assign(seed, rec["source"], rec["group"], src.get("fractions", default_fractions))


def main(st: stage.Stage) -> None:
    sources, seed = st.params["sources"], st.params["splits.seed"]
    fractions, dc = st.params["splits.fractions"], st.params["splits.decontam"]
    parts: dict[str, list[dict]] = defaultdict(list)
    ledger = Ledger()
    for rec in io.read_jsonl(st.input["clean"]):
        ledger.read(rec["source"])
        rec = {**rec, "split": split_of(rec, sources, seed, fractions)}
        parts[rec["split"]].append(rec)

    index = Contamination(dc["ngram"], dc["short_words"], dc["min_overlap"])
    for name in ("dev", "test"):
        for rec in parts[name]:
            index.add(record_texts(rec), rec["source"])
    train, dropped = [], []
    for rec in parts["train"]:
        hit = index.hit(record_texts(rec))
        if hit:
            dropped.append({**rec, "drop_reason": f"decontam:{hit}"})
            ledger.drop(rec["source"], f"decontam:{hit}")
        else:
            train.append(rec)
    parts["train"] = train

    per_split: dict[str, Counter] = defaultdict(Counter)
    for name in SPLITS:
        for rec in parts[name]:
            ledger.keep(rec["source"])
            per_split[rec["source"]][name] += 1
        io.write_jsonl(st.output[name], parts[name])
    io.write_jsonl(st.output["dropped"], dropped)
    report = ledger.report()
    for src, counts in per_split.items():
        report["sources"][src]["splits"] = {s: counts[s] for s in SPLITS}
    report["total"]["splits"] = {s: len(parts[s]) for s in SPLITS}
    io.write_json(st.output["report"], report)
    st.perf.update({f"records_{s}": len(parts[s]) for s in SPLITS})
    log.info("train %d, dev %d, test %d, decontaminated %d", *(len(parts[s]) for s in SPLITS), len(dropped))


if __name__ == "__main__":
    stage.run(main, globals())
