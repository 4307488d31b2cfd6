"""The one training loop (CPT, SFT, QLoRA, and the translate-and-tune teacher/translator).

A small explicit loop on top of accelerate (DDP under `accelerate launch`, bf16 autocast on CPU and GPU)
rather than transformers.Trainer, because its contract is what the stages need and Trainer does not give:
- the data order is a pure function of (rows, seed): every process knows every global batch, so the loss is
  normalised by the *global* count of loss tokens of the optimizer step — 2 processes × batch b give exactly
  the gradients of 1 process × batch 2b, and gradient accumulation equals one big batch;
- resume is exact, per rank: the checkpoint in the stage's keyed scratch folder holds trainable weights,
  optimizer and the loss history (rank 0) and every rank's own CPU and CUDA RNG states (ranks are seeded
  seed + rank, so each replays its own dropout masks), so a killed run continues to the same weights and
  curve; everything is loaded with `weights_only=True`, so a tampered scratch folder cannot run code;
- eval loss at step 0 (the model as it came in) and every `eval_every` steps, on a fixed dev subset;
- a hard budget: `max_steps` optimizer steps and/or `max_tokens` loss-bearing tokens.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import resource
import time
from pathlib import Path
from typing import Any

import torch

from dragoman.train.config import TrainConfig
from dragoman.train.packing import IGNORE, Row, collate

log = logging.getLogger("dragoman.train.trainer")


def step_order(n_rows: int, rows_per_step: int, steps: int, seed: int) -> list[list[int]]:
    """Row indices of each optimizer step's global batch: epochs of seeded permutations, concatenated."""
    if n_rows == 0:
        raise ValueError("no training rows: the stage's data produced nothing to train on (see its report)")
    order: list[int] = []
    epoch = 0
    while len(order) < rows_per_step * steps:
        perm = list(range(n_rows))
        random.Random(seed * 1000 + epoch).shuffle(perm)
        order += perm
        epoch += 1
    return [order[i * rows_per_step:(i + 1) * rows_per_step] for i in range(steps)]


def make_optimizer(params: list[torch.nn.Parameter], cfg: TrainConfig, on_cuda: bool) -> tuple[Any, str]:
    """The optimizer, and its name as it really ran: paged optimizers are CUDA-only, so CPU falls back."""
    name = cfg.optimizer
    if name == "paged_adamw_8bit" and not on_cuda:
        name = "adamw_8bit"
    if name == "adamw_8bit":
        try:
            import bitsandbytes as bnb
            return bnb.optim.AdamW8bit(params, lr=cfg.lr, weight_decay=cfg.weight_decay), name
        except Exception as e:  # no 8-bit kernels on this backend
            log.warning("8-bit AdamW unavailable here (%s): using torch AdamW", e)
            name = "adamw"
    if name == "paged_adamw_8bit":
        import bitsandbytes as bnb
        return bnb.optim.PagedAdamW8bit(params, lr=cfg.lr, weight_decay=cfg.weight_decay), name
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay), "adamw"


