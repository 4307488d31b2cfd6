"""Stage `metrics`: every model of the lineage on held-out data -> results/metrics.json (+ chart, hypotheses).

Inputs:  one folder per model in `eval.models` (models/base, models/cpt, ...), test (data/splits/test.jsonl)
Outputs: metrics (results/metrics.json), hyps (results/hyps.jsonl: translation hypotheses beside the scores),
         chart (results/metrics.png), headline (results/headline.csv: DVC plot), perf (reports/metrics.perf.json)
Params:  eval, sft.classification_tasks, teacher.prompt, languages, and the sections of the lineage (provenance)
Debug:   python scripts/metrics.py --input base=models/base --input sft=models/sft \
             --input test=data/splits/test.jsonl --output metrics=/tmp/m.json --output hyps=/tmp/h.jsonl \
             --output chart=/tmp/m.png --output headline=/tmp/h.csv --keys eval,sft.classification_tasks,teacher.prompt,languages

Per model: token-weighted perplexity on target-language test text and on source-language test text (the
forgetting ledger, with deltas vs base); BLEU/chrF/chrF++ both directions (generated, capped by
`eval.translation.n`); multiple choice accuracy by log-likelihood (acc, acc_norm); classification by
log-likelihood over each task's label set (accuracy, macro-F1); robustness: perplexity (nats/char) and
classification accuracy under perturbations. Provenance: input hashes, params, git revision, packages, device.
"""

import csv
import logging
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import dragoman from this checkout

from dragoman.lm import evaluate as ev
from dragoman.workflow import io, scratch as S, stage
from dragoman.lm import translation
from dragoman.lm.models import load_for_inference
from dragoman.lm.generate import GenConfig, Generator, backend_of
from dragoman.train.mixture import sample, texts_in
from dragoman.data.normalize import OPS

log = logging.getLogger("metrics")
PACKAGES = ("torch", "transformers", "peft", "accelerate", "bitsandbytes", "llmcompressor", "mergekit", "sacrebleu",
            "dvc", "snakemake")
HEADLINE = ("ppl_target", "ppl_source", "chrf_src_tgt", "chrf_tgt_src", "mcq_acc", "classification_acc")


def perturb(text: str, name: str, spec: dict, seed: int) -> str:
    """One perturbation of one text; the seed is salted with the text so texts get different draws."""
    seed = int(io.stable_hash(seed, text)[:8], 16)
    if name == "tatweel":
        return ev.insert_tatweel(text, spec["rate"], seed)
    if name == "typos":
        return ev.typos(text, spec["rate"], seed)
    return OPS[name](text)  # a normalization op, e.g. strip_diacritics


def eval_data(test: list[dict], p: dict, langs: dict) -> dict:
    """The held-out sets, sampled once (seeded) so every model sees the same items."""
    tgt, src, seed = langs["target"], langs["source"], p["seed"]
    docs = [r for r in test if r["kind"] in ("text", "parallel")]
    cls = [r for r in test if r["kind"] == "classification" and r["source"] == p["classification"]["source"]]
    rob = [r for r in test if r["source"] in p["robustness"]["sources"]]
    return {
        "target_texts": [t for r in sample(docs, p["perplexity"]["n"], seed) for t in texts_in(r, tgt)],
        "source_texts": [t for r in sample([r for r in test if texts_in(r, src)], p["perplexity"]["n"], seed)
                         for t in texts_in(r, src)],
        "pairs": [r for name in p["translation"]["sources"] for r in sample(
            [r for r in test if r["kind"] == "parallel" and r["source"] == name], p["translation"]["n"], seed)],
        "mcq": sample([r for r in test if r["kind"] == "mcq" and r["source"] == p["mcq"]["source"]], p["mcq"]["n"], seed),
        "classification": sample(cls, p["classification"]["n"], seed),
        "robust_texts": [t for r in sample(rob, p["robustness"]["n"], seed) for t in texts_in(r, tgt)],
    }


