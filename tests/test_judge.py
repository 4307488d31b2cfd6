"""Judging pairs: the dual conditional cross-entropy formula, by hand, and the heuristic checks."""
from __future__ import annotations

import math

import torch

from dragoman.lm import judge, translation

LANGS = {"target": "ar", "source": "en", "families": {"ar": ["ar", "arz"], "en": ["en"]},
         "scripts": {"ar": "arabic", "en": "latin"}, "names": {"ar": "Arabic", "en": "English"}}
FILTERS = {"max_length_ratio": 3.0, "min_script_share": 0.5, "langid_min_chars": 12, "langid_min_score": 0.1}


def test_dual_xent_score_formula():
    assert judge.dual_xent_score(2.0, 3.0) == 1.0 + 2.5
    assert judge.dual_xent_score(1.5, 1.5) == 1.5  # agreeing directions: just the mean


def test_answer_xent_matches_token_by_token_computation(tiny_model):
    """Batched, padded scoring equals log-probs computed one prefix at a time, for the answer tokens only."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from dragoman.lm.chat import tokenize_chat
    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    convs = [[{"role": "user", "content": "hello"}, {"role": "assistant", "content": "مرحبا"}],
             [{"role": "user", "content": "the quick brown fox jumps"}, {"role": "assistant", "content": "fox"}]]
    got = judge.answer_xent(model, tok, convs, max_len=128, batch_size=2)
    for conv, value in zip(convs, got, strict=True):  # one score per conversation
        ids, labels = tokenize_chat(tok, conv)
        nll = []
        with torch.no_grad():
            for t in range(1, len(ids)):
                if labels[t] < 0:
                    continue
                logits = model(input_ids=torch.tensor([ids[:t]])).logits[0, -1]
                nll.append(-torch.log_softmax(logits, -1)[ids[t]].item())
        assert math.isclose(value, sum(nll) / len(nll), rel_tol=1e-4)


def test_xent_scores_combine_both_directions(tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    template = "{src}>{tgt}: {text}"
    (s,) = judge.xent_scores(model, tok, [("en", "hello", "ar", "مرحبا")], template, LANGS["names"], 128)
    conv = lambda a, b, text, answer: [{"role": "user", "content": template.format(src=a, tgt=b, text=text)},
                                       {"role": "assistant", "content": answer}]
    fwd, bwd = judge.answer_xent(model, tok, [conv("English", "Arabic", "hello", "مرحبا"),
                                              conv("Arabic", "English", "مرحبا", "hello")], 128)
    assert abs(fwd - bwd) > 1e-3  # the two directions differ, so a swap below would show
    assert math.isclose(s["h_fwd"], fwd, abs_tol=1e-4) and math.isclose(s["h_bwd"], bwd, abs_tol=1e-4)
    # Junczys-Dowmunt (2018): |H(y|x) - H(x|y)| + (H(y|x) + H(x|y)) / 2, lower is better
    assert math.isclose(s["score"], abs(fwd - bwd) + 0.5 * (fwd + bwd), abs_tol=1e-4)


def test_llm_judge_gives_one_score_per_pair(tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    pairs = [("en", "hello", "ar", "مرحبا"), ("en", "the quick brown fox", "ar", "الكتاب على الطاولة")]
    scores = judge.llm_scores(model, tok, pairs, LANGS["names"], batch_size=2)
    alone = judge.llm_scores(model, tok, pairs[1:], LANGS["names"], batch_size=1)
    assert len(scores) == 2 and math.isclose(scores[1], alone[0], rel_tol=1e-4, abs_tol=1e-5)  # padding-invariant


def test_heuristic_reasons():
    r = lambda s, t: judge.heuristic_reason(s, t, "ar", LANGS, FILTERS)
    assert r("The book is on the table.", "الكتاب على الطاولة.") is None
    assert r("", "الكتاب") == "empty"
    assert r("The book is on the table.", "the book is on the table") == "copy"
    assert r("Yes.", "نعم، هذا صحيح تماما وأنا أوافق على كل ما قلته اليوم.") == "length_ratio"
    assert r("The book is on the table.", "the book is on a table!!") == "script"


def test_cut_at_sentence():
    count = lambda t: len(t.split())
    text = "One two three. Four five six. Seven eight nine ten eleven."
    assert translation.cut_at_sentence(text, 100, count) == (text, "whole")
    assert translation.cut_at_sentence(text, 7, count) == ("One two three. Four five six.", "sentence")
    assert translation.cut_at_sentence("a b c d e f g", 3, count) == ("a b c", "words")


def _script(name):
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, f"scripts/{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_translated_record_filters_and_counts_truncation():
    from dragoman.lm.generate import Output
    instructions = _script("instructions")
    r = {"id": "alpaca:1", "source": "alpaca", "messages": [{"role": "user", "content": "Name a fruit."},
                                                              {"role": "assistant", "content": "An apple is a fruit."}]}
    parts = {("alpaca:1", "instruction"): "Name a fruit.", ("alpaca:1", "response"): "An apple is a fruit."}
    good = {"alpaca:1|instruction": Output("اذكر فاكهة.", 5, False),
            "alpaca:1|response": Output("التفاحة فاكهة لذيذة.", 9, True)}
    p = {"keep_truncated": True, "trim_to_source": True, "filters": FILTERS}
    rec, reason = instructions.translated_record(r, parts, good, "ar", LANGS, p)
    assert reason == "" and rec["truncated"] and rec["messages"][1]["content"] == "التفاحة فاكهة لذيذة."
    rec, reason = instructions.translated_record(r, parts, good, "ar", LANGS, {**p, "keep_truncated": False})
    assert rec is None and reason == "truncated:response"
    copy = {**good, "alpaca:1|instruction": Output("Name a fruit.", 4, False)}
    assert instructions.translated_record(r, parts, copy, "ar", LANGS, p)[1] == "copy:instruction"
