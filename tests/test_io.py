import json

import pytest

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
