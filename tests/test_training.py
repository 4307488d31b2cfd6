"""The training core on a tiny random model: packing, prompt masking, pinned first losses, exact resume, DDP."""
import json
import os
import subprocess

import pytest
import torch

from conftest import BIN, ROOT
from dragoman.lm.chat import tokenize_chat, tokenize_text
from dragoman.train.finetune import apply_lora, rows_of
from dragoman.lm.models import load_model
from dragoman.train.packing import IGNORE, collate, pack, pad
from dragoman.train.trainer import SimulatedKill, Trainer, TrainConfig, cosine_lr, step_order

TEXTS = ["مرحبا كيف حالك اليوم؟", "The quick brown fox jumps over the lazy dog.", "الكتاب على الطاولة.",
         "Hello, how are you today?", "ذهب الولد إلى المدرسة صباحا.", "Good morning, my friend."] * 6
LORA = {"r": 4, "alpha": 8, "dropout": 0.1, "target_modules": ["q_proj", "v_proj", "gate_proj"]}


def cfg(**kw):
    base = dict(seq_len=32, batch_size=4, grad_accum=1, lr=1e-2, max_steps=6, eval_every=3, eval_rows=4,
                save_every=2, bf16=False, seed=0, warmup_ratio=0.2)
    return TrainConfig(**{**base, **kw})


def rows_for(tok, packing=True, seq_len=32):
    return rows_of([tokenize_text(tok, t) for t in TEXTS], seq_len, tok.pad_token_id, packing)


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_packed_logits_equal_unpacked(tiny_model, impl):
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation=impl).eval()
    _, tok = load_model(str(tiny_model))
    examples = [tokenize_text(tok, t) for t in TEXTS[:4]]
    rows = pack(examples, 64, tok.pad_token_id)
    assert len(rows) < len(examples)  # several examples share a row
    batch = collate(rows, packed=True)
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
        offset, row = 0, 0
        for ids, _ in examples:
            if offset + len(ids) > 64:
                row, offset = row + 1, 0
            alone = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0]
            assert torch.allclose(packed[row, offset:offset + len(ids)], alone, atol=1e-5), (impl, row, offset)
            offset += len(ids)


def test_padding_rows_and_pack_keeps_every_token():
    ex = [([1, 2, 3], [1, 2, 3]), ([4, 5], [IGNORE, 5]), ([6] * 7, [6] * 7)]
    packed = pack(ex, 8, 0)
    assert [r.input_ids for r in packed] == [[1, 2, 3, 4, 5, 0, 0, 0], [6] * 7 + [0]]
    assert packed[0].position_ids == [0, 1, 2, 0, 1, 0, 1, 2] and packed[0].labels[3] == IGNORE
    padded = pad(ex, 8, 0)
    assert len(padded) == 3 and padded[1].attention_mask == [1, 1, 0, 0, 0, 0, 0, 0]
    assert "attention_mask" not in collate(packed, True) and "attention_mask" in collate(padded, False)


def test_prompt_masking_marks_exactly_the_assistant_tokens(tiny_model):
    _, tok = load_model(str(tiny_model))
    msgs = [{"role": "user", "content": "Translate: Hello"}, {"role": "assistant", "content": "مرحبا"},
            {"role": "user", "content": "Again"}, {"role": "assistant", "content": "Hi"}]
    ids, labels = tokenize_chat(tok, msgs)
    text = tok.apply_chat_template(msgs, tokenize=False)
    assert tok.decode(ids) == text
    lossy = [i for i, l in zip(ids, labels) if l != IGNORE]
    # exactly the two answers with their end-of-turn marker, nothing of the prompts or role headers
    assert tok.decode(lossy) == "مرحبا</s>\nHi</s>\n"
    assert all(l in (IGNORE, i) for i, l in zip(ids, labels))


