"""The generation backend: batched HF generate equals one-at-a-time, and the cache's rerun/resume contract."""
from __future__ import annotations

import pytest

from dragoman.lm.generate import GenConfig, Generator, SimulatedKill

PROMPTS = ["hello", "مرحبا كيف حالك", "the quick brown fox", "x", "الكتاب على الطاولة", "good morning my friend"]


def items():
    return [(f"i{k}", [{"role": "user", "content": p}]) for k, p in enumerate(PROMPTS)]


def test_batched_equals_one_at_a_time(tiny_model, tmp_path):
    """Left padding + attention mask: a prompt's greedy output does not depend on its batch mates."""
    cfg = GenConfig(max_new_tokens=6, batch_size=4, bf16=False, backend="hf")
    batched = Generator(str(tiny_model), cfg, "t", None)(items())
    single = Generator(str(tiny_model), GenConfig(max_new_tokens=6, batch_size=1, bf16=False, backend="hf"), "t", None)
    one = single(items())
    assert {k: v.text for k, v in batched.items()} == {k: v.text for k, v in one.items()}
    assert all(o.truncated and o.new_tokens == 6 for o in one.values())  # a random model never ends its turn
    assert single.generate_calls == len(PROMPTS)


def test_cache_rerun_makes_no_calls_and_kill_resumes(tiny_model, tmp_path, monkeypatch):
    cfg = GenConfig(max_new_tokens=4, batch_size=2, bf16=False, backend="hf")
    monkeypatch.setenv("DRAGOMAN_FAULT_AT_ITEM", "2")
    with pytest.raises(SimulatedKill):
        Generator(str(tiny_model), cfg, "t", tmp_path)(items())
    monkeypatch.delenv("DRAGOMAN_FAULT_AT_ITEM")
    resumed = Generator(str(tiny_model), cfg, "t", tmp_path)
    first = resumed(items())
    assert resumed.generated_items == len(PROMPTS) - 2  # only the n - k items the kill left
    again = Generator(str(tiny_model), cfg, "t", tmp_path)
    assert again(items()) == first and again.generate_calls == 0 and again._model is None  # nothing even loaded
    other = Generator(str(tiny_model), GenConfig(max_new_tokens=5, batch_size=2, bf16=False), "t", tmp_path)
    other(items()[:1])
    assert other.generated_items == 1  # other generation params: another cache key


def test_cut_line_in_cache_is_regenerated(tiny_model, tmp_path):
    cfg = GenConfig(max_new_tokens=3, batch_size=3, bf16=False, backend="hf")
    g = Generator(str(tiny_model), cfg, "t", tmp_path)
    g(items()[:3])
    text = g.cache_file.read_text()
    g.cache_file.write_text(text[: len(text) - 10])  # a kill in the middle of a write
    g2 = Generator(str(tiny_model), cfg, "t", tmp_path)
    g2(items()[:3])
    assert g2.generated_items == 1


def test_hf_and_vllm_outputs_never_share_a_cache_entry(tiny_model, tmp_path, monkeypatch):
    """The backend is in the cache key (nothing is loaded to build it, so this runs on a CPU): a vLLM run never
    reuses HF outputs or the other way round, nor a vLLM run at another tensor-parallel size."""
    def key(backend: str, gpus: int = 0) -> str:
        monkeypatch.setattr("torch.cuda.device_count", lambda: gpus)
        return Generator(str(tiny_model), GenConfig(backend=backend), "t", tmp_path).key
    assert key("hf") != key("vllm", 1)
    assert key("vllm", 1) != key("vllm", 2)
    assert key("hf") == key("hf", 2)  # HF generates on one device whatever else is visible
    assert key("vllm", 0) == key("vllm", 1)  # at least one shard


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="vLLM needs a CUDA GPU")
def test_vllm_backend_honours_dtype_and_matches_hf_greedy(tiny_model, tmp_path):
    """Where vllm is importable (a GPU machine with the `gpu` extra): the contract HF already meets."""
    pytest.importorskip("vllm", reason="vllm not installed (optional GPU extra)")
    cfg = dict(max_new_tokens=6, batch_size=4, bf16=True)
    v = Generator(str(tiny_model), GenConfig(backend="vllm", **cfg), "t", tmp_path)
    out_v = v(items())
    assert v._model.llm_engine.model_config.dtype == __import__("torch").bfloat16
    out_h = Generator(str(tiny_model), GenConfig(backend="hf", **cfg), "t", tmp_path)(items())
    assert v.key != Generator(str(tiny_model), GenConfig(backend="hf", **cfg), "t", tmp_path).key
    agree = sum(out_v[i].text == out_h[i].text for i, _ in items())
    assert agree >= len(PROMPTS) - 1, (out_v, out_h)  # greedy in bf16: at most one tie broken differently
