"""TrainConfig: every knob of the training loop (dragoman/train/trainer.py), declared once.

The `training` section of params.yaml's schema is generated from these fields (dragoman/workflow/knobs.py), so
`cpt`, `sft`, `qlora`, `teacher` and `translator` all accept exactly these keys, each checked on its own.
"""
from __future__ import annotations

from dataclasses import dataclass

from dragoman.workflow.knobs import from_params, knob


@dataclass
class TrainConfig:
    seq_len: int = knob(256, "tokens per row; packed rows hold several examples", minimum=8)
    packing: bool = knob(True, "pack examples into rows (block-diagonal attention); false pads one per row")
    batch_size: int = knob(8, "rows per process per micro-step", minimum=1)
    grad_accum: int = knob(1, "micro-steps per optimizer step (equal to one batch that many times larger)", minimum=1)
    lr: float = knob(2e-4, "peak learning rate (linear warmup, then cosine decay to 0)", exclusiveMinimum=0)
    weight_decay: float = knob(0.0, "AdamW weight decay", minimum=0)
    warmup_ratio: float = knob(0.1, "share of the steps spent warming up", minimum=0, maximum=1)
    max_steps: int = knob(50, "optimizer steps; 0 = derive from `epochs`", minimum=0)
    epochs: float = knob(0.0, "with max_steps 0: passes over the training rows (recipes quote epochs)",
                         required=False, minimum=0)
    max_tokens: int = knob(0, "budget of loss-bearing tokens; 0 = none", minimum=0)
    eval_every: int = knob(25, "optimizer steps between dev evaluations (also at step 0 and the end)", minimum=1)
    eval_rows: int = knob(32, "dev rows evaluated, a fixed subset", minimum=1)
    max_grad_norm: float = knob(1.0, "gradient clipping", exclusiveMinimum=0)
    bf16: bool = knob(True, "bf16 autocast (frozen Linear weights stored in bf16)")
    grad_checkpointing: bool = knob(False, "recompute activations in backward: memory for time")
    compile: bool = knob(False, "torch.compile each decoder layer: fuses the elementwise ops that dominate an eager "
                                "GPU step (H100, Qwen2-1.5B LoRA: 27k -> 45k tok/s); ~1 min to compile per process, "
                                "so for long GPU runs, not the minutes-long CPU default", required=False)
    optimizer: str = knob("adamw", "adamw | adamw_8bit | paged_adamw_8bit (CUDA only; CPU falls back to 8-bit)",
                          enum=["adamw", "adamw_8bit", "paged_adamw_8bit"])
    save_every: int = knob(25, "optimizer steps between resume checkpoints; 0 = none", minimum=0)
    seed: int = knob(0, "data order, LoRA init, dropout")

    @classmethod
    def from_params(cls, p: dict) -> "TrainConfig":
        return from_params(cls, p)