def classify(model, tok, records: list[dict], tasks: dict, p: dict, transform=lambda t: t) -> dict:
    """{task: accuracy/macro-F1} by log-likelihood of each verbalized label after the task's chat prompt."""
    out = {}
    for field, spec in sorted(tasks.items()):
        values = list(spec["labels"])
        rows = [r for r in records if r["labels"].get(field) in spec["labels"]]
        options = ", ".join(spec["labels"][v] for v in values)
        items = [(ev.chat_context(tok, spec["prompt"].format(text=transform(r["text"]), options=options)),
                  [spec["labels"][v] for v in values]) for r in rows]
        picks = ev.choose(model, tok, items, p["batch_size"], p["bf16"])
        out[field] = ev.accuracy_f1([values.index(r["labels"][field]) for r in rows], [x["pick"] for x in picks],
                                    len(values))
    return out


MCQ_DELIMITER = " "  # between "Answer:" and the choice, as lm-eval's target_delimiter


def mcq_items(records: list[dict]) -> list[tuple[str, list[str]]]:
    """(context, choices) per item: the prompt tests/test_harness.py gives lm-evaluation-harness too."""
    letters = "ABCDEFGH"
    return [("Question: " + r["question"] + "\n" + "\n".join(f"{letters[i]}. {c}" for i, c in enumerate(r["choices"]))
             + "\nAnswer:", list(r["choices"])) for r in records]


def mcq(model, tok, records: list[dict], p: dict) -> dict:
    picks = ev.choose(model, tok, mcq_items(records), p["batch_size"], p["bf16"], MCQ_DELIMITER)
    gold = [r["answer"] for r in records]
    n = max(1, len(records))
    return {"acc": round(sum(g == x["pick"] for g, x in zip(gold, picks)) / n, 4),
            "acc_norm": round(sum(g == x["pick_norm"] for g, x in zip(gold, picks)) / n, 4), "n": len(records)}


def directions(pairs: list[dict], target: str) -> list[tuple[str, str]]:
    """Both directions between the target and each other language of the evaluation pairs (en<->ar; en<->bo,
    zh<->bo), in a stable order: into the target first."""
    others = sorted({l for r in pairs for l in r["texts"] if l != target})
    return [(o, target) for o in others] + [(target, o) for o in others]


def evaluate_model(name: str, path: str, data: dict, p: dict, langs: dict, tasks: dict, prompt: str,
                   scratch: Path) -> tuple[dict, list[dict], dict]:
    cfg = GenConfig.from_params(p["translation"]["generation"])
    # one copy of the model: on a GPU the HF generator shares the scoring copy; a vLLM engine generates first
    # and is freed before the scoring copy loads (it reserves most of the GPU's memory)
    loaded = load_for_inference(path, p["bf16"]) if backend_of(cfg) == "hf" else None
    gen = Generator(path, cfg, prompt, scratch, name=name, loaded=loaded)
    m, hyps = {"translation": {}}, []
    for s, d in directions(data["pairs"], langs["target"]):
        pairs = [r for r in data["pairs"] if {s, d} <= set(r["texts"])]
        items = [(f"{r['id']}|{s}>{d}", translation.messages(prompt, r["texts"][s], s, d, langs["names"]))
                 for r in pairs]
        outs = gen(items)
        texts = [outs[i].text for i, _ in items]
        m["translation"][f"{s}->{d}"] = translation.score(texts, [r["texts"][d] for r in pairs],
                                                          langs["scripts"].get(d, ""))
        hyps += [{"model": name, "direction": f"{s}->{d}", "id": r["id"], "hypothesis": h}
                 for r, h in zip(pairs, texts)]
    gen.close()
    model, tok = loaded or load_for_inference(path, p["bf16"])
    ppl = lambda texts: ev.perplexity(model, tok, texts, p["perplexity"]["max_len"], p["batch_size"], p["bf16"])
    m["perplexity"] = {"target": ppl(data["target_texts"]), "source": ppl(data["source_texts"])}
    m["mcq"] = mcq(model, tok, data["mcq"], p)
    m["classification"] = classify(model, tok, data["classification"], tasks, p)
    rob = p["robustness"]
    m["robustness"] = {"original": {"target": ppl(data["robust_texts"]),
                                    "classification": m["classification"]}}
    for pert, spec in sorted(rob["perturbations"].items()):
        f = lambda t: perturb(t, pert, spec, rob["seed"])
        row = {"target": ppl([f(t) for t in data["robust_texts"]])}
        if pert != "strip_diacritics":  # tweets are not vowelled: stripping diacritics changes nothing there
            row["classification"] = classify(model, tok, data["classification"], tasks, p, f)
        row["nll_per_char_delta"] = round(row["target"]["nll_per_char"]
                                          - m["robustness"]["original"]["target"]["nll_per_char"], 5)
        m["robustness"][pert] = row
    del m["robustness"]["original"]["classification"]  # the same numbers as m["classification"]
    return m, hyps, gen.perf()


