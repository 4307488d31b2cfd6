"""Training mixtures built from the split records, with a table of what went in (rows and tokens per source).

CPT: target-language text + `replay_ratio` (share of tokens) of source-language text, against forgetting.
SFT: instruction-formatted rows from several generators (bilingual translation tasks from parallel pairs,
classification questions from labelled records, source-language instructions, and the translated
instructions of the translate-and-tune stages), each capped by its row count in params.
Everything is deterministic: generators walk records in file order, choices come from seeded RNGs.
"""
from __future__ import annotations

import random
from collections import defaultdict


def sample(records: list[dict], n: int, seed: int, keep_order: bool = True) -> list[dict]:
    """min(n, len) records drawn without replacement by a seeded RNG, in file order or in the drawn order."""
    idx = random.Random(seed).sample(range(len(records)), min(n, len(records)))
    return [records[i] for i in (sorted(idx) if keep_order else idx)]


def texts_in(rec: dict, lang: str) -> list[str]:
    """The texts of a record written in `lang`."""
    k = rec["kind"]
    if k == "parallel":
        return [t for l, t in sorted(rec["texts"].items()) if l == lang]
    if rec.get("lang") != lang:
        return []
    if k in ("text", "classification"):
        return [rec["text"]]
    if k == "instruction":
        return ["\n\n".join(m["content"] for m in rec["messages"])]
    if k == "mcq":
        return [rec["question"] + "\n" + "\n".join(rec["choices"])]
    return []


def cpt_documents(records: list[dict], target: str, source: str, replay_ratio: float,
                  count_tokens) -> tuple[list[tuple[str, str]], dict]:
    """[(source name, text)] and its table: all target text, then source text until it is `replay_ratio` of tokens."""
    docs: list[tuple[str, str]] = []
    table: dict = defaultdict(lambda: {"rows": 0, "tokens": 0, "lang": ""})

    def take(lang: str, budget: float) -> int:
        got = 0
        for r in records:
            if got >= budget:
                break
            for t in texts_in(r, lang):
                n = count_tokens(t)
                docs.append((r["source"], t))
                got += n
                row = table[f"{r['source']}:{lang}"]
                row["rows"], row["tokens"], row["lang"] = row["rows"] + 1, row["tokens"] + n, lang
        return got

    tgt_tokens = take(target, float("inf"))
    take(source, replay_ratio / (1 - replay_ratio) * tgt_tokens if replay_ratio < 1 else float("inf"))
    return docs, dict(sorted(table.items()))


def translation_tasks(records: list[dict], names: dict[str, str], template: str, limit: int,
                      seed: int) -> list[tuple[str, list[dict]]]:
    """One direction of each parallel pair, drawn by a seeded coin (so the rows cover both), up to `limit` rows."""
    rng = random.Random(seed)
    out = []
    for r in records:
        if r["kind"] != "parallel" or len(out) >= limit:
            continue
        a, b = sorted(r["texts"])
        src, tgt = (a, b) if rng.random() < 0.5 else (b, a)
        prompt = template.format(src=names.get(src, src), tgt=names.get(tgt, tgt), text=r["texts"][src])
        out.append((f"{r['source']}:translate", [{"role": "user", "content": prompt},
                                                  {"role": "assistant", "content": r["texts"][tgt]}]))
    return out


def classification_tasks(records: list[dict], tasks: dict[str, dict], limit: int,
                         seed: int) -> list[tuple[str, list[dict]]]:
    """One question per (record, label field) listed in `tasks`: {label: {prompt, labels: {value: verbalized}}}."""
    rng = random.Random(seed)
    out = []
    for r in records:
        if r["kind"] != "classification":
            continue
        for field, spec in sorted(tasks.items()):
            value = r["labels"].get(field)
            if value not in spec["labels"] or len(out) >= limit:
                continue
            options = list(spec["labels"].values())
            rng.shuffle(options)
            prompt = spec["prompt"].format(text=r["text"], options=", ".join(options))
            out.append((f"{r['source']}:{field}", [{"role": "user", "content": prompt},
                                                    {"role": "assistant", "content": spec["labels"][value]}]))
    return out


def instructions(records: list[dict], lang: str, limit: int) -> list[tuple[str, list[dict]]]:
    out = []
    for r in records:
        if r["kind"] == "instruction" and r["lang"] == lang and len(out) < limit:
            out.append((f"{r['source']}:instruction", r["messages"]))
    return out


def table_of(examples: list[tuple[str, object]], token_counts: list[int]) -> dict:
    table: dict = defaultdict(lambda: {"rows": 0, "tokens": 0})
    for (name, _), n in zip(examples, token_counts):
        table[name]["rows"] += 1
        table[name]["tokens"] += n
    return dict(sorted(table.items()))


def sft_mixture(records: list[dict], p: dict, langs: dict, translated: list[dict] = ()) -> list[tuple[str, list[dict]]]:
    """(source tag, messages) rows of every SFT generator, capped by `p["mixture"]`.

    Records are visited in a seeded order so every source gets its share of each cap; `translated` is the
    translated instruction corpus (data/instructions/train.jsonl), in the target language.
    """
    n = lambda key: p["mixture"][key]
    records = sample(records, len(records), p["seed"], keep_order=False)
    return (instructions(list(translated), langs["target"], n("translated_instructions"))
            + translation_tasks(records, langs["names"], p["translate_prompt"], n("translation"), p["seed"])
            + classification_tasks(records, p["classification_tasks"], n("classification"), p["seed"])
            + instructions(records, langs["source"], n("source_instructions")))
