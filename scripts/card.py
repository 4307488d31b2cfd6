"""Stage `card`: the model card of the merged model, generated from the metrics and the stage reports.

Inputs:  metrics (results/metrics.json), merge, splits, and the reports of the lineage's training stages
         (cpt, sft, qlora as evaluated; translator, instructions when the translated corpus is used)
         model (models/merged: released as it is)
Outputs: card (results/model_card.md, the human copy) and release (models/release/: the merged model's files,
         hard-linked, plus README.md = the card under a Hugging Face metadata block, so
         `huggingface-cli upload <org/name> models/release` publishes model and card). Never written into
         models/merged: `metrics` reads it (writing there would invalidate it) and DVC refuses two stages'
         outputs in one folder.
Params:  card, languages, sources, base.model, merge; hub.lock.json base.model (base_model's pinned commit)
Debug:   python scripts/card.py --input metrics=results/metrics.json --input merge=reports/merge.json \
             --input sft=reports/sft.json --input cpt=reports/cpt.json --input translator=reports/translator.json \
             --input instructions=reports/instructions.json --input splits=reports/splits.json \
             --input model=models/merged --output card=/tmp/card.md --output release=/tmp/release \
             --keys card,languages,sources,base.model,merge --hub-keys base.model
"""

import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import dragoman from this checkout

from dragoman.workflow import io, stage


