"""Merge (mergekit slerp vs a hand computation, the vocabulary pre-check), FP8 quantization, and the
log-likelihood metrics on models whose answers are known."""
from __future__ import annotations

import json
import math

import pytest
import torch

from dragoman.lm import evaluate as ev
from dragoman.lm import merging, translation


def perturbed_copy(src, dst, seed: int = 1, scale: float = 0.05):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    m = AutoModelForCausalLM.from_pretrained(src)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)
    m.save_pretrained(dst)
    AutoTokenizer.from_pretrained(src).save_pretrained(dst)
    return dst


def hand_slerp(t: float, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Slerp of two tensors seen as flat vectors (lerp when nearly parallel), by the textbook formula."""
    x, y = a.flatten().double(), b.flatten().double()
    cos = float((x / x.norm()) @ (y / y.norm()))
    if abs(cos) > 0.9995:
        return ((1 - t) * x + t * y).reshape(a.shape)
    th = math.acos(cos)
    return (math.sin((1 - t) * th) / math.sin(th) * x + math.sin(t * th) / math.sin(th) * y).reshape(a.shape)


def test_slerp_matches_hand_computation(tiny_model, tmp_path):
    from safetensors.torch import load_file
    other = perturbed_copy(tiny_model, tmp_path / "other", scale=0.5)
    cfg = merging.mergekit_config(str(tiny_model), str(other), "slerp", 0.3, "float32", 0.5)
    merging.run(cfg, tmp_path / "merged")
    a, b = load_file(tiny_model / "model.safetensors"), load_file(other / "model.safetensors")
    m = load_file(tmp_path / "merged" / "model.safetensors")
    name = "model.layers.0.mlp.down_proj.weight"
    assert torch.allclose(m[name].double(), hand_slerp(0.3, a[name], b[name]), atol=1e-5)
    assert not torch.allclose(m[name], 0.7 * a[name] + 0.3 * b[name], atol=1e-5)  # really spherical, not linear
    cfg0 = merging.mergekit_config(str(tiny_model), str(other), "slerp", 0.0, "float32", 0.5)
    merging.run(cfg0, tmp_path / "t0")
    assert torch.allclose(load_file(tmp_path / "t0" / "model.safetensors")[name], a[name], atol=1e-6)  # t=0: base


def test_merge_refuses_other_vocabulary(tiny_model, tmp_path):
    from transformers import AutoTokenizer
    other = perturbed_copy(tiny_model, tmp_path / "other")
    tok = AutoTokenizer.from_pretrained(other)
    tok.add_tokens(["<new_word>"])
    tok.save_pretrained(other)
    with pytest.raises(merging.MergeError, match="tokenizer vocabularies differ"):
        merging.check_mergeable(str(tiny_model), str(other))
    cfg = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**cfg, "vocab_size": cfg["vocab_size"] + 1}))
    with pytest.raises(merging.MergeError, match="vocab_size"):
        merging.check_mergeable(str(tiny_model), str(other))


def test_fp8_quantization_writes_f8_linear_weights_and_reloads(tiny_model, tmp_path):
    import importlib.util
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from dragoman.lm.models import safetensors_dtypes
    spec = importlib.util.spec_from_file_location("teacher_fp8", "scripts/teacher_fp8.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.quantize(str(tiny_model), tmp_path / "bf16", str(tmp_path / "fp8"), "FP8_DYNAMIC", ["lm_head"])
    dtypes = safetensors_dtypes(str(tmp_path / "fp8"))
    linear = [n for n in dtypes if n.endswith("proj.weight")]
    assert linear and all(dtypes[n]["dtype"] == "F8_E4M3" for n in linear)
    assert dtypes["model.embed_tokens.weight"]["dtype"] == "BF16"  # embeddings (tied lm_head) ignored
    assert json.loads((tmp_path / "fp8" / "config.json").read_text())["quantization_config"]["quant_method"] \
        == "compressed-tensors"
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "fp8")
    tok = AutoTokenizer.from_pretrained(tmp_path / "fp8")
    enc = tok("hello", return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert out.shape[1] == enc["input_ids"].shape[1] + 3
    ref = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.bfloat16)
    with torch.no_grad():
        a, b = (m(**enc).logits[0, -1].float() for m in (model, ref))
    assert torch.nn.functional.cosine_similarity(a, b, dim=0) > 0.98  # FP8 weights, nearly the same function


@pytest.fixture(scope="module")
def uniform_model(tiny_model, tmp_path_factory):
    """A model whose next-token distribution is uniform: all logits 0 (lm_head, tied to the embeddings, zeroed)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    m = AutoModelForCausalLM.from_pretrained(tiny_model)
    with torch.no_grad():
        m.lm_head.weight.zero_()
    return m.eval(), AutoTokenizer.from_pretrained(tiny_model)


def test_perplexity_of_uniform_model_is_vocab_size(uniform_model):
    model, tok = uniform_model
    r = ev.perplexity(model, tok, ["hello world", "مرحبا كيف حالك"], max_len=64, bf16=False)
    assert math.isclose(r["ppl"], model.config.vocab_size, rel_tol=1e-3)
    assert r["tokens"] == sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in ["hello world", "مرحبا كيف حالك"])


