"""GenConfig: every knob of text generation (dragoman/lm/generate.py), declared once.

The `generation` sections of params.yaml (teacher_fp8, pairs, translator, instructions, eval.translation) are
checked against the schema generated from these fields (dragoman/workflow/knobs.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from dragoman.workflow.knobs import from_params, knob


@dataclass(frozen=True)
class GenConfig:
    max_new_tokens: int = knob(64, "outputs cut here are flagged `truncated`, never silently kept", minimum=1)
    num_beams: int = knob(1, "1 = greedy (deterministic, cheapest); beams cost ~num_beams x compute", minimum=1)
    repetition_penalty: float = knob(1.0, "> 1 breaks the loops small models fall into under greedy decoding",
                                     minimum=1)
    batch_size: int = knob(16, "prompts per generate call: bigger = faster until memory runs out", minimum=1)
    bf16: bool = knob(True, "the model in bf16 (as vLLM serves it); batched: 1.5x fp32 + autocast here")
    backend: str = knob("auto", "auto (vllm on GPU if installed, else hf) | hf | vllm", enum=["auto", "hf", "vllm"])

    @classmethod
    def from_params(cls, p: dict) -> "GenConfig":
        return from_params(cls, p)

    def cache_fields(self) -> dict:
        """What changes an output: not the batch size or the backend's speed knobs."""
        return {"max_new_tokens": self.max_new_tokens, "num_beams": self.num_beams,
                "dtype": "bfloat16" if self.bf16 else "float32",
                "repetition_penalty": self.repetition_penalty}
