"""Model merging with mergekit, behind a pre-check that both models can be merged at all.

`merge.t` follows mergekit's slerp: t = 0 gives the base model, t = 1 the fine-tuned one; a number, or
mergekit's list of per-filter gradients, e.g. [{filter: self_attn, value: [0, 0.5, 1]}, {filter: mlp,
value: [1, 0.5, 0]}, {value: 0.5}] (each list is stretched over the layers). Slerp treats each tensor as one
flat vector and interpolates on the arc between its two versions; nearly parallel tensors (|cos| > 0.9995)
fall back to linear interpolation (tests/test_merge_eval.py checks this against the textbook formula).
"""
from __future__ import annotations

import json
from pathlib import Path

ARCH_KEYS = ("model_type", "vocab_size", "hidden_size", "num_hidden_layers", "intermediate_size",
             "num_attention_heads", "num_key_value_heads", "tie_word_embeddings")


class MergeError(ValueError):
    pass


def check_mergeable(base: str, other: str) -> None:
    """Refuse models that differ in architecture, vocabulary size or tokenizer, naming what differs."""
    cb = json.loads(Path(base, "config.json").read_text())
    co = json.loads(Path(other, "config.json").read_text())
    diffs = [f"{k}: {cb.get(k)} vs {co.get(k)}" for k in ARCH_KEYS if cb.get(k) != co.get(k)]
    if diffs:
        raise MergeError(f"cannot merge {other} into {base}: config differs ({'; '.join(diffs)}). "
                         "Merge models fine-tuned from the same base.")
    from transformers import AutoTokenizer
    vb, vo = AutoTokenizer.from_pretrained(base).get_vocab(), AutoTokenizer.from_pretrained(other).get_vocab()
    if vb != vo:
        diff = sorted(set(vb.items()) ^ set(vo.items()))[:5]
        raise MergeError(f"cannot merge {other} into {base}: tokenizer vocabularies differ ({len(vb)} vs {len(vo)} "
                         f"tokens; first differences {diff}). Resize/retokenize first, or merge models that share "
                         "a tokenizer.")


def mergekit_config(base: str, other: str, method: str, t, dtype: str, density: float) -> dict:
    """The mergekit YAML (as a dict) for `method` between the base and the fine-tuned model."""
    if method == "slerp":
        return {"merge_method": "slerp", "base_model": base, "models": [{"model": base}, {"model": other}],
                "parameters": {"t": t}, "dtype": dtype}
    if not isinstance(t, (int, float)):
        raise MergeError(f"merge.t as a per-filter list is a slerp setting; merge.method '{method}' takes one "
                         f"number (the fine-tuned model's weight, 0..1)")
    weight = t
    if method == "linear":
        return {"merge_method": "linear", "models": [{"model": base, "parameters": {"weight": 1 - weight}},
                                                     {"model": other, "parameters": {"weight": weight}}],
                "dtype": dtype}
    if method in ("ties", "dare_ties"):  # task arithmetic on (other - base), sparsified to `density`
        return {"merge_method": method, "base_model": base,
                "models": [{"model": other, "parameters": {"weight": weight, "density": density}}],
                "parameters": {"normalize": False}, "dtype": dtype}
    raise MergeError(f"merge.method '{method}' is not one of slerp, linear, ties, dare_ties")


def run(config: dict, out: Path, seed: int = 0) -> None:
    from mergekit.config import MergeConfiguration
    from mergekit.merge import run_merge
    from mergekit.options import MergeOptions
    run_merge(MergeConfiguration.model_validate(config), str(out),
              options=MergeOptions(device="cpu", copy_tokenizer=True, write_model_card=False, random_seed=seed,
                                   lazy_unpickle=False, quiet=True))
