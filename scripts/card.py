"""Stage `card`: the model card of the merged model, generated from the metrics and the stage reports.

Inputs:  metrics (results/metrics.json), merge, splits, and the reports of the lineage's training stages
         (cpt, sft, qlora as evaluated; translator, instructions when the translated corpus is used)
Outputs: card (results/model_card.md) — written beside the results, never into models/merged (which `metrics`
         reads: writing there would invalidate it)
Params:  card, languages, sources, base.model, merge
Debug:   python scripts/card.py --input metrics=results/metrics.json --input merge=reports/merge.json \
             --input sft=reports/sft.json --input cpt=reports/cpt.json --input translator=reports/translator.json \
             --input instructions=reports/instructions.json --input splits=reports/splits.json \
             --output card=/tmp/card.md --keys card,languages,sources,base.model,merge
"""

import json
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


def main(st: stage.Stage) -> None:
    reports = {k: json.loads(Path(v).read_text()) for k, v in st.input.items() if k != "code"}
    text = render(st.params["card"], st.params["languages"], st.params["sources"], st.params["base.model"],
                  st.params["merge"], reports)
    with io.atomic_path(st.output["card"]) as tmp:
        tmp.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    stage.run(main, globals())
