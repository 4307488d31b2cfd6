"""Filters, dedup, grouped splits, decontamination and the ledger invariant (pure functions of the stages)."""
import importlib.util
from collections import defaultdict

import pytest
import yaml

from conftest import ROOT
from dragoman.workflow import params as P
from dragoman.data.dedup import NearDup, exact_key
from dragoman.workflow.ledger import Ledger
from dragoman.data.splits import Contamination, assign


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"script_{name}", ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


clean = load_script("clean")
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
CFG = P.StageParams("clean", P.select(PARAMS, ["clean", "languages"]))
LANGS = PARAMS["languages"]


def pair(en, ar, split=None, source="t", i=0):
    return {"id": f"{source}:{i}", "source": source, "kind": "parallel", "split": split, "group": en,
            "texts": {"en": en, "ar": ar}}


@pytest.mark.parametrize("rec,reason", [
    (pair("I", "أنا"), "too_short:en"),
    (pair("x" * 7000, "نص"), "too_long:en"),
    (pair("Hello there", "Hello there"), "copy"),
    (pair("This is a fairly long English sentence about the weather.", "نعم"), "length_ratio"),
    (pair("Where is the library?", "Where is the library please?"), "script:ar"),
    (pair("Ceci est une phrase entièrement française.", "هذه جملة عربية كاملة تماما."), "langid:en"),
])
def test_drop_reasons(rec, reason):
    assert clean.drop_reason(rec, CFG, LANGS) == reason


def test_good_pair_and_dialect_pass():
    assert clean.drop_reason(pair("Where is the library?", "أين المكتبة؟"), CFG, LANGS) is None
    egyptian = {"id": "s:1", "source": "s", "kind": "classification", "split": None, "group": "g", "lang": "ar",
                "text": "انا مش عارف اعمل ايه النهارده بجد", "labels": {}}
    assert clean.drop_reason(egyptian, CFG, LANGS) is None  # arz counts as Arabic


def test_dedup_order_puts_eval_items_first():
    recs = [pair("a b", "ا ب", None, i=0), pair("a b", "ا ب", "test", i=1)]
    assert clean.dedup_order(recs) == [1, 0]


def test_exact_and_near_dup():
    assert exact_key(["Hello, world!"]) == exact_key(["hello world"])
    nd = NearDup(threshold=0.8, num_perm=128, shingle=5)
    base = "The committee met on Tuesday to discuss the new budget for the public library and its schools."
    assert nd.seen(base) is None
    assert nd.seen(base.replace("Tuesday", "Tuesday,")) is not None
    assert nd.seen("A completely unrelated sentence about mountains, rivers and the sea at dawn.") is None


def test_grouped_splits_never_straddle_and_are_stable():
    fr = {"dev": 0.2, "test": 0.2}
    groups = defaultdict(set)
    for i in range(2000):
        g = f"g{i % 300}"
        groups[g].add(assign(0, "src", g, fr))
    assert all(len(s) == 1 for s in groups.values())
    counts = defaultdict(int)
    for g in groups:
        counts[next(iter(groups[g]))] += 1
    assert 0.1 < counts["test"] / 300 < 0.3 and 0.1 < counts["dev"] / 300 < 0.3
    assert assign(0, "src", "g7", fr) == assign(0, "src", "g7", fr)
    assert any(assign(0, "src", f"g{i}", fr) != assign(1, "src", f"g{i}", fr) for i in range(50))


def test_decontamination_exact_short_and_ngram_long():
    idx = Contamination(ngram=5, short_words=6, min_overlap=0.0)
    idx.add(["Where is the library?"], "tatoeba")
    idx.add(["one two three four five six seven eight nine ten"], "hadith")
    assert idx.hit(["where is the LIBRARY"]) == "tatoeba"               # exact after normalization
    assert idx.hit(["Where is the library today?"]) is None             # short items need an exact match
    assert idx.hit(["zero one two three four five eleven"]) == "hadith"  # shares a 5-gram
    assert idx.hit(["one two three four six seven"]) is None
    strict = Contamination(ngram=5, short_words=6, min_overlap=0.5)
    strict.add(["one two three four five six seven eight nine ten"], "hadith")
    assert strict.hit(["a b c d e f g h i j one two three four five"]) is None  # 1 of 11 n-grams
    assert strict.hit(["one two three four five six seven x"]) == "hadith"      # 3 of 4 n-grams


def test_ledger_invariant():
    led = Ledger()
    led.read("s", 3)
    led.keep("s", 2)
    led.drop("s", "too_short:en")
    assert led.report()["sources"]["s"] == {"in": 3, "kept": 2, "dropped": {"too_short:en": 1}}
    led.read("s")
    with pytest.raises(AssertionError, match="in=4"):
        led.report()
