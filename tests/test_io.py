import json
import os

import pytest

from conftest import ROOT
from dragoman.workflow import io
from dragoman.workflow.scratch import scratch_dir, scratch_key


def test_atomic_path_leaves_nothing_on_crash(tmp_path):
    out = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError):
        with io.atomic_path(out) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_directories(tmp_path):
    d = tmp_path / "model"
    for content in ("old", "new"):
        with io.atomic_path(d) as tmp:
            tmp.mkdir()
            (tmp / "w.txt").write_text(content)
    assert (d / "w.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_jsonl_roundtrip_is_canonical(tmp_path):
    p = tmp_path / "a.jsonl"
    io.write_jsonl(p, [{"b": 1, "a": "عربي"}])
    assert p.read_text(encoding="utf-8") == '{"a": "عربي", "b": 1}\n'
    assert list(io.read_jsonl(p)) == [{"a": "عربي", "b": 1}]


def test_read_jsonl_names_file_and_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps({"ok": 1}) + "\n{broken\n")
    with pytest.raises(io.DataError, match=r"bad\.jsonl, line 2"):
        list(io.read_jsonl(p))


def test_scratch_dir_resumes_same_key_and_resets_on_change(tmp_path):
    f = tmp_path / "in.txt"
    f.write_text("a")
    k1 = scratch_key([str(f)], {"lr": 1}, [])
    d1 = scratch_dir("train", k1, root=tmp_path / "s")
    (d1 / "ckpt").write_text("step 5")
    assert scratch_dir("train", k1, root=tmp_path / "s") == d1 and (d1 / "ckpt").exists()
    k2 = scratch_key([str(f)], {"lr": 2}, [])
    assert k2 != k1
    d2 = scratch_dir("train", k2, root=tmp_path / "s")
    assert not d1.exists() and d2.exists() and not (d2 / "ckpt").exists()


def test_a_failed_stage_leaves_none_of_its_outputs_and_no_stale_temps(tmp_path, monkeypatch):
    import subprocess, sys
    from dragoman.workflow import stage
    monkeypatch.chdir(tmp_path)  # the stage lock lives under ./.scratch
    first, second = tmp_path / "first.jsonl", tmp_path / "out" / "second.json"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    second.parent.mkdir()
    stale = second.with_name(f".second.json.tmp-{dead}")  # what a killed run leaves
    stale.write_text("half")
    live = second.with_name(f".second.json.tmp-{os.getpid()}x")  # not a pid: left alone
    live.write_text("other")

    def main(st):
        io.write_jsonl(st.output["first"], [{"a": 1}])
        raise RuntimeError("died before the second output")

    argv = ["--output", f"first={first}", "--output", f"second={second}", "--params",
            str(ROOT / "params.yaml")]
    with pytest.raises(RuntimeError):
        stage.run(main, {"__file__": "scripts/demo.py"}, argv)
    assert not first.exists() and not second.exists()  # written before the failure, removed after it
    assert not stale.exists() and live.exists()


def test_a_running_stage_locks_out_a_second_run_of_it(tmp_path, monkeypatch):
    """The lock both tools respect: a second run names the first and touches none of its outputs."""
    import fcntl
    from dragoman.workflow import stage
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "report.json"
    out.write_text("{}")  # the running stage's output: the refused run must not remove it
    stage.LOCKS.mkdir(parents=True)
    with open(stage.LOCKS / "demo.lock", "a+") as held:
        held.write("pid 4242, from snakemake: clean")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(stage.StageLocked, match="already running .pid 4242, from snakemake"):
            stage.run(lambda st: None, {"__file__": "scripts/demo.py"},
                      ["--output", f"report={out}", "--params", str(ROOT / "params.yaml")])
        assert out.exists()
    ran = []
    stage.run(lambda st: ran.append(st.name), {"__file__": "scripts/demo.py"},
              ["--output", f"report={out}", "--params", str(ROOT / "params.yaml")])  # released: runs
    assert ran == ["demo"]