def test_choice_with_fewer_tokens_wins_under_uniform_model(uniform_model):
    """Uniform next-token probabilities: log-likelihood = -n_tokens * log V, so the shortest choice is forced."""
    model, tok = uniform_model
    long = "the quick brown fox jumps over"
    (r,) = ev.choose(model, tok, [("Question: pick one\nAnswer:", [" " + long, " x"])], bf16=False)
    assert r["pick"] == 1
    n_long = len(tok(" " + long, add_special_tokens=False)["input_ids"])
    assert math.isclose(r["loglik"][0], -n_long * math.log(model.config.vocab_size), rel_tol=1e-4)


def test_accuracy_and_macro_f1_by_hand():
    r = ev.accuracy_f1([0, 0, 1, 2], [0, 1, 1, 1], 3)
    # class 0: tp1 fp0 fn1 -> 2/3; class 1: tp1 fp2 fn0 -> 2/4; class 2: tp0 fp0 fn1 -> 0
    assert r["accuracy"] == 0.5 and math.isclose(r["macro_f1"], round((2 / 3 + 0.5 + 0) / 3, 4))


def test_scores_agree_with_sacrebleu():
    import sacrebleu
    hyps, refs = ["the cat sat on the mat", "a dog barked"], ["the cat sat on a mat", "the dog barked"]
    s = translation.score(hyps, refs, "latin")
    assert s["bleu"] == round(sacrebleu.corpus_bleu(hyps, [refs]).score, 4)
    assert s["chrf"] == round(sacrebleu.corpus_chrf(hyps, [refs]).score, 4)
    assert "tok:13a" in s["bleu_signature"]
    bo = translation.score(["བཀྲ་ཤིས་བདེ་ལེགས།"], ["བཀྲ་ཤིས་བདེ་ལེགས།"], "tibetan")
    assert bo["bleu"] == 100.0 and "tok:char" in bo["bleu_signature"]


def test_perturbations_are_seeded_and_targeted():
    text = "ذهب الولد إلى المدرسة صباحا"
    assert ev.insert_tatweel(text, 1.0, 0).replace("\u0640", "") == text
    assert "\u0640" in ev.insert_tatweel(text, 1.0, 0) and "ا\u0640" not in ev.insert_tatweel(text, 1.0, 0)
    vowelled = "حَدَّثَنَا"  # tatweel goes after a letter's diacritics, never between a letter and its marks
    assert ev.insert_tatweel(vowelled, 1.0, 0) == "حَـدَّثَـنَـا"  # د never joins forward
    assert ev.typos(text, 0.3, 7) == ev.typos(text, 0.3, 7) != text
    assert ev.typos(text, 0.0, 7) == text
