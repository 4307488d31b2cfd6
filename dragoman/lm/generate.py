"""The one generation backend: every stage that makes a model write text goes through `Generator`.

Two backends behind one call, `Generator(...)(items) -> {id: Output}`:
- vLLM (`vllm.LLM.chat`) when vllm is importable and a GPU is present (`backend: auto`);
- Hugging Face `generate` otherwise: real batching (left padding, batches sorted by prompt length so little is
  padded, KV cache, greedy or beam search, `max_new_tokens`, stop at end of turn).
Prompts are chat messages rendered with the model's chat template.

Outputs are cached as they are produced: `<cache_dir>/<key>.jsonl`, one line per item, appended and flushed
after every batch, where key = hash(model content, prompt template, generation params, backend and its
settings: HF and vLLM outputs differ in low bits, as do vLLM runs at another tensor-parallel size). A rerun with
unchanged inputs loads nothing and generates nothing; after a kill at item k of n the rerun generates only the
remaining n - k. `DRAGOMAN_FAULT_AT_ITEM=k` simulates that kill (tests).
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from dragoman.lm.genconfig import GenConfig
from dragoman.workflow.io import dumps, sha256_tree, stable_hash
from dragoman.workflow.pin import hub_ref

log = logging.getLogger("dragoman.lm.generate")


@dataclass
class Output:
    text: str
    new_tokens: int
    truncated: bool  # no end-of-turn before max_new_tokens


class SimulatedKill(RuntimeError):
    """Raised by DRAGOMAN_FAULT_AT_ITEM (tests of the partial-resume contract)."""


def model_fingerprint(model: str) -> str:
    """Content hash of a local model folder; a hub id stands for itself."""
    return sha256_tree(model) if Path(model).exists() else f"hub:{model}"


def vllm_usable() -> bool:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


def backend_of(cfg: GenConfig) -> str:
    """The backend a config runs on here: `auto` = vLLM where it is installed and a GPU is present, else HF."""
    return ("vllm" if vllm_usable() else "hf") if cfg.backend == "auto" else cfg.backend


class Generator:
    def __init__(self, model: str, cfg: GenConfig, template: str, cache_dir: Path | None, name: str = "generate",
                 loaded: tuple | None = None):
        """`loaded`: the stage's own (model, tokenizer) of `model` (models.load_for_inference); the HF backend
        generates with it when it has the device and dtype this config wants (a GPU: one copy per stage)."""
        self.model_path, self.cfg, self.name = model, cfg, name
        self.backend = backend_of(cfg)
        self.key = stable_hash(model_fingerprint(model), template, cfg.cache_fields(), self.backend_settings())[:16]
        self.cache_file = Path(cache_dir) / f"{name}-{self.key}.jsonl" if cache_dir else None
        self.cache: dict[str, Output] = self._load_cache()
        self.generate_calls = 0    # batches actually generated (a full-cache rerun makes zero)
        self.generated_items = 0
        self.new_tokens = 0
        self.seconds = 0.0
        self._model = self._tok = None
        if loaded is not None and self.backend == "hf" and self._reusable(loaded[0]):
            self._model, self._tok = loaded

    def _reusable(self, model) -> bool:
        want = torch.bfloat16 if self.cfg.bf16 else torch.float32
        return model.dtype == want and model.device.type == ("cuda" if torch.cuda.is_available() else "cpu")

    def close(self) -> None:
        """Free the model (vLLM holds most of the GPU's memory) before the stage loads another."""
        self._model = None
        if torch.cuda.is_available():
            import gc
            gc.collect()
            torch.cuda.empty_cache()

    def backend_settings(self) -> dict:
        """The backend and what of it changes outputs; vLLM shards the model over every GPU the job was given
        (CUDA_VISIBLE_DEVICES: what SLURM or the user allotted)."""
        if self.backend == "vllm":
            return {"backend": "vllm", "tensor_parallel_size": max(1, torch.cuda.device_count())}
        return {"backend": "hf"}

    # ------------------------------------------------------------------ cache
    def _load_cache(self) -> dict[str, Output]:
        out: dict[str, Output] = {}
        if self.cache_file and self.cache_file.exists():
            for line in self.cache_file.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a kill: that item is generated again
                    continue
                out[rec["id"]] = Output(rec["text"], rec["new_tokens"], rec["truncated"])
            log.info("%s: %d cached outputs in %s", self.name, len(out), self.cache_file)
        return out

    def _append(self, done: dict[str, Output]) -> None:
        self.cache.update(done)
        if not self.cache_file:
            return
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.cache_file, "a", encoding="utf-8") as f:
            for i, o in done.items():
                f.write(dumps({"id": i, **asdict(o)}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    # ------------------------------------------------------------------ generation
    def __call__(self, items: list[tuple[str, list[dict]]]) -> dict[str, Output]:
        """{id: Output} for [(id, chat messages)]; ids must be unique and stable across runs."""
        todo = [(i, m) for i, m in items if i not in self.cache]
        if todo:
            log.info("%s: %d of %d items to generate (%s backend)", self.name, len(todo), len(items), self.backend)
            self._run(todo)
        return {i: self.cache[i] for i, _ in items}

    def _run(self, todo: list[tuple[str, list[dict]]]) -> None:
        from tqdm import tqdm
        fault = int(os.environ.get("DRAGOMAN_FAULT_AT_ITEM", "0"))
        batches = self._batches(todo)
        with tqdm(total=len(todo), desc=self.name, unit="item", mininterval=2.0) as bar:
            for batch in batches:
                t0 = time.perf_counter()
                done = self._generate_vllm(batch) if self.backend == "vllm" else self._generate_hf(batch)
                self.seconds += time.perf_counter() - t0
                self.generate_calls += 1
                self.generated_items += len(done)
                self.new_tokens += sum(o.new_tokens for o in done.values())
                self._append(done)
                bar.update(len(done))
                if fault and self.generated_items >= fault:
                    raise SimulatedKill(f"DRAGOMAN_FAULT_AT_ITEM={fault}: killed after {self.generated_items} items")

    def _batches(self, todo: list[tuple[str, list[dict]]]) -> list[list[tuple[str, list[int]]]]:
        """Prompts rendered and tokenized, sorted longest first (OOM shows at once, batches share lengths)."""
        if self.backend == "vllm":  # vLLM schedules its own batches; chunks only bound the cache's write interval
            return [todo[i:i + 256] for i in range(0, len(todo), 256)]
        tok = self.tokenizer
        enc = [(i, tok(tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True),
                       add_special_tokens=False)["input_ids"]) for i, m in todo]
        enc.sort(key=lambda x: (-len(x[1]), x[0]))
        bs = self.cfg.batch_size
        return [enc[i:i + bs] for i in range(0, len(enc), bs)]

    @property
    def tokenizer(self):
        if self._tok is None:
            from transformers import AutoTokenizer
            repo, rev = hub_ref(self.model_path)
            self._tok = AutoTokenizer.from_pretrained(repo, revision=rev)
            self._tok.padding_side = "left"
            if self._tok.pad_token_id is None:
                self._tok.pad_token = self._tok.eos_token
        return self._tok

    def stop_ids(self) -> list[int]:
        """End of turn: the tokenizer's EOS plus the generation config's (chat models often end turns differently)."""
        ids = {self.tokenizer.eos_token_id}
        gen_eos = getattr(self.model.generation_config, "eos_token_id", None)
        ids |= set(gen_eos if isinstance(gen_eos, list) else [gen_eos])
        return sorted(i for i in ids if i is not None)

    @property
    def model(self):
        if self._model is None:
            from transformers import AutoModelForCausalLM
            device = "cuda" if torch.cuda.is_available() else "cpu"
            # bf16 weights and activations, not fp32 + autocast: autocast casts every activation both ways and its
            # KV cache comes out fp32; batched decoding ran 1.5x faster in bf16 (bench/generation.py)
            dtype = torch.bfloat16 if self.cfg.bf16 else torch.float32
            repo, rev = hub_ref(self.model_path)
            self._model = AutoModelForCausalLM.from_pretrained(repo, revision=rev, dtype=dtype).to(device).eval()
        return self._model

    @torch.no_grad()
    def _generate_hf(self, batch: list[tuple[str, list[int]]]) -> dict[str, Output]:
        tok, model = self.tokenizer, self.model
        width = max(len(ids) for _, ids in batch)
        input_ids = torch.tensor([[tok.pad_token_id] * (width - len(ids)) + ids for _, ids in batch])
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for _, ids in batch])
        stops = self.stop_ids()
        dev = model.device
        out = model.generate(input_ids=input_ids.to(dev), attention_mask=mask.to(dev), do_sample=False,
                             num_beams=self.cfg.num_beams, max_new_tokens=self.cfg.max_new_tokens,
                             repetition_penalty=self.cfg.repetition_penalty,
                             eos_token_id=stops, pad_token_id=tok.pad_token_id, use_cache=True)
        done = {}
        for (i, _), row in zip(batch, out[:, width:].tolist()):
            end = next((k for k, t in enumerate(row) if t in stops), None)
            new = row if end is None else row[:end]
            done[i] = Output(tok.decode(new, skip_special_tokens=True).strip(), len(new), end is None)
        return done

    def _generate_vllm(self, batch: list[tuple[str, list[dict]]]) -> dict[str, Output]:
        from vllm import LLM, SamplingParams
        if self._model is None:
            repo, rev = hub_ref(self.model_path)
            self._model = LLM(model=repo, revision=rev, tokenizer_revision=rev, seed=0,
                              dtype="bfloat16" if self.cfg.bf16 else "float32",
                              tensor_parallel_size=self.backend_settings()["tensor_parallel_size"])
        if self.cfg.num_beams > 1:
            raise ValueError("generation.num_beams > 1 is not wired for the vLLM backend: set backend: hf")
        sp = SamplingParams(temperature=0.0, max_tokens=self.cfg.max_new_tokens,
                            repetition_penalty=self.cfg.repetition_penalty)
        outs = self._model.chat([m for _, m in batch], sp, use_tqdm=False)
        return {i: Output(o.outputs[0].text.strip(), len(o.outputs[0].token_ids), o.outputs[0].finish_reason == "length")
                for (i, _), o in zip(batch, outs)}

    def perf(self) -> dict:
        """Speed of what this run generated (cached items cost nothing and are not counted)."""
        return {"items": self.generated_items, "generate_calls": self.generate_calls, "new_tokens": self.new_tokens,
                "seconds": round(self.seconds, 3),
                "tokens_per_s": round(self.new_tokens / self.seconds, 2) if self.seconds else None,
                "backend": self.backend}