def table(rows: dict, cols: list[str]) -> list[str]:
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)
    return (["| model | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
            + [f"| {n} | " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for n, r in rows.items()])


def render(p: dict, langs: dict, sources: dict, base_model: str, merge: dict, reports: dict) -> str:
    m = reports["metrics"]
    head = m["headline"]
    tgt = langs["names"].get(langs["target"], langs["target"])
    prov = m["provenance"]
    lines = [f"# {p['name']}", "",
             f"{base_model} adapted to {tgt} by dragoman: the stages listed under Lineage, then a {merge['method']} "
             f"merge of `{merge['model']}` with the base model. Generated from results/metrics.json; every number "
             "below was measured by the pipeline.", "",
             "## Lineage", "",
             f"- base: `{base_model}`",
             *[f"- {k}: {reports[k]['steps']} steps, {reports[k]['tokens_seen']} tokens (dev loss "
               f"{reports[k].get('eval_loss_step0', 'n/a')} -> {reports[k].get('eval_loss_final', 'n/a')})"
               for k in ("cpt", "translator", "sft", "qlora") if k in reports],
             *([f"- translated instructions kept: {reports['instructions']['records']}"]
               if "instructions" in reports else []),
             f"- merge: {merge['method']} of `{merge['model']}` with the base, t = {json.dumps(merge['t'])} "
             "(0 = base, 1 = fine-tuned)",
             f"- code: git {prov['git']['revision']}{' (dirty)' if prov['git']['dirty'] else ''}", "",
             "## Data versions", "",
             "| artifact | sha256 |", "|---|---|"]
    lines += [f"| {k} | `{v[:16]}` |" for k, v in prov["inputs"].items()]
    pins = [(k, v) for k, v in prov.get("hub", {}).items() if k != "sources"]
    pins += [(f"sources.{n}", v["dataset"]) for n, v in prov.get("hub", {}).get("sources", {}).items()]
    if pins:
        lines += ["", "Hub inputs, pinned by hub.lock.json:", "", "| input | repo | revision | commit |",
                  "|---|---|---|---|"]
        lines += [f"| {k} | {v['repo']} | {v['revision']} | `{v['sha']}` |" for k, v in pins]
    lines += ["", f"Splits: {json.dumps(reports['splits'].get('total', {}), ensure_ascii=False)}", "",
              "## Metrics (held-out test split)", "", *table(head, list(next(iter(head.values())))), "",
              "Sizes of the evaluation sets: " + ", ".join(f"{k} {v}" for k, v in m["eval_sets"].items()) + ".",
              "Translation scores carry their sacrebleu signatures in results/metrics.json.", "",
              "## Intended use", "", p["intended_use"].strip(), "", "## Limitations", "", p["limitations"].strip(), "",
              "## Data licences", "", "| source | licence |", "|---|---|"]
    lines += [f"| {name} | {p['licences'].get(name, 'unknown: add it to card.licences')} |"
              for name in [*sorted(sources), "base model"]]
    lines.append("")
    return "\n".join(lines)


# headline metric -> (task type, metric type, what it measures): the model-index entries of the release card
INDEX = {"chrf_src_tgt": ("translation", "chrf", "chrF {src}->{tgt}"),
         "chrf_tgt_src": ("translation", "chrf", "chrF {tgt}->{src}"),
         "mcq_acc": ("multiple-choice", "accuracy", "multiple-choice accuracy"),
         "classification_acc": ("text-classification", "accuracy", "label classification accuracy"),
         "ppl_target": ("text-generation", "perplexity", "perplexity ({tgt})")}


def metadata(p: dict, langs: dict, sources: dict, base_id: str, base_pin: dict | None, metrics: dict) -> str:
    """The Hugging Face metadata block (YAML), built and serialised by huggingface_hub itself."""
    from huggingface_hub import EvalResult, ModelCardData
    row = metrics["headline"].get("merged") or next(iter(metrics["headline"].values()))
    fill = {"src": langs["source"], "tgt": langs["target"]}
    results = [EvalResult(task_type=task, dataset_type="dragoman-heldout", dataset_name="dragoman held-out test split",
                          dataset_split="test", metric_type=kind, metric_value=row[k], metric_name=name.format(**fill))
               for k, (task, kind, name) in INDEX.items() if row.get(k) is not None]
    datasets = sorted({*p.get("datasets", []), *(s["dataset"] for s in sources.values() if s["format"] == "hf_dataset")})
    data = ModelCardData(model_name=p["name"], language=sorted({langs["target"], langs["source"]}),
                         license=p["license"], base_model=base_id,
                         datasets=datasets or None, tags=["dragoman", "language-adaptation", "merge"],
                         pipeline_tag="text-generation", eval_results=results or None,
                         base_model_revision=base_pin["sha"] if base_pin else None)
    return data.to_yaml()


def release(model_dir: str, out: str, readme: str) -> None:
    """models/release: every file of the merged model hard-linked (no second copy on disk; DVC's cache holds
    the same content once), plus README.md."""
    with io.atomic_path(out) as tmp:
        tmp.mkdir()
        for f in sorted(Path(model_dir).iterdir()):
            # not hidden files: Snakemake touches a directory output's .snakemake_timestamp, and a link to
            # merged's would make models/merged look newer than what was computed from it
            if f.is_file() and f.name != "README.md" and not f.name.startswith("."):
                try:
                    os.link(f, tmp / f.name)
                except OSError:  # another file system: copy
                    shutil.copy2(f, tmp / f.name)
        (tmp / "README.md").write_text(readme, encoding="utf-8")


def main(st: stage.Stage) -> None:
    reports = {k: json.loads(Path(v).read_text()) for k, v in st.input.items() if k not in ("code", "model")}
    p, langs, sources = st.params["card"], st.params["languages"], st.params["sources"]
    base_pin = st.hub.get("base.model")
    base_id = base_pin["repo"] if base_pin else p["base_model"]  # the embedded GGUF stands for its hub original
    text = render(p, langs, sources, st.params["base.model"], st.params["merge"], reports)
    with io.atomic_path(st.output["card"]) as tmp:
        tmp.write_text(text, encoding="utf-8")
    release(st.input["model"], st.output["release"],
            f"---\n{metadata(p, langs, sources, base_id, base_pin, reports['metrics'])}\n---\n\n{text}")


if __name__ == "__main__":
    stage.run(main, globals())
