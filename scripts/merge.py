"""Stage `merge`: merge the fine-tuned model with the base using mergekit (default slerp, as Hala did).

Inputs:  base (models/base), model (models/sft or models/qlora, by `merge.model`)
Outputs: model (models/merged: a Hugging Face folder), report (reports/merge.json: the mergekit config, checks)
Params:  merge
Debug:   python scripts/merge.py --input base=models/base --input model=models/sft --output model=/tmp/merged \
             --output report=/tmp/merge.json --keys merge

The training stages already merged their LoRA adapters into full weights (peft `merge_and_unload`), so this
stage merges full models. Before merging, architecture, vocabulary size and tokenizer are compared and a
mismatch stops the stage with what differs. `merge.t`: 0 = base, 1 = fine-tuned, or per-filter lists.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import dragoman from this checkout

from dragoman.workflow import io, stage
from dragoman.lm import merging


def main(st: stage.Stage) -> None:
    p = st.params["merge"]
    base, other = st.input["base"], st.input["model"]
    merging.check_mergeable(base, other)
    config = merging.mergekit_config(base, other, p["method"], p["t"], p["dtype"], p["density"])
    with io.atomic_path(st.output["model"]) as tmp:
        merging.run(config, tmp, seed=p["seed"])
    io.write_json(st.output["report"], {"merged": p["model"], "method": p["method"], "mergekit_config": config,
                                        "checks": {"architecture": "equal", "tokenizer": "equal"}})


if __name__ == "__main__":
    stage.run(main, globals())