def test_step_order_and_schedule():
    a = step_order(10, 4, 5, seed=0)
    assert a == step_order(10, 4, 5, seed=0) and a != step_order(10, 4, 5, seed=1)
    assert sorted(a[0] + a[1] + a[2][:2]) == list(range(10))  # first epoch is a permutation
    assert cosine_lr(0, 10, 2) == 0.5 and cosine_lr(2, 10, 2) == 1.0 and cosine_lr(10, 10, 2) == 0.0


def train_tiny(tiny_model, scratch, **kw):
    torch.manual_seed(0)
    model, tok = load_model(str(tiny_model))
    model = apply_lora(model, LORA)
    tr = Trainer(model, cfg(**kw), scratch)
    result = tr.fit(rows_for(tok), rows_for(tok)[:4])
    weights = {n: p.detach().clone() for n, p in tr.unwrap().named_parameters() if p.requires_grad}
    return result, weights


def test_first_losses_are_pinned_and_eval_falls(tiny_model, tmp_path):
    result, _ = train_tiny(tiny_model, None)
    h = result["history"]
    losses = [round(x["loss"], 4) for x in h if "loss" in x]
    # pinned from the first run of this tiny config (seeded model, data order, LoRA init): a change in
    # packing, masking, loss normalisation or schedule moves them
    assert losses[:3] == pytest.approx([5.7196, 5.7220, 5.6616], abs=2e-3), losses
    assert h[-1]["eval_loss"] < h[0]["eval_loss"]


def test_resume_after_a_kill_gives_the_same_weights_and_curve(tiny_model, tmp_path, monkeypatch):
    full, w_full = train_tiny(tiny_model, tmp_path / "a")
    # killed after step 5, before its checkpoint: the last checkpoint is step 4 (save_every=2)
    monkeypatch.setenv("DRAGOMAN_FAULT_AT_STEP", "5")
    with pytest.raises(SimulatedKill):
        train_tiny(tiny_model, tmp_path / "b")
    monkeypatch.delenv("DRAGOMAN_FAULT_AT_STEP")
    resumed, w_res = train_tiny(tiny_model, tmp_path / "b")
    assert resumed["perf"]["resumed_from_step"] == 4
    for n in w_full:
        assert torch.allclose(w_full[n], w_res[n], atol=1e-6), n
    assert [round(x.get("loss", 0), 5) for x in resumed["history"]] == [round(x.get("loss", 0), 5) for x in full["history"]]


