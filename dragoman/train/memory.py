"""Predict peak training memory of a stage: weights, gradients, optimizer states, activations, logits.

    python -m dragoman.train.memory --stage qlora                     # the stage as params.yaml configures it
    python -m dragoman.train.memory --stage qlora --model Qwen/Qwen2-1.5B --seq-len 512 --batch 1   # overrides
    python -m dragoman.train.memory --stage cpt --params /tmp/p.yaml --json

What dragoman's loop holds, per component (bytes; N = parameters, T = trainable parameters, t = batch x seq tokens):
- weights: N x 4 (fp32 master weights; autocast computes in bf16). LoRA under bf16: the frozen Linear weights are
  stored in bf16 (2 bytes; trainer.frozen_linears_to_bf16). QLoRA: Linear weights in NF4 = 0.5 byte each plus
  block constants (fp32 absmax per 64 weights = 0.0625 byte; double-quantized: ~0.0157), everything else fp32
  (prepare_model_for_kbit_training upcasts it);
- gradients: T x 4; optimizer: AdamW T x 8, 8-bit AdamW T x 2;
- activations kept for backward: per token and layer ~ (6h + 2 kv + 5 i) values in bf16 (norm outputs, q/k/v,
  attention output, MLP gate/up/act/product) + the residual stream in fp32; with gradient checkpointing only each
  layer's input (h values, fp32) plus one layer's activations during recomputation;
- logits: t x V x 10 bytes (bf16 logits, their fp32 upcast, the fp32 log-softmax gradient): at 150k-token
  vocabularies this is often the largest single term;
- runtime: a fixed overhead (CUDA context ~0.5 GB on GPU; torch + transformers + peft imported: ~0.42 GB of RSS).
LoRA's trainable parameters: r x (in + out) per target module and layer, plus any modules_to_save.
Checked against measured CPU runs in tests/test_memory.py (tolerance stated there).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

GB = 1024 ** 3
# configs of the recipes' base models, so the estimate works offline (values from their config.json on the hub)
KNOWN = {
    "Qwen/Qwen2-1.5B": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                            num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "Qwen/Qwen2.5-3B": dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
                            num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "meta-llama/Meta-Llama-3-8B-Instruct": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                                                num_attention_heads=32, num_key_value_heads=8, vocab_size=128256,
                                                tie_word_embeddings=False),
}
LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class Arch:
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    vocab_size: int
    tie_word_embeddings: bool = True

    @property
    def kv_dim(self) -> int:
        return self.num_key_value_heads * self.hidden_size // self.num_attention_heads

    def shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each Linear module of one decoder layer."""
        h, i, kv = self.hidden_size, self.intermediate_size, self.kv_dim
        return {"q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (h, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}

    def linear_params(self) -> int:
        return self.num_hidden_layers * sum(a * b for a, b in self.shapes().values())

    def other_params(self) -> int:
        emb = self.vocab_size * self.hidden_size
        norms = (2 * self.num_hidden_layers + 1) * self.hidden_size
        return emb * (1 if self.tie_word_embeddings else 2) + norms


def load_arch(model: str) -> Arch:
    fields = Arch.__dataclass_fields__
    if model in KNOWN:
        return Arch(**KNOWN[model])
    cfg_path = Path(model, "config.json")
    if cfg_path.exists():
        cfg = json.loads(cfg_path.read_text())
    else:
        from transformers import AutoConfig  # a hub id not in KNOWN: needs the hub
        cfg = AutoConfig.from_pretrained(model).to_dict()
    cfg.setdefault("num_key_value_heads", cfg["num_attention_heads"])
    return Arch(**{k: cfg[k] for k in fields if k in cfg})


def estimate(arch: Arch, method: str, seq_len: int, batch: int, optimizer: str, grad_checkpointing: bool,
             lora: dict | None = None, device: str = "cuda", bf16: bool = True) -> dict:
    """Bytes per component and their sum, for one process."""
    n_lin, n_other = arch.linear_params(), arch.other_params()
    if method == "qlora":
        weights = n_lin * (0.5 + 0.0157) + n_other * 4
    elif method == "lora" and bf16:
        weights = n_lin * 2 + n_other * 4
    else:
        weights = (n_lin + n_other) * 4
    if method == "full":
        trainable = n_lin + n_other
    else:
        targets = set((lora or {}).get("target_modules", LINEAR))
        r = (lora or {}).get("r", 8)
        trainable = arch.num_hidden_layers * sum(r * (a + b) for m, (a, b) in arch.shapes().items() if m in targets)
        if set((lora or {}).get("modules_to_save") or []) & {"embed_tokens", "lm_head"}:
            trainable += arch.vocab_size * arch.hidden_size * len(set(lora["modules_to_save"]) & {"embed_tokens", "lm_head"})
    grads = trainable * 4
    opt = trainable * (2 if "8bit" in optimizer else 8)
    t = seq_len * batch
    h, i, kv, L = arch.hidden_size, arch.intermediate_size, arch.kv_dim, arch.num_hidden_layers
    per_layer_token = (6 * h + 2 * kv + 5 * i) * 2 + h * 4  # bf16 saved activations + fp32 residual
    if method != "full":  # each adapted module also keeps its LoRA branch: x @ A (r values) and the branch output
        targets = set((lora or {}).get("target_modules", LINEAR))
        r = (lora or {}).get("r", 8)
        per_layer_token += 2 * sum(out + r for m, (_, out) in arch.shapes().items() if m in targets)
    if grad_checkpointing:
        acts = t * (L * h * 4 + per_layer_token)
    else:
        acts = t * L * per_layer_token
    logits = t * arch.vocab_size * 10
    runtime = 0.5 * GB if device == "cuda" else 0.42 * GB
    parts = {"weights": weights, "gradients": grads, "optimizer": opt, "activations": acts, "logits": logits,
             "runtime": runtime}
    return {"bytes": {k: int(v) for k, v in parts.items()}, "total": int(sum(parts.values())),
            "params": n_lin + n_other, "trainable": trainable}


def stage_settings(params: dict, stage: str) -> dict:
    p = params[stage]
    method = "qlora" if stage == "qlora" else p.get("method", "lora")
    return {"method": method, "seq_len": p["seq_len"], "batch": p["batch_size"], "optimizer": p["optimizer"],
            "grad_checkpointing": p["grad_checkpointing"], "lora": p.get("lora"), "bf16": p.get("bf16", True)}


def report(est: dict, title: str) -> str:
    lines = [title, f"  parameters {est['params'] / 1e6:,.1f} M, trainable {est['trainable'] / 1e6:,.2f} M"]
    for k, v in est["bytes"].items():
        lines.append(f"  {k:<12}{v / GB:8.2f} GiB")
    lines.append(f"  {'total':<12}{est['total'] / GB:8.2f} GiB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import yaml
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", required=True, choices=["cpt", "sft", "qlora", "teacher", "translator"])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--model", default=None, help="hub id or folder (default: base.model, or models/base if built)")
    ap.add_argument("--seq-len", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None, help="rows per process per micro-step")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    params = yaml.safe_load(Path(a.params).read_text())
    s = stage_settings(params, a.stage)
    s["seq_len"], s["batch"] = a.seq_len or s["seq_len"], a.batch or s["batch"]
    model = a.model or params["base"]["model"]
    if model not in KNOWN and not Path(model).exists() and Path("models/base/config.json").exists():
        model = "models/base"
    est = estimate(load_arch(model), s["method"], s["seq_len"], s["batch"], s["optimizer"], s["grad_checkpointing"],
                   s["lora"], a.device, s["bf16"])
    if a.json:
        print(json.dumps({"model": model, **s, **est}, indent=1))
    else:
        print(report(est, f"{a.stage}: {model}, {s['method']}, {s['batch']} x {s['seq_len']} tokens, {s['optimizer']}, "
                          f"grad checkpointing {'on' if s['grad_checkpointing'] else 'off'} ({a.device})"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
