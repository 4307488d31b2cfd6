"""Stage `pairs`: bilingual instruction tuples from the FP8 teacher, and judged parallel training pairs.

Inputs:  model (models/teacher_fp8), train (data/splits/train.jsonl)
Outputs: tuples (data/pairs/tuples.jsonl: <instruction, response> in both languages), accepted
         (data/pairs/accepted.jsonl: parallel pairs the judge kept, with scores), report (reports/pairs.json:
         acceptance, score histogram, drops per reason), perf (reports/pairs.perf.json)
Params:  pairs, teacher.prompt, languages; hub.lock.json pairs.judge.model (a hub judge's pinned commit)
Debug:   python scripts/pairs.py --input model=models/teacher_fp8 --input train=data/splits/train.jsonl \
             --output tuples=/tmp/tuples.jsonl --output accepted=/tmp/accepted.jsonl \
             --output report=/tmp/pairs.json --keys pairs,teacher.prompt,languages --hub-keys pairs.judge.model

(a) `pairs.n_instructions` source-language instructions (instruction and response, each cut at a sentence
boundary under `pairs.max_source_tokens`) are translated by the teacher; a tuple is kept when both sides pass
the heuristic checks and neither was truncated by max_new_tokens (`keep_truncated: true` keeps those,
counted as `truncated_outputs`); `trim_to_source` first cuts an output to the source's lines and sentences. (b) Every parallel training pair goes
through the heuristic judge; `judge.method: xent | llm` then scores a seeded sample of at most
`judge.max_pairs` survivors (the cost cap) and keeps the best `judge.keep_fraction` (xent) or the ACCEPTs (llm).
Pairs outside the sample are counted as `not_judged`. Generation is cached in .scratch/pairs/<key>: a killed
run resumes with the items it had not generated yet.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import dragoman from this checkout

from dragoman.workflow import io, scratch as S, stage
from dragoman.lm import judge, translation
from dragoman.lm.generate import GenConfig, Generator
from dragoman.workflow.ledger import Ledger
from dragoman.train.mixture import sample
from dragoman.lm.models import resolve


def histogram(values: list[float], bins: int = 10) -> dict:
    import numpy as np
    if not values:
        return {"edges": [], "counts": []}
    counts, edges = np.histogram(values, bins=bins)
    return {"edges": [round(float(e), 4) for e in edges], "counts": counts.tolist()}


def translate_instructions(gen: Generator, tok, records: list[dict], p: dict, prompt: str, langs: dict,
                           ledger: Ledger) -> tuple[list[dict], dict]:
    """Bilingual tuples from instruction records; every record is kept or dropped with a reason."""
    src, tgt = langs["source"], langs["target"]
    count = lambda t: len(tok(t, add_special_tokens=False)["input_ids"])
    cuts: dict[str, int] = {}
    parts = {}
    for r in records:
        user = next(m["content"] for m in r["messages"] if m["role"] == "user")
        answer = next((m["content"] for m in r["messages"] if m["role"] == "assistant"), "")
        for field, text in (("instruction", user), ("response", answer)):
            cut, how = translation.cut_at_sentence(text, p["max_source_tokens"], count)
            cuts[how] = cuts.get(how, 0) + 1
            parts[(r["id"], field)] = cut
    items = [(f"{rid}|{field}", translation.messages(prompt, text, src, tgt, langs["names"]))
             for (rid, field), text in parts.items() if text.strip()]
    outs = gen(items)
    tuples, truncated, trimmed = [], 0, 0
    for r in records:
        ledger.read("instructions")
        row = {"id": r["id"], "source": r["source"], "langs": [src, tgt]}
        reason = None
        for field in ("instruction", "response"):
            text = parts[(r["id"], field)]
            out = outs.get(f"{r['id']}|{field}")
            if out is None:
                reason = reason or f"empty:{field}"
                continue
            if out.truncated:
                truncated += 1
                if not p["keep_truncated"]:
                    reason = reason or f"truncated:{field}"
            hyp, cut = translation.trim_to_source(out.text, text) if p["trim_to_source"] else (out.text, False)
            trimmed += cut
            if not reason:
                failed = judge.heuristic_reason(text, hyp, tgt, langs, p["judge"])
                reason = failed and f"{failed}:{field}"
            row[field] = {src: text, tgt: hyp}
        if reason:
            ledger.drop("instructions", reason)
        else:
            ledger.keep("instructions")
            tuples.append(row)
    return tuples, {"source_cuts": dict(sorted(cuts.items())), "truncated_outputs": truncated, "trimmed_outputs": trimmed,
                    "keep_truncated": p["keep_truncated"]}


def judge_parallel(records: list[dict], p: dict, prompt: str, judge_model: str, langs: dict,
                   ledger: Ledger) -> tuple[list[dict], list[float], int]:
    """Accepted parallel records (with judge scores), the scores of every judged pair, and how many pairs were
    judged in full (heuristic rejects + model-judged; `not_judged` pairs are outside the cost cap)."""
    src, tgt = langs["source"], langs["target"]
    j = p["judge"]
    survivors = []
    for r in records:
        ledger.read(r["source"])
        reason = judge.heuristic_reason(r["texts"][src], r["texts"][tgt], tgt, langs, j)
        if reason:
            ledger.drop(r["source"], f"heuristic:{reason}")
        else:
            survivors.append(r)
    if j["method"] == "heuristic":
        for r in survivors:
            ledger.keep(r["source"])
        return survivors, [], len(records)
    judged = sample(survivors, j["max_pairs"], p["seed"])
    judged_ids = {r["id"] for r in judged}
    for r in survivors:
        if r["id"] not in judged_ids:
            ledger.drop(r["source"], "not_judged")
    from dragoman.lm.models import load_for_inference
    model, tok = load_for_inference(resolve(judge_model))  # bf16 on a GPU: a Command-A-size judge fits
    quads = [(src, r["texts"][src], tgt, r["texts"][tgt]) for r in judged]
    import torch
    with torch.autocast(model.device.type, dtype=torch.bfloat16):
        if j["method"] == "xent":
            scores = judge.xent_scores(model, tok, quads, prompt, langs["names"], j["max_len"], j["batch_size"])
            unscorable = {i for i, s in enumerate(scores) if s["score"] != s["score"]}  # NaN: no answer token fit
            order = sorted((i for i in range(len(judged)) if i not in unscorable),
                           key=lambda i: (scores[i]["score"], judged[i]["id"]))
            keep = set(order[: round(j["keep_fraction"] * len(order))])
            values = [scores[i]["score"] for i in order]
        else:
            values = judge.llm_scores(model, tok, quads, langs["names"], j["batch_size"])
            scores = [{"accept_minus_reject": round(v, 5)} for v in values]
            keep = {i for i, v in enumerate(values) if v > 0}
    accepted = []
    for i, r in enumerate(judged):
        if i in keep:
            ledger.keep(r["source"])
            accepted.append({**r, "judge": {"method": j["method"], **scores[i]}})
        elif j["method"] == "xent" and i in unscorable:
            ledger.drop(r["source"], "xent_too_long")  # the prompt filled max_len: nothing left to score
        else:
            ledger.drop(r["source"], f"{j['method']}_rejected")
    return accepted, values, len(records) - (len(survivors) - len(judged))


def main(st: stage.Stage) -> None:
    p, langs, prompt = st.params["pairs"], st.params["languages"], st.params["teacher.prompt"]
    train = list(io.read_jsonl(st.input["train"]))
    scratch = S.for_stage(st)
    instr = [r for r in train if r["kind"] == "instruction" and r.get("lang") == langs["source"]]
    instr = sample(instr, p["n_instructions"], p["seed"])
    gen = Generator(st.input["model"], GenConfig.from_params(p["generation"]), prompt, scratch, name="teacher")
    ledger = Ledger()
    tuples, gen_report = translate_instructions(gen, gen.tokenizer, instr, p, prompt, langs, ledger)
    gen.close()  # the teacher's generation copy (a vLLM engine on a GPU) goes before the judge's loads
    parallel = [r for r in train if r["kind"] == "parallel" and set(r["texts"]) >= {langs["source"], langs["target"]}]
    # the judge: the FP8 teacher, or pairs.judge.model (a hub id loads at its pinned commit: org/name@sha)
    judge_model = st.input["model"] if p["judge"]["model"] == "teacher" else st.load_id("pairs.judge.model")
    accepted, scores, judged = judge_parallel(parallel, p, prompt, judge_model, langs, ledger)
    io.write_jsonl(st.output["tuples"], tuples)
    io.write_jsonl(st.output["accepted"], accepted)
    led = ledger.report()
    io.write_json(st.output["report"], {
        "tuples": len(tuples), "instructions_in": len(instr), **gen_report,
        "accepted_pairs": len(accepted), "judge_method": p["judge"]["method"], "judged": judged,
        "acceptance_rate": round(len(accepted) / judged, 4) if judged else None,
        "score_histogram": histogram(scores), "ledger": led, "judge_hub": st.hub.get("pairs.judge.model")})
    st.perf["generate"] = gen.perf()


if __name__ == "__main__":
    stage.run(main, globals())
