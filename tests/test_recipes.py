"""The four published recipes and the Tibetan profile: each validates against the schema and dry-runs
(`snakemake -n`, no hub access needed) with the DAG its lineage implies."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import BIN, ROOT, run
from dragoman.workflow.overlays import main as apply_profile

RECIPES = {
    "recipes/seed000-qwen2-1.5b-qlora.yaml": ({"base", "qlora", "merge", "metrics", "layers", "card"},
                                              {"cpt", "sft", "teacher"}),
    "recipes/seed001-llama3-8b-instar.yaml": ({"base", "ingest", "sft", "merge", "metrics", "card"},
                                              {"cpt", "qlora", "teacher"}),
    "recipes/seed002-qwen2.5-3b-tibetan.yaml": ({"base", "cpt", "sft", "merge", "metrics", "card"},
                                                {"teacher", "qlora"}),
    "recipes/seed003-hala-translate-and-tune.yaml": ({"base", "teacher", "teacher_fp8", "pairs", "translator",
                                                      "instructions", "sft", "merge", "metrics", "card"},
                                                     {"cpt", "qlora"}),
}


def planned(repo: Path) -> set[str]:
    out = run([str(BIN / "snakemake"), "-n", "--quiet", "rules", "--forceall"], repo).stdout
    return {l.split()[0] for l in out.splitlines() if len(l.split()) == 2 and l.split()[1].isdigit()} - {"total", "job"}


@pytest.fixture()
def repo(tmp_path):
    """Workflow files only: a dry run reads rules, params and the raw files' existence."""
    for name in ("Snakefile", "params.yaml", "rules", "scripts", "dragoman", "envs", "languages", "recipes"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp_path / name)
    for d in (ROOT / "data" / "raw").iterdir():
        if d.is_dir():
            (tmp_path / "data" / "raw" / d.name).mkdir(parents=True)
            for f in d.iterdir():
                (tmp_path / "data" / "raw" / d.name / f.name).touch()  # existence is all a dry run needs
    return tmp_path


@pytest.mark.parametrize("recipe", list(RECIPES), ids=lambda r: Path(r).stem)
def test_recipe_validates_and_dry_runs(repo, recipe):
    overlays = [repo / recipe]
    if "tibetan" in recipe:
        overlays.insert(0, repo / "languages/tibetan.yaml")
    assert apply_profile([*map(str, overlays), "--params", str(repo / "params.yaml")]) == 0
    jobs = planned(repo)
    must, must_not = RECIPES[recipe]
    assert must <= jobs, (recipe, jobs)
    assert not (must_not & jobs), (recipe, jobs)
    assert (repo / "dvc.yaml").exists()  # regenerated for the DVC route


def test_tibetan_profile_reads_no_arabic_source(repo):
    assert apply_profile([str(repo / "languages/tibetan.yaml"), "--params", str(repo / "params.yaml")]) == 0
    import yaml
    p = yaml.safe_load((repo / "params.yaml").read_text())
    assert p["languages"]["target"] == "bo" and set(p["sources"]) == {"openpecha_en", "openpecha_zh", "alpaca_eval"}
    text = (repo / "dvc.yaml").read_text()
    assert "openpecha.bo-zh.zh" in text and "tatoeba" not in text
