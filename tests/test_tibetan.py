"""The Tibetan profile end to end on the tiny config: nothing Arabic is read, metrics as seed 002 reports them."""
from __future__ import annotations

import json

from conftest import planned_jobs


def load(repo, p):
    return json.loads((repo / p).read_text())


def test_tibetan_profile_runs_end_to_end(tiny_bo_repo):
    repo = tiny_bo_repo
    assert set(load(repo, "reports/ingest.json")["sources"]) == {"openpecha_en", "openpecha_zh", "alpaca_eval"}
    fert = load(repo, "reports/fertility.json")["languages"]["bo"]
    assert fert["tokens_per_word"] > 0 and fert["tokens_per_char"] > 0  # words = tsheg-separated syllables
    m = load(repo, "results/metrics.json")
    for name, model in m["models"].items():
        assert set(model["translation"]) == {"en->bo", "zh->bo", "bo->en", "bo->zh"}, name
        assert "tok:char" in model["translation"]["en->bo"]["bleu_signature"]  # no spaces between Tibetan words
        assert model["perplexity"]["target"]["ppl"] > 1 and model["mcq"]["n"] == 0
        assert set(model["robustness"]) == {"original", "typos"}
    assert m["headline"]["base"]["classification_acc"] is None
    assert "Tibetan" in (repo / "results/model_card.md").read_text()
    assert planned_jobs(repo) == set()