def headline(m: dict, langs: dict) -> dict:
    s, t = langs["source"], langs["target"]
    cls = m["classification"]
    return {"ppl_target": m["perplexity"]["target"]["ppl"], "ppl_source": m["perplexity"]["source"]["ppl"],
            "chrf_src_tgt": m["translation"].get(f"{s}->{t}", {}).get("chrf"),
            "chrf_tgt_src": m["translation"].get(f"{t}->{s}", {}).get("chrf"),
            "mcq_acc": m["mcq"]["acc"] if m["mcq"]["n"] else None,
            "classification_acc": round(sum(c["accuracy"] for c in cls.values()) / len(cls), 4) if cls else None}


def provenance(inputs: dict, params: dict, hub: dict) -> dict:
    def git(*args):
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None
    import torch
    return {"inputs": {k: io.sha256_tree(v) for k, v in sorted(inputs.items())}, "params": params,
            "hub": {k: v for k, v in sorted(hub.items()) if v},  # hub.lock.json: the commit of every hub input
            "git": {"revision": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))},
            "packages": {p: metadata.version(p) for p in PACKAGES},
            "device": {"platform": platform.platform(), "python": platform.python_version(),
                       "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}}


def chart(rows: dict, out: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(HEADLINE), figsize=(3 * len(HEADLINE), 3))
    names = list(rows)
    for ax, key in zip(axes, HEADLINE):
        ax.barh(names, [rows[n][key] or 0 for n in names], color="tab:blue")
        ax.set_title(key, fontsize=9)
        ax.invert_yaxis()
    fig.tight_layout()
    with io.atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=80, metadata={"Software": None})  # no version stamp: byte-stable
    plt.close(fig)


def main(st: stage.Stage) -> None:
    p, langs = st.params["eval"], st.params["languages"]
    tasks, prompt = st.params["sft.classification_tasks"], st.params["teacher.prompt"]
    test = list(io.read_jsonl(st.input["test"]))
    data = eval_data(test, p, langs)
    # keyed by what decides the scores, not by the provenance params the report only quotes
    scratch = S.for_stage(st, params={"eval": p, "prompt": prompt, "languages": langs})
    models, hyps, rows = {}, [], {}
    for name in p["models"]:
        log.info("evaluating %s", name)
        models[name], h, st.perf[f"generate_{name}"] = evaluate_model(name, st.input[name], data, p, langs, tasks,
                                                                       prompt, scratch)
        hyps += h
        rows[name] = headline(models[name], langs)
    base = rows.get("base")
    forgetting = {n: {k: round(r[k] - base[k], 4) for k in ("ppl_target", "ppl_source")} for n, r in rows.items()} \
        if base else {}
    sizes = {k: len(v) for k, v in data.items()}
    io.write_jsonl(st.output["hyps"], hyps)
    chart(rows, st.output["chart"])
    with io.atomic_path(st.output["headline"]) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["model", *HEADLINE])
        w.writerows([[n, *[r[k] for k in HEADLINE]] for n, r in rows.items()])
    io.write_json(st.output["metrics"], {
        "headline": rows, "delta_vs_base": forgetting, "models": models, "eval_sets": sizes,
        "provenance": provenance({k: v for k, v in st.input.items() if k != "code"},
                                 {k: st.params[k] for k in st.params.declared}, st.hub)})


if __name__ == "__main__":
    stage.run(main, globals())
