"""Hub inputs pinned to commits (dragoman/workflow/pin.py), resolved offline from a hub cache this test builds in
the hub's own layout (`<type>s--org--name/refs/<branch>`, `snapshots/<sha>/`), as a cluster node without
network would see one: HF_HUB_OFFLINE=1 and HF_HUB_CACHE pointing at it."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import BIN, planned_jobs, run
from test_invalidation import closure, dvc_changed
from dragoman.workflow import pin

SHA = {name: (c * 40) for name, c in (("a", "a"), ("b", "b"), ("c", "c"), ("d", "d"), ("e", "e"))}


def put_snapshot(cache: Path, kind: str, repo: str, sha: str, files: dict[str, bytes] | Path,
                 refs: tuple[str, ...] = ("main",)) -> None:
    """One commit of a hub repo in the cache, and the branches/tags that point at it."""
    folder = cache / f"{kind}s--{repo.replace('/', '--')}"
    snap = folder / "snapshots" / sha
    if isinstance(files, Path):
        shutil.copytree(files, snap)
    else:
        for name, data in files.items():
            (snap / name).parent.mkdir(parents=True, exist_ok=True)
            (snap / name).write_bytes(data)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    for ref in refs:
        (folder / "refs" / ref).write_text(sha)


def dataset_files(texts: list[str]) -> dict[str, bytes]:
    rows = "".join(json.dumps({"id": f"h{i}", "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts))
    return {"data/train.jsonl": rows.encode()}


def offline_env(cache: Path, tmp: Path) -> dict[str, str]:
    return {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "HF_DATASETS_CACHE": str(tmp / "ds-cache")}


def test_which_values_are_hub_references(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "local-model").mkdir()
    params = {"base": {"model": "Qwen/Qwen2-1.5B", "revision": "v1"}, "teacher": {"model": "bootstrap"},
              "translator": {"model": "local-model"}, "pairs": {"judge": {"model": "teacher"}},
              "sources": {"web": {"format": "hf_dataset", "dataset": "org/web"},
                          "tsv": {"format": "tsv", "path": "org/file.tsv"}}}
    assert pin.refs(params) == {"base.model": pin.Ref("Qwen/Qwen2-1.5B", "model", "v1"),
                                "sources.web.dataset": pin.Ref("org/web", "dataset", "main")}
    problems = pin.problems(params, pin.read_lock(tmp_path))  # no hub.lock.json yet
    assert problems == ["base.model = Qwen/Qwen2-1.5B is a hub id with no pin",
                        "sources.web.dataset = org/web is a hub id with no pin"]
    lock = pin.lock_doc({"base.model": (pin.Ref("Qwen/Qwen2-1.5B", "model", "main"), SHA["a"])})
    assert "pins Qwen/Qwen2-1.5B@main" in pin.problems(params, lock)[0]  # pinned for another revision
    with pytest.raises(pin.UnpinnedError, match="python -m dragoman.workflow.pin"):
        pin.check(params, lock)
    assert pin.pinned_id(pin.entries(lock, ["base.model"]), "base.model", "Qwen/Qwen2-1.5B") == \
        f"Qwen/Qwen2-1.5B@{SHA['a']}"


def test_pin_resolves_branches_tags_and_commits_from_the_local_cache(tmp_path, tiny_model, monkeypatch):
    cache = tmp_path / "hub"
    put_snapshot(cache, "model", "org/tiny", SHA["a"], tiny_model, refs=("main",))
    put_snapshot(cache, "model", "org/tiny", SHA["b"], tiny_model, refs=("v2",))
    for k, v in offline_env(cache, tmp_path).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    assert pin.resolve(pin.Ref("org/tiny", "model", "main")) == SHA["a"]
    assert pin.resolve(pin.Ref("org/tiny", "model", "v2")) == SHA["b"]
    assert pin.resolve(pin.Ref("org/tiny", "model", SHA["b"])) == SHA["b"]
    with pytest.raises(pin.UnpinnedError, match="not in the local hub cache"):
        pin.resolve(pin.Ref("org/tiny", "model", "v3"))


def test_moving_a_hub_ref_reruns_exactly_its_readers(tiny_repo, tmp_path, tiny_model):
    repo = tmp_path / "repo"
    shutil.copytree(tiny_repo, repo, symlinks=True)
    cache = tmp_path / "hub"
    env = offline_env(cache, tmp_path)
    put_snapshot(cache, "model", "org/tiny", SHA["a"], tiny_model)
    put_snapshot(cache, "dataset", "org/web", SHA["c"], dataset_files(["مرحبا بالعالم من الشبكة", "صباح الخير يا صديقي"]),
                 refs=("main", "v1"))
    p = yaml.safe_load((repo / "params.yaml").read_text())
    p["base"]["model"] = "org/tiny"
    p["sources"]["web"] = {"kind": "text", "format": "hf_dataset", "dataset": "org/web", "revision": "v1",
                           "lang": "ar", "id_field": "id", "fields": {"text": "text"}}
    write(repo, p)
    pin_cmd = [str(BIN / "python"), "-m", "dragoman.workflow.pin"]

    # unpinned hub ids stop a run of either tool before anything loads, saying what to run (a dry run plans)
    refused = run([str(BIN / "snakemake"), "--cores", "1", "models/base"], repo, check=False, env_extra=env)
    assert refused.returncode != 0 and "python -m dragoman.workflow.pin" in refused.stdout + refused.stderr
    refused = run([str(BIN / "dvc"), "repro", "-s", "base"], repo, check=False, env_extra=env)
    assert refused.returncode != 0 and "python -m dragoman.workflow.pin" in refused.stdout + refused.stderr

    run(pin_cmd, repo, env_extra=env)
    lock = json.loads((repo / "hub.lock.json").read_text())
    assert lock["base"]["model"]["sha"] == SHA["a"] and lock["sources"]["web"]["dataset"]["sha"] == SHA["c"]
    # main moves on after the pin: the readers still load exactly the pinned commits (Snakemake runs base,
    # DVC runs ingest), and nothing plans a rerun, since a run is reproducible by its lock file
    put_snapshot(cache, "dataset", "org/web", SHA["d"], dataset_files(["نص جديد من الشبكة"]))
    run([str(BIN / "snakemake"), "--cores", "2", "models/base"], repo, env_extra=env)
    run([str(BIN / "dvc"), "repro", "-s", "ingest"], repo, env_extra=env)
    assert json.loads((repo / "reports/base.perf.json").read_text())["hub"]["sha"] == SHA["a"]
    assert json.loads((repo / "reports/ingest.json").read_text())["hub"]["web"]["dataset"]["sha"] == SHA["c"]
    records = (repo / "data/ingested/records.jsonl").read_text()
    assert "مرحبا بالعالم من الشبكة" in records and "نص جديد من الشبكة" not in records
    run([str(BIN / "snakemake"), "--touch", "--cores", "1", "--quiet"], repo, env_extra=env)
    assert planned_jobs(repo) == set()
    before = dvc_changed(repo)  # clean: its input, ingest's records, now holds the hub dataset

    # the model's main moves and is re-pinned (the dataset stays at its tag): exactly the stage that loads the
    # model reruns, and metrics and card, which quote the pins (provenance, the card's base_model revision);
    # Snakemake adds what follows base
    put_snapshot(cache, "model", "org/tiny", SHA["b"], tiny_model)
    assert planned_jobs(repo) == set()
    run(pin_cmd, repo, env_extra=env)
    assert dvc_changed(repo) - before == {"base", "metrics", "card"}
    assert planned_jobs(repo) == closure({"base"}) | {"all"}

    # a revision edited in params without a re-pin is refused, naming what the lock file pins
    p["sources"]["web"]["revision"] = "v2"
    write(repo, p)
    refused = run([str(BIN / "snakemake"), "--cores", "1", "models/base"], repo, check=False)
    assert refused.returncode != 0 and "but hub.lock.json pins org/web@v1" in refused.stdout + refused.stderr
    p["sources"]["web"]["revision"] = "v1"
    write(repo, p)
    # the tag moves to the newer commit: re-pinned, ingest joins them
    put_snapshot(cache, "dataset", "org/web", SHA["d"], dataset_files(["نص جديد من الشبكة"]), refs=("main", "v1"))
    run(pin_cmd, repo, env_extra=env)
    assert json.loads((repo / "hub.lock.json").read_text())["sources"]["web"]["dataset"]["sha"] == SHA["d"]
    assert dvc_changed(repo) - before == {"base", "ingest", "metrics", "card"}
    assert "ingest" in planned_jobs(repo)

def write(repo: Path, params: dict) -> None:
    (repo / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False))
