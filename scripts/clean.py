"""Stage `clean`: normalize, filter, language-ID and deduplicate the ingested records.

Inputs:  records (data/ingested/records.jsonl)
Outputs: clean (data/clean/records.jsonl), dropped (data/clean/dropped.jsonl: each dropped record + its reason),
         report (reports/clean.json: per source in / kept / dropped per reason; in = kept + dropped),
         perf (reports/clean.perf.json)
Params:  clean, languages
Debug:   python scripts/clean.py --input records=data/ingested/records.jsonl --output clean=/tmp/clean.jsonl \
             --output dropped=/tmp/dropped.jsonl --output report=/tmp/clean.json --keys clean,languages

Order of checks (the first failing one names the drop reason): too_short/too_long:<field>, copy,
length_ratio, script:<field>, langid:<field>, then dup_exact and dup_near against records kept earlier.
Records of official dev/test splits are deduplicated first, so a training copy of a test item is the one dropped.
"""

import logging
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import dragoman from this checkout

from tqdm import tqdm

from dragoman.workflow import io, stage
from dragoman.data import langid
from dragoman.data.dedup import NearDup, exact_key
from dragoman.workflow.ledger import Ledger
from dragoman.data.normalize import match_key, normalize, script_share
from dragoman.data.splits import record_texts

log = logging.getLogger("clean")


def normalized(rec: dict, ops: dict[str, dict]) -> dict:
    """A copy of `rec` with every text field normalized by its language's ops."""
    r = dict(rec)
    if r["kind"] == "parallel":
        r["texts"] = {lang: normalize(t, ops.get(lang)) for lang, t in r["texts"].items()}
        return r
    o = ops.get(r["lang"])
    if r["kind"] in ("text", "classification"):
        r["text"] = normalize(r["text"], o)
    elif r["kind"] == "instruction":
        r["messages"] = [{**m, "content": normalize(m["content"], o)} for m in r["messages"]]
    elif r["kind"] == "mcq":
        r["question"] = normalize(r["question"], o)
        r["choices"] = [normalize(c, o) for c in r["choices"]]
    return r


def checked_fields(rec: dict) -> list[tuple[str, str, str]]:
    """(field name, language, text) of the fields the filters judge. MCQ choices are exempt: "5" is a fine answer."""
    k = rec["kind"]
    if k == "parallel":
        return [(lang, lang, t) for lang, t in sorted(rec["texts"].items())]
    if k in ("text", "classification"):
        return [("text", rec["lang"], rec["text"])]
    if k == "instruction":
        return [(m["role"], rec["lang"], m["content"]) for m in rec["messages"]]
    return [("question", rec["lang"], rec["question"])]


def drop_reason(rec: dict, cfg: Any, langs: dict) -> str | None:
    """The first filter `rec` fails, or None. `cfg` is the stage's params accessor (clean.*)."""
    fields = checked_fields(rec)
    for name, _, text in fields:
        if len(text) < cfg["clean.min_chars"]:
            return f"too_short:{name}"
        if len(text) > cfg["clean.max_chars"]:
            return f"too_long:{name}"
    if rec["kind"] == "parallel":
        texts = list(rec["texts"].values())
        if len({match_key(t) for t in texts}) < len(texts):
            return "copy"
        lengths = [len(match_key(t)) for t in texts]  # diacritics would inflate fully vowelled Arabic
        if max(lengths) / max(1, min(lengths)) > cfg["clean.max_length_ratio"]:
            return "length_ratio"
    for name, lang, text in fields:
        script = langs["scripts"].get(lang)
        if script and script_share(text, script) < cfg["clean.min_script_share"]:
            return f"script:{name}"
    lid = cfg["clean.langid"]
    if lid["enabled"]:
        for name, lang, text in fields:
            if len(text) >= lid["min_chars"] and not langid.is_language(
                    text, langs["families"].get(lang, [lang]), lid["top_k"], lid["min_score"]):
                return f"langid:{name}"
    return None


def dedup_order(records: list[dict]) -> list[int]:
    """Indices with official eval splits first (they must survive), then input order."""
    return sorted(range(len(records)), key=lambda i: (records[i].get("split") not in ("dev", "test"), i))


def main(st: stage.Stage) -> None:
    langs, nd_cfg = st.params["languages"], st.params["clean.near_dup"]
    ops = st.params["clean.normalize"]
    ledger, kept, dropped = Ledger(), [], []
    for rec in tqdm(io.read_jsonl(st.input["records"]), desc="clean: filter", unit="rec", mininterval=2, disable=None):
        ledger.read(rec["source"])
        rec = normalized(rec, ops)
        reason = drop_reason(rec, st.params, langs)
        if reason:
            dropped.append((rec, reason))
        else:
            kept.append(rec)

    keep = [True] * len(kept)
    exact: set[tuple[str, str]] = set()
    near: dict[str, NearDup] = {}
    for i in tqdm(dedup_order(kept), desc="clean: dedup", unit="rec", mininterval=2, disable=None):
        rec = kept[i]
        texts = record_texts(rec)
        key = (rec["kind"], exact_key(texts))
        if key in exact:
            keep[i] = False
            dropped.append((rec, "dup_exact"))
            continue
        exact.add(key)
        if nd_cfg["enabled"]:
            if rec["kind"] not in near:
                near[rec["kind"]] = NearDup(nd_cfg["threshold"], nd_cfg["num_perm"], nd_cfg["shingle"])
            if near[rec["kind"]].seen("\n".join(texts)[:2000]) is not None:
                keep[i] = False
                dropped.append((rec, "dup_near"))

    out = [r for r, k in zip(kept, keep) if k]
    for r in out:
        ledger.keep(r["source"])
    for r, reason in dropped:
        ledger.drop(r["source"], reason)
    dropped.sort(key=lambda x: x[0]["id"])
    io.write_jsonl(st.output["dropped"], ({**r, "drop_reason": why} for r, why in dropped))
    io.write_jsonl(st.output["clean"], out)
    io.write_json(st.output["report"], ledger.report())
    st.perf["records_in"], st.perf["records_kept"] = sum(ledger.inn.values()), len(out)
    log.info("kept %d of %d records", len(out), sum(ledger.inn.values()))


if __name__ == "__main__":
    stage.run(main, globals())
