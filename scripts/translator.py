"""Stage `translator`: distil the teacher into a lightweight translator (Hala: LFM2-1.2B) and score it.

Inputs:  model (models/base), tuples, accepted (data/pairs/*.jsonl), dev, test (data/splits/*.jsonl)
Outputs: model (models/translator), report (reports/translator.json: BLEU/chrF/chrF++ of base vs translator,
         both directions, sacrebleu signatures), hyps (reports/translator.hyps.jsonl), live, perf
Params:  translator, languages; hub.lock.json translator.model (a hub model's pinned commit)
Debug:   python scripts/translator.py --input model=models/base --input tuples=data/pairs/tuples.jsonl \
             --input accepted=data/pairs/accepted.jsonl --input dev=data/splits/dev.jsonl \
             --input test=data/splits/test.jsonl --output model=/tmp/tr --output report=/tmp/tr.json \
             --output hyps=/tmp/tr.hyps.jsonl --output live=/tmp/tr.live --keys translator,languages --hub-keys translator.model

Training rows: every bilingual tuple in both directions (instruction and response separately) plus up to
`translator.max_pairs` judged parallel pairs (direction drawn by a seeded coin). `translator.model: base` starts
from the pipeline's base model; a hub id or path (Hala: LiquidAI/LFM2-1.2B) starts from that model instead.
Evaluation: `translator.eval.n` pairs of the test split of `translator.eval.source`, translated both ways.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import dragoman from this checkout

from dragoman.lm import translation
from dragoman.lm.generate import GenConfig, Generator
from dragoman.train import recipe
from dragoman.train.finetune import chat_rows
from dragoman.train.mixture import sample, translation_tasks
from dragoman.workflow import io, scratch as S, stage


def tuple_tasks(tuples: list[dict], prompt: str, names: dict) -> list[tuple[str, list[dict]]]:
    """Each field of each tuple in both directions."""
    out = []
    for t in tuples:
        a, b = t["langs"]
        for field in ("instruction", "response"):
            for s, d in ((a, b), (b, a)):
                out.append((f"tuples:{field}", translation.messages(prompt, t[field][s], s, d, names)
                            + [{"role": "assistant", "content": t[field][d]}]))
    return out


def evaluate(model_dir: str, pairs: list[dict], p: dict, langs: dict, scratch: Path, name: str) -> tuple[dict, dict]:
    """{direction: scores} and {direction: hypotheses} of one model on the evaluation pairs."""
    gen = Generator(model_dir, GenConfig.from_params(p["generation"]), p["prompt"], scratch, name=name)
    scores, hyps = {}, {}
    for s, d in ((langs["source"], langs["target"]), (langs["target"], langs["source"])):
        items = [(f"{r['id']}|{s}>{d}", translation.messages(p["prompt"], r["texts"][s], s, d, langs["names"]))
                 for r in pairs]
        outs = gen(items)
        hyps[f"{s}->{d}"] = [outs[i].text for i, _ in items]
        scores[f"{s}->{d}"] = {**translation.score(hyps[f"{s}->{d}"], [r["texts"][d] for r in pairs],
                                                   langs["scripts"].get(d, "")),
                               "truncated": sum(outs[i].truncated for i, _ in items)}
    return scores, {"hyps": hyps, "perf": gen.perf()}


def main(st: stage.Stage) -> None:
    langs = st.params["languages"]
    model_id = st.params["translator.model"]
    init = st.input["model"] if model_id == "base" else st.load_id("translator.model")  # hub: org/name@<pin>
    p, cfg, model, tok = recipe.load(st, "translator", init=init)
    tuples = list(io.read_jsonl(st.input["tuples"]))
    accepted = list(io.read_jsonl(st.input["accepted"]))
    tasks = tuple_tasks(tuples, p["prompt"], langs["names"]) + translation_tasks(
        sample(accepted, p["max_pairs"], p["seed"], keep_order=False), langs["names"], p["prompt"], p["max_pairs"],
        p["seed"])
    train_rows, table, dropped = chat_rows(tok, tasks, cfg.seq_len, cfg.packing)
    dev = [r for r in io.read_jsonl(st.input["dev"]) if r["kind"] == "parallel"]
    dev_tasks = translation_tasks(sample(dev, cfg.eval_rows * 4, p["seed"]), langs["names"], p["prompt"],
                                  cfg.eval_rows * 4, p["seed"])
    dev_rows, _, _ = chat_rows(tok, dev_tasks, cfg.seq_len, True)
    scratch = S.for_stage(st)  # holds the generation cache; the training resume state goes in train/ below it
    if train_rows:
        report = recipe.train(st, model, tok, cfg, train_rows, dev_rows, init=init, lora=p["lora"],
                              scratch=scratch / "train")
        if report is None:  # not the main process: evaluation below runs once
            return
    else:  # the judge accepted nothing and no tuple survived (see reports/pairs.json)
        report = recipe.untrained(st, model, tok, init)
    test = [r for r in io.read_jsonl(st.input["test"])
            if r["kind"] == "parallel" and r["source"] == p["eval"]["source"]]
    pairs = sample(test, p["eval"]["n"], seed=0)
    scores, hyps = {}, []
    for name, folder in (("base", init), ("translator", st.output["model"])):
        scores[name], extra = evaluate(folder, pairs, p, langs, scratch, name)
        st.perf[f"generate_{name}"] = extra["perf"]
        hyps += [{"model": name, "direction": d, "id": r["id"], "hypothesis": h}
                 for d, hs in extra["hyps"].items() for r, h in zip(pairs, hs)]
    io.write_jsonl(st.output["hyps"], hyps)
    io.write_json(st.output["report"], {
        **report, "model": p["model"], "hub": st.hub.get("translator.model"), "dropped_no_answer_tokens": dropped, "mixture": table, "eval_source": p["eval"]["source"],
        "eval_pairs": len(pairs), "scores": scores,
        "chrf_gain": {d: round(scores["translator"][d]["chrf"] - scores["base"][d]["chrf"], 4) for d in scores["base"]}})


if __name__ == "__main__":
    stage.run(main, globals())
