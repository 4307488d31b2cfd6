"""Stage `instructions`: the translator turns source-language instructions into the translated SFT corpus.

Inputs:  model (models/translator), train (data/splits/train.jsonl)
Outputs: corpus (data/instructions/train.jsonl: messages-format records in the target language),
         report (reports/instructions.json: ledger with drop reasons, back-translation chrF), perf
Params:  instructions, translator.prompt, languages
Debug:   python scripts/instructions.py --input model=models/translator --input train=data/splits/train.jsonl \
             --output corpus=/tmp/instr.jsonl --output report=/tmp/instr.json \
             --keys instructions,translator.prompt,languages

`instructions.n` source-language instructions (seeded sample; fields cut at a sentence boundary under
`max_source_tokens`) are translated field by field; `trim_to_source` cuts each output to the source's
lines and sentences (small models run on past the translation). Quality filters per field: truncated by max_new_tokens
(unless `keep_truncated`; kept ones are flagged `truncated` and counted), empty, untranslated copy, length ratio, script share, language ID — each drop counted by reason. A sample of
`backtranslation_sample` kept responses is translated back; its chrF against the source is a cheap,
reference-free quality signal. Generation is cached in .scratch/instructions/<key> (kill-safe).
"""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import dragoman from this checkout

from dragoman.workflow import io, scratch as S, stage
from dragoman.lm import judge, translation
from dragoman.lm.generate import GenConfig, Generator
from dragoman.workflow.ledger import Ledger
from dragoman.train.mixture import sample

log = logging.getLogger("instructions")
FIELDS = (("user", "instruction"), ("assistant", "response"))


def source_fields(records: list[dict], max_tokens: int, count) -> tuple[dict, dict]:
    """{(id, field): cut source text} and {how cut: n} for each record's user and assistant turns."""
    parts, cuts = {}, {}
    for r in records:
        for role, field in FIELDS:
            text = next((m["content"] for m in r["messages"] if m["role"] == role), "")
            parts[(r["id"], field)], how = translation.cut_at_sentence(text, max_tokens, count)
            cuts[how] = cuts.get(how, 0) + 1
    return parts, dict(sorted(cuts.items()))


def translated_record(r: dict, parts: dict, outs: dict, tgt: str, langs: dict, p: dict) -> tuple[dict | None, str]:
    """(corpus record, "") or (None, drop reason) for one instruction."""
    messages = []
    for role, field in FIELDS:
        out = outs.get(f"{r['id']}|{field}")
        if out is None:
            return None, f"empty:{field}"
        if out.truncated and not p["keep_truncated"]:
            return None, f"truncated:{field}"
        source = parts[(r["id"], field)]
        hyp = translation.trim_to_source(out.text, source)[0] if p["trim_to_source"] else out.text
        failed = judge.heuristic_reason(source, hyp, tgt, langs, p["filters"])
        if failed:
            return None, f"{failed}:{field}"
        messages.append({"role": role, "content": hyp})
    truncated = any(outs[f"{r['id']}|{f}"].truncated for _, f in FIELDS)
    return {"id": f"translated:{r['id']}", "kind": "instruction", "lang": tgt, "source": "translated",
            "origin": r["id"], "truncated": truncated, "messages": messages}, ""


def main(st: stage.Stage) -> None:
    p, langs, prompt = st.params["instructions"], st.params["languages"], st.params["translator.prompt"]
    src, tgt = langs["source"], langs["target"]
    scratch = S.for_stage(st)
    train = [r for r in io.read_jsonl(st.input["train"]) if r["kind"] == "instruction" and r.get("lang") == src]
    records = sample(train, p["n"], p["seed"])
    gen = Generator(st.input["model"], GenConfig.from_params(p["generation"]), prompt, scratch, name="translator")
    count = lambda t: len(gen.tokenizer(t, add_special_tokens=False)["input_ids"])
    parts, cuts = source_fields(records, p["max_source_tokens"], count)
    outs = gen([(f"{rid}|{field}", translation.messages(prompt, text, src, tgt, langs["names"]))
                for (rid, field), text in parts.items() if text.strip()])
    ledger, corpus = Ledger(), []
    for r in records:
        ledger.read(r["source"])
        rec, reason = translated_record(r, parts, outs, tgt, langs, p)
        if rec:
            ledger.keep(r["source"])
            corpus.append(rec)
        else:
            ledger.drop(r["source"], reason)
    back = sample(corpus, p["backtranslation_sample"], p["seed"])
    back_out = gen([(f"{r['origin']}|back", translation.messages(prompt, r["messages"][1]["content"], tgt, src,
                                                                 langs["names"])) for r in back])
    bt = translation.score([back_out[f"{r['origin']}|back"].text for r in back],
                           [parts[(r["origin"], "response")] for r in back], langs["scripts"].get(src, ""))
    io.write_jsonl(st.output["corpus"], corpus)
    io.write_json(st.output["report"], {"records": len(corpus), "source_cuts": cuts, "ledger": ledger.report(),
                                        "backtranslation": bt,
                                        "truncated_outputs": sum(o.truncated for o in outs.values()),
                                        "kept_truncated_records": sum(r["truncated"] for r in corpus),
                                        "keep_truncated": p["keep_truncated"]})
    st.perf["generate"] = gen.perf()


if __name__ == "__main__":
    stage.run(main, globals())