def cosine_lr(step: int, total: int, warmup: int) -> float:
    """Multiplier of the peak lr: linear warmup, then cosine decay to 0 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def rss_mb() -> float:
    try:
        import psutil
        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _loss_sum(model, batch: dict, autocast, head=None) -> tuple[torch.Tensor, int]:
    """Sum of token cross-entropies (not the mean: the caller divides by the global token count).

    With `head` (the model's LM head), a pre-hook hands it only the hidden states of loss-bearing positions, so
    logits exist for those alone. Full-vocabulary logits for every position (8 x 256 x 49k: 0.8 GB in fp32) cost
    more than the transformer on a CPU step: the copy to fp32, the zero-filled gradient, the page faults; in SFT
    most positions are prompt and need none.
    """
    labels = batch.pop("labels")
    keep = labels[:, 1:] != IGNORE                       # position t predicts token t + 1
    targets = labels[:, 1:][keep]
    if head is None:
        with autocast():
            logits = model(**batch, use_cache=False).logits[:, :-1][keep]
    else:
        at = torch.nn.functional.pad(keep, (0, 1))       # [B, T]: the last position predicts nothing
        hook = head.register_forward_pre_hook(lambda _, args: (args[0][at], *args[1:]))
        try:
            with autocast():
                logits = model(**batch, use_cache=False).logits  # [loss tokens, vocab]
        finally:
            hook.remove()
    loss = torch.nn.functional.cross_entropy(logits.float(), targets, reduction="sum")
    return loss, int(keep.sum())


def frozen_linears_to_bf16(model) -> int:
    """Store frozen Linear weights in bf16 when training under bf16 autocast; returns how many were converted.

    Autocast casts a weight to bf16 on every forward, and caches the cast only for weights that require grad: with
    LoRA the frozen base paid a full fp32->bf16 copy of the model per micro-step (~20 % of a CPU step). The matmul
    sees the same bf16 values either way, so training is unchanged. Embeddings, norms and any weight shared with an
    embedding (a tied LM head) stay fp32: they carry the residual stream's precision.
    """
    shared = {id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    n = 0
    for m in model.modules():
        if type(m) is torch.nn.Linear and not m.weight.requires_grad and m.weight.dtype == torch.float32 \
                and id(m.weight) not in shared:
            m.weight.data = m.weight.data.to(torch.bfloat16)
            if m.bias is not None and not m.bias.requires_grad:
                m.bias.data = m.bias.data.to(torch.bfloat16)
            n += 1
    return n


def compile_layers(model) -> int:
    """torch.compile each transformer block in place (torchtune's way: one block's graph serves every layer, so it
    compiles in about a minute, not per layer); returns how many were compiled."""
    n = 0
    for m in model.modules():
        if isinstance(m, torch.nn.ModuleList) and len(m) > 1 and len({type(c) for c in m}) == 1 \
                and type(m[0]).__name__.endswith(("DecoderLayer", "Block")):
            for layer in m:
                layer.compile()
                n += 1
    return n


def n_loss_tokens(rows: list[Row]) -> int:
    return sum(sum(1 for l in r.labels[1:] if l != IGNORE) for r in rows)


class Trainer:
    def __init__(self, model, cfg: TrainConfig, scratch: Path | None):
        from accelerate import Accelerator
        self.cfg, self.scratch = cfg, scratch
        self.acc = Accelerator(mixed_precision="bf16" if cfg.bf16 else "no", cpu=not torch.cuda.is_available())
        self.rank, self.world = self.acc.process_index, self.acc.num_processes
        torch.manual_seed(cfg.seed + self.rank)
        if cfg.grad_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            if hasattr(model, "enable_input_require_grads"):
                model.enable_input_require_grads()
        if cfg.bf16:
            log.info("%d frozen Linear weights stored in bf16", frozen_linears_to_bf16(model))
            for m in model.modules():  # peft casts a bf16 input up to its fp32 adapter; autocast casts it straight back
                if hasattr(m, "cast_input_dtype_enabled"):
                    m.cast_input_dtype_enabled = False
        if cfg.compile:
            n = compile_layers(model)
            if n:
                log.info("torch.compile: %d decoder layers (compiled on the first step)", n)
            else:
                log.warning("compile: true, but no list of *DecoderLayer/*Block modules found: training runs eager")
        self.head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        self.opt, self.optimizer_name = make_optimizer(self.trainable, cfg, self.acc.device.type == "cuda")
        self.model, self.opt = self.acc.prepare(model, self.opt)
        self.named_trainable = [n for n, p in self.acc.unwrap_model(self.model).named_parameters() if p.requires_grad]

    # ------------------------------------------------------------------ checkpoints (keyed scratch folder)
    def _ckpt(self) -> Path | None:
        return self.scratch / "checkpoint.pt" if self.scratch else None

    def _rng_file(self, step: int, rank: int) -> Path:
        return self.scratch / f"rng-step{step}-rank{rank}.pt"

    def save(self, step: int, history: list[dict]) -> None:
        path = self._ckpt()
        if path is None:
            return
        rng = {"cpu": torch.get_rng_state()}  # this rank's streams, written by this rank
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state()
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_save(rng, self._rng_file(step, self.rank))
        self.acc.wait_for_everyone()  # every rank's RNG file of this step exists before the checkpoint names it
        if self.acc.is_main_process:
            m = self.acc.unwrap_model(self.model)
            params = dict(m.named_parameters())
            _atomic_save({"step": step, "history": history, "optim": self.opt.state_dict(), "world": self.world,
                          "weights": {n: params[n].detach().cpu().clone() for n in self.named_trainable}}, path)
            for old in path.parent.glob("rng-step*-rank*.pt"):
                if not old.name.startswith(f"rng-step{step}-"):
                    old.unlink()
        self.acc.wait_for_everyone()

    def load(self) -> tuple[int, list[dict]]:
        path = self._ckpt()
        if path is None or not path.exists():
            return 0, []
        state = torch.load(path, weights_only=True)  # tensors and plain containers only: no code runs
        params = dict(self.acc.unwrap_model(self.model).named_parameters())
        with torch.no_grad():
            for n, w in state["weights"].items():
                params[n].copy_(w)
        self.opt.load_state_dict(state["optim"])
        rng_file = self._rng_file(state["step"], self.rank)
        if state.get("world") == self.world and rng_file.exists():
            rng = torch.load(rng_file, weights_only=True)
            torch.set_rng_state(rng["cpu"])
            if "cuda" in rng and torch.cuda.is_available():
                torch.cuda.set_rng_state(rng["cuda"])
        else:  # data order and weights still resume exactly; only dropout masks will differ
            log.warning("checkpoint written by %s processes, resuming with %d: RNG streams not restored",
                        state.get("world"), self.world)
        log.info("resumed from %s at step %d", path, state["step"])
        return state["step"], state["history"]

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self, rows: list[Row]) -> float:
        self.model.eval()
        total, count = torch.zeros(()), torch.zeros(())
        mine = rows[self.rank::self.world]
        for i in range(0, len(mine), self.cfg.batch_size):
            batch = {k: v.to(self.acc.device) for k, v in collate(mine[i:i + self.cfg.batch_size], self.cfg.packing).items()}
            s, n = _loss_sum(self.model, batch, self.acc.autocast, self.head)
            total += s.detach().cpu()
            count += n
        if self.world > 1:
            total, count = (self.acc.reduce(t.to(self.acc.device), "sum").cpu() for t in (total, count))
        self.model.train()
        if count == 0:
            raise ValueError("the dev rows hold no loss-bearing tokens (prompts longer than seq_len?): "
                             "raise seq_len or check the dev split")
        return float(total / count)

    # ------------------------------------------------------------------ the loop
    def fit(self, train: list[Row], dev: list[Row]) -> dict:
        cfg = self.cfg
        micro = cfg.batch_size * self.world                # rows per micro-step, all processes
        if not cfg.max_steps:
            if cfg.epochs <= 0:
                raise ValueError("set max_steps > 0, or max_steps: 0 with epochs > 0")
            cfg.max_steps = max(1, math.ceil(cfg.epochs * len(train) / (micro * cfg.grad_accum)))
            log.info("%s epochs of %d rows = %d steps", cfg.epochs, len(train), cfg.max_steps)
        steps = step_order(len(train), micro * cfg.grad_accum, cfg.max_steps, cfg.seed)
        warmup = max(1, int(cfg.warmup_ratio * cfg.max_steps))
        dev = dev[:cfg.eval_rows]
        start, history = self.load()
        if start == 0:
            history = [{"step": 0, "eval_loss": self.evaluate(dev)}]
            log.info("step 0: eval loss %.4f", history[0]["eval_loss"])
        tokens_seen = sum(h.get("tokens", 0) for h in history)
        self.model.train()
        t0, real_tokens, last_step = time.perf_counter(), 0, start
        timings: list[dict] = []  # per-step speed and memory: DVCLive only, never in cached artifacts
        for step in range(start, cfg.max_steps):
            t_step, tok_before = time.perf_counter(), real_tokens
            if cfg.max_tokens and tokens_seen >= cfg.max_tokens:
                break
            lr = cfg.lr * cosine_lr(step, cfg.max_steps, warmup)
            for g in self.opt.param_groups:
                g["lr"] = lr
            rows = [train[i] for i in steps[step]]
            n_global = max(1, n_loss_tokens(rows))
            loss_sum = 0.0
            for k in range(cfg.grad_accum):
                micro_rows = rows[k * micro:(k + 1) * micro][self.rank * cfg.batch_size:(self.rank + 1) * cfg.batch_size]
                batch = {key: v.to(self.acc.device) for key, v in collate(micro_rows, cfg.packing).items()}
                real_tokens += int(sum(sum(r.attention_mask) for r in micro_rows))
                ctx = self.acc.no_sync(self.model) if k < cfg.grad_accum - 1 else contextlib.nullcontext()
                with ctx:
                    s, _ = _loss_sum(self.model, batch, self.acc.autocast, self.head)
                    # DDP averages gradients over processes: scale so the result is sum / global token count
                    self.acc.backward(s * self.world / n_global)
                loss_sum += float(s.detach())
            grad_norm = float(self.acc.clip_grad_norm_(self.trainable, cfg.max_grad_norm))
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
            if self.world > 1:
                loss_sum = float(self.acc.reduce(torch.tensor(loss_sum, device=self.acc.device), "sum"))
            entry = {"step": step + 1, "loss": loss_sum / n_global, "lr": lr, "grad_norm": grad_norm, "tokens": n_global}
            tokens_seen += n_global
            if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.max_steps:
                entry["eval_loss"] = self.evaluate(dev)
            history.append(entry)
            timings.append({"step": step + 1, "rss_mb": round(rss_mb(), 1), "tokens_per_s": round(
                (real_tokens - tok_before) * self.world / max(time.perf_counter() - t_step, 1e-9), 1)})
            last_step = step + 1
            if self.acc.is_main_process and (step + 1) % max(1, cfg.max_steps // 20) == 0:
                log.info("step %d/%d loss %.4f lr %.2e%s", step + 1, cfg.max_steps, entry["loss"], lr,
                         f" eval {entry['eval_loss']:.4f}" if "eval_loss" in entry else "")
            if os.environ.get("DRAGOMAN_FAULT_AT_STEP") == str(step + 1):  # fault injection for the resume tests
                raise SimulatedKill(f"simulated kill after step {step + 1}")
            if cfg.save_every and (step + 1) % cfg.save_every == 0:
                self.save(step + 1, history)
        if "eval_loss" not in history[-1]:
            history[-1]["eval_loss"] = self.evaluate(dev)
        wall = time.perf_counter() - t0
        return {"history": history, "timings": timings, "steps": last_step, "tokens_seen": tokens_seen,
                "optimizer": self.optimizer_name, "processes": self.world,
                "perf": {"train_wall_s": round(wall, 2), "tokens_per_s": round(real_tokens * self.world / max(wall, 1e-9), 1),
                         "steady_rss_mb": round(rss_mb(), 1), "resumed_from_step": start}}

    def unwrap(self):
        return self.acc.unwrap_model(self.model)


def _atomic_save(obj: dict, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class SimulatedKill(RuntimeError):
    """Raised by DRAGOMAN_FAULT_AT_STEP=k after step k, before its checkpoint: a crash at the worst moment."""