def test_two_process_ddp_matches_one_process_on_the_same_global_batch(tiny_model, tmp_path):
    driver = ROOT / "tests" / "ddp_driver.py"
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    one = subprocess.run([str(BIN / "python"), str(driver), str(tiny_model), str(tmp_path / "one.json"), "4"],
                         env=env, capture_output=True, text=True)
    assert one.returncode == 0, one.stderr[-3000:]
    # --multi_gpu = "several processes through torch.distributed.run"; without a GPU the trainer picks gloo on CPU
    two = subprocess.run([str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                          "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29533",
                          str(driver), str(tiny_model), str(tmp_path / "two.json"), "2"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("one.json", "two.json"))
    assert a["processes"] == 1 and b["processes"] == 2
    assert len(a["history"]) == len(b["history"]) > 2, (len(a["history"]), len(b["history"]))
    assert [h["step"] for h in a["history"]] == [h["step"] for h in b["history"]]
    for x, y in zip(a["history"], b["history"], strict=True):
        for k in ("loss", "eval_loss"):
            if k in x:
                assert x[k] == pytest.approx(y[k], abs=1e-4), (k, x, y)
        # the gradient itself: AdamW is nearly scale-invariant, so a gradient off by the process count would
        # leave the losses equal and show only here
        if "grad_norm" in x:
            assert x["grad_norm"] == pytest.approx(y["grad_norm"], rel=1e-3), (x, y)
    assert sum("grad_norm" in x for x in a["history"]) == 4  # every optimizer step has one


def launch_two(driver, args: list[str], env: dict, port: int) -> subprocess.CompletedProcess:
    # --multi_gpu = "several processes through torch.distributed.run"; without a GPU the trainer picks gloo on CPU
    return subprocess.run([str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines",
                           "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port),
                           str(driver), *args], env=env, capture_output=True, text=True, timeout=300)


def test_two_process_resume_with_dropout_replays_every_rank_exactly(tiny_model, tmp_path):
    """Kill a 2-process run with LoRA dropout after step 3 (checkpoint at 2), rerun: every rank restores its own
    RNG streams, so the dropout masks, losses and weights are those of a run never killed."""
    driver = ROOT / "tests" / "ddp_driver.py"
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    full = launch_two(driver, [str(tiny_model), str(tmp_path / "full.json"), "2", "0.3", str(tmp_path / "s-full")],
                      env, 29541)
    assert full.returncode == 0, full.stderr[-3000:]
    args = [str(tiny_model), str(tmp_path / "res.json"), "2", "0.3", str(tmp_path / "s-res")]
    killed = launch_two(driver, args, {**env, "DRAGOMAN_FAULT_AT_STEP": "3"}, 29542)
    assert killed.returncode != 0 and "simulated kill after step 3" in killed.stderr
    resumed = launch_two(driver, args, env, 29543)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("full.json", "res.json"))
    assert b["resumed_from_step"] == 2 and b["processes"] == 2
    assert a["history"] == b["history"]  # bit-equal losses, grad norms and eval losses, step by step
    wa, wb = torch.load(str(tmp_path / "full.json.pt")), torch.load(str(tmp_path / "res.json.pt"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[n], wb[n]) for n in wa)


@pytest.mark.parametrize("mode", ["full", "lora_embeddings"])
def test_full_finetuning_and_lora_with_embeddings_move_the_embeddings(tiny_model, tmp_path, mode):
    from transformers import AutoModelForCausalLM
    from dragoman.train.recipe import save_model
    model, tok = load_model(str(tiny_model))
    before = model.get_input_embeddings().weight.detach().clone()
    if mode == "lora_embeddings":  # seed 002: CPT reshapes embeddings and LM head most
        model = apply_lora(model, {**LORA, "modules_to_save": ["embed_tokens", "lm_head"]})
    tr = Trainer(model, cfg(max_steps=2, save_every=0), None)
    tr.fit(rows_for(tok), rows_for(tok)[:2])
    save_model(tr.unwrap(), tok, str(tmp_path / "out"), str(tiny_model))
    after = AutoModelForCausalLM.from_pretrained(tmp_path / "out").get_input_embeddings().weight
    assert not torch.allclose(before, after)


def test_token_budget_stops_training(tiny_model):
    model, tok = load_model(str(tiny_model))
    tr = Trainer(apply_lora(model, LORA), cfg(max_steps=50, max_tokens=120, save_every=0), None)
    result = tr.fit(rows_for(tok), rows_for(tok)[:2])
    assert 120 <= result["tokens_seen"] < 120 + 4 * 32 and result["steps"] < 50
    assert "eval_loss" in result["history"][-1]


def test_compiled_layers_train_like_eager(tiny_model):
    """TrainConfig.compile: torch.compile of each decoder layer changes speed, not the losses (LoRA dropout 0:
    compiled and eager draw dropout masks from the RNG differently)."""
    runs = {}
    for compiled in (False, True):
        model, tok = load_model(str(tiny_model))
        model = apply_lora(model, {**LORA, "dropout": 0.0})
        tr = Trainer(model, cfg(max_steps=3, save_every=0, compile=compiled), None)
        runs[compiled] = [h.get("loss", h.get("eval_loss")) for h in tr.fit(rows_for(tok), rows_for(tok)[:4])["history"]]
    assert runs[True] == pytest.approx(runs[False], rel=1e-4)
