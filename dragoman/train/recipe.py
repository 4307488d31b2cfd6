"""The plumbing every training stage shares, written once: scratch key, fit, rank gating, save, curves, summary.

A training script (scripts/cpt.py, sft.py, qlora.py, teacher.py, translator.py) keeps only its method: which
model it loads, how it wraps it (LoRA, 4-bit), which rows it trains on. Then one call:

    p, cfg, model, tok = recipe.load(st, "cpt")
    train, dev = recipe.records(st, "train", "dev")
    ...                                 # the method: rows, LoRA / 4-bit
    report = recipe.train(st, model, tok, cfg, train_rows, dev_rows, lora=p["lora"])  # or lora=None: full
    recipe.write_report(st, report, method=..., **what_this_method_adds)  # nothing off the main rank (DDP)

`train` runs the loop (dragoman/train/trainer.py) with its resume state in the stage's keyed scratch folder,
then on the main process writes `model` (merged weights + `adapter/`) and `live` (DVCLive curves), removes the
resume state, records the loop's speed in the stage's perf, and returns the report's common fields.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

from dragoman.lm.models import load_model
from dragoman.train.finetune import apply_lora
from dragoman.train.packing import Row
from dragoman.train.config import TrainConfig
from dragoman.train.trainer import Trainer
from dragoman.workflow import io, scratch as S

log = logging.getLogger("dragoman.train.recipe")


def train(st, model, tok, cfg: TrainConfig, train_rows: list[Row], dev_rows: list[Row], init: str | None = None,
          lora: dict | None = None, kbit: bool = False, scratch: Path | None = None) -> dict | None:
    """Fit, save and describe one training stage; returns the report's common fields (None off the main rank).

    `init` is the folder (or hub id) the model was loaded from (default: the `model` input): a LoRA adapter is
    merged into a fresh copy of it. `lora` (a params `lora:` block) wraps the model in a peft LoRA first, `kbit`
    for a 4-bit model (QLoRA); None trains every weight. `scratch` defaults to the stage's keyed folder; a stage
    that keeps other state there (the translator's generation cache) passes a subfolder, so removing the resume
    state keeps the rest.
    """
    init, scratch = init or st.input["model"], scratch or S.for_stage(st)
    if lora is not None:
        model = apply_lora(model, lora, kbit=kbit, seed=cfg.seed)
    n_params = count_params(model)
    trainer = Trainer(model, cfg, scratch)
    result = trainer.fit(train_rows, dev_rows)
    st.perf.update(result["perf"])
    if not trainer.acc.is_main_process:
        return None
    save_model(trainer.unwrap(), tok, st.output["model"], init)
    write_live(result["history"], st.output["live"], result["timings"])
    shutil.rmtree(scratch, ignore_errors=True)  # outputs written: a forced rerun trains from scratch
    return {**summary(result), "trained": True, "params": n_params, "train_rows": len(train_rows)}


def load(st, section: str, init: str | None = None, **load_kwargs) -> tuple[dict, TrainConfig, object, object]:
    """(params section, its TrainConfig, model, tokenizer) of a training stage; the model comes from `init`
    (default: the stage's `model` input), `load_kwargs` go to load_model (e.g. quantize_4bit)."""
    p = st.params[section]
    model, tok = load_model(init or st.input["model"], **load_kwargs)
    return p, TrainConfig.from_params(p), model, tok


def records(st, *names: str) -> list[list[dict]]:
    """The JSONL records of the named inputs, e.g. `train, dev = records(st, "train", "dev")`."""
    return [list(io.read_jsonl(st.input[n])) for n in names]


def write_report(st, report: dict | None, **fields) -> None:
    """The stage's report: the common fields from `train` plus the method's own; only on the main process,
    where `train` returned them (None elsewhere)."""
    if report is not None:
        io.write_json(st.output["report"], {**report, **fields})


def untrained(st, model, tok, init: str) -> dict:
    """Outputs of a stage with nothing to train on (the judge accepted nothing): the model as it came, said so."""
    log.warning("%s: no training rows: the output is the untrained %s", st.name, init)
    save_model(model, tok, st.output["model"], init)
    write_live([], st.output["live"])
    return {"trained": False, "steps": 0, "tokens_seen": 0, "params": count_params(model), "train_rows": 0}


def count_params(model) -> dict:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}


def save_model(model, tok, out: str, init: str) -> None:
    """A Hugging Face folder with full weights (what the next stage loads), plus `adapter/` for LoRA.

    A LoRA adapter is merged into the fp32 weights reloaded from `init`, not into the training copy, whose frozen
    weights are 4-bit under QLoRA (and bf16 under autocast): the merged model loses nothing to training precision.
    """
    from peft import PeftModel
    with io.atomic_path(out) as tmp:
        if hasattr(model, "peft_config"):
            model.save_pretrained(tmp / "adapter")
            base, _ = load_model(init)
            model = PeftModel.from_pretrained(base, tmp / "adapter").merge_and_unload()
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)


def write_live(history: list[dict], live_dir: str, timings: list[dict] = ()) -> None:
    """Curves through DVCLive, written once from the (resumable) history, so `dvc plots show` draws them.

    `timings` (tokens/s, memory per step) go here and only here: the live folder is not a cached artifact.
    """
    from dvclive import Live
    with io.atomic_path(live_dir) as tmp:
        with Live(str(tmp), save_dvc_exp=False, dvcyaml=None, report=None) as live:
            for h in history:
                live.step = h["step"]
                for k in ("loss", "lr", "grad_norm", "eval_loss"):
                    if k in h:
                        live.log_metric(("eval/" if k == "eval_loss" else "train/") + k, h[k], plot=True)
            for t in timings:
                live.step = t["step"]
                live.log_metric("perf/tokens_per_s", t["tokens_per_s"], plot=True)
                live.log_metric("perf/rss_mb", t["rss_mb"], plot=True)


def summary(result: dict) -> dict:
    h = result["history"]
    evals = [x for x in h if "eval_loss" in x]
    train = [x for x in h if "loss" in x]
    return {"steps": result["steps"], "tokens_seen": result["tokens_seen"], "optimizer": result["optimizer"],
            "processes": result["processes"], "eval_loss_step0": round(evals[0]["eval_loss"], 5),
            "eval_loss_final": round(evals[-1]["eval_loss"], 5),
            "train_loss_first": round(train[0]["loss"], 5) if train else None,
            "train_loss_final": round(train[-1]["loss"], 5) if train else None}
