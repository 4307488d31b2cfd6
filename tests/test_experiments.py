"""Experiments and sharing on the tiny run: `dvc exp run -S` reuses every stage before the one whose param
changed; `dvc push` to a (temporary, local) remote, then a fresh clone + `dvc pull` is up to date for both tools."""
from __future__ import annotations

import json
import shutil

from conftest import BIN, planned_jobs, run

GIT_ID = ["-c", "user.email=ci@dragoman", "-c", "user.name=ci"]


def commit_run(repo) -> None:
    """What a user does after a run: commit dvc.lock and the small, git-tracked outputs (metrics, curves)."""
    run(["git", "add", "-A"], repo)
    run(["git", *GIT_ID, "commit", "-qm", "run", "--allow-empty"], repo)


def test_exp_run_reuses_cached_stages_and_exp_show_has_metrics(tiny_repo):
    commit_run(tiny_repo)
    out = run([str(BIN / "dvc"), "exp", "run", "-S", "merge.t=0.3", "--name", "t03"], tiny_repo).stdout
    ran = {l.split("'")[1] for l in out.splitlines() if l.startswith("Running stage")}
    assert ran == {"merge", "metrics", "layers", "card"}, out  # everything before merge came from the cache
    show = json.loads(run([str(BIN / "dvc"), "exp", "show", "--json"], tiny_repo).stdout)
    text = json.dumps(show)
    assert "t03" in text and "headline" in text  # the experiment, with results/metrics.json's numbers
    # a queued sweep runs in temporary copies of the repo (.dvc/tmp/exps): the commands find the venv on PATH
    # and import dragoman from the copy; only the stages from merge on run there too
    for t in ("0.7", "1.0"):
        run([str(BIN / "dvc"), "exp", "run", "--queue", "-S", f"merge.t={t}"], tiny_repo)
    run([str(BIN / "dvc"), "exp", "run", "--run-all"], tiny_repo)
    shown = run([str(BIN / "dvc"), "exp", "show", "--json"], tiny_repo).stdout
    assert '"t": 0.7' in shown and '"t": 1.0' in shown, shown[-2000:]
    run([str(BIN / "dvc"), "exp", "apply", "t03"], tiny_repo)
    assert json.loads((tiny_repo / "reports/merge.json").read_text())["mergekit_config"]["parameters"]["t"] == 0.3
    run(["git", "checkout", "--", "."], tiny_repo)  # back to the committed run
    run([str(BIN / "dvc"), "checkout", "--force"], tiny_repo)
    run([str(BIN / "snakemake"), "--touch", "--cores", "1", "--quiet"], tiny_repo)
    assert planned_jobs(tiny_repo) == set()


def test_push_then_fresh_clone_pull_is_up_to_date(tiny_repo, tmp_path):
    commit_run(tiny_repo)
    remote = tmp_path / "remote"
    run([str(BIN / "dvc"), "remote", "add", "--local", "tmp", str(remote)], tiny_repo)
    run([str(BIN / "dvc"), "push", "-r", "tmp", "dvc.yaml"], tiny_repo)  # stage outputs: data, models
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(tiny_repo), str(clone)], tmp_path)
    shutil.copytree(tiny_repo / "data" / "raw", clone / "data" / "raw", dirs_exist_ok=True)  # as `make data` would
    run([str(BIN / "dvc"), "remote", "add", "--local", "tmp", str(remote)], clone)
    run([str(BIN / "dvc"), "pull", "-r", "tmp", "dvc.yaml"], clone)
    assert (clone / "models/merged/model.safetensors").exists()
    assert "up to date" in run([str(BIN / "dvc"), "status"], clone).stdout.lower()
    # checkout gives files new mtimes in no particular order; `make pull` runs this after `dvc pull`
    run([str(BIN / "snakemake"), "--touch", "--cores", "1", "--quiet"], clone)
    assert planned_jobs(clone) == set()
