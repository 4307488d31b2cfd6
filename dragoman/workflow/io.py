"""File I/O every stage shares: atomic outputs, JSONL with file/line errors, content hashes."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Iterator


class DataError(ValueError):
    """Bad input, located: the message names the file, the line (or record) and the field."""

    def __init__(self, path: str | os.PathLike, line: int | str | None, field: str | None, msg: str):
        self.path, self.line, self.field = str(path), line, field
        where = str(path) + (f", line {line}" if line is not None else "") + (f", field '{field}'" if field else "")
        super().__init__(f"{where}: {msg}")


def dumps(obj: Any) -> str:
    """Canonical JSON: sorted keys, real Unicode, no whitespace variance: identical objects give identical bytes."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path; on success rename it onto `path`, on failure remove it.

    A crashed stage never leaves an output that looks finished: readers see the old file or the new one.
    Works for files and directories.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    _remove(tmp)
    try:
        yield tmp
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        _remove(tmp)


def remove_stale_temps(outputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Remove the `.name.tmp-<pid>` siblings of these outputs left by a killed process (pid no longer alive);
    returns what it removed. A live pid's temp is another run writing the same output: left alone."""
    removed = []
    for out in map(Path, outputs):
        for tmp in out.parent.glob(f".{out.name}.tmp-*"):
            pid = tmp.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                _remove(tmp)
                removed.append(tmp)
    return removed


def remove_outputs(outputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Remove a failed stage's outputs, so that none of them looks finished (the earlier ones may be complete,
    from this run or the last); returns what it removed. DVC cache links are unlinked, the cache is untouched."""
    removed = []
    for out in map(Path, outputs):
        if out.exists() or out.is_symlink():
            _remove(out)
            removed.append(out)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    elif p.exists() or p.is_symlink():
        p.unlink()


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=2) + "\n", encoding="utf-8")


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> int:
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(dumps(r) + "\n")
            n += 1
    return n


def read_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """Yield the objects of a JSONL file; a bad line raises DataError naming file and line."""
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(path, i, None, f"not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(obj, dict):
                raise DataError(path, i, None, f"expected a JSON object, got {type(obj).__name__}")
            yield obj


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def sha256_tree(path: str | os.PathLike) -> str:
    """Content hash of a file or a directory (relative names + contents, sorted)."""
    p = Path(path)
    if p.is_file():
        return sha256_file(p)
    h = hashlib.sha256()
    for f in sorted(x for x in p.rglob("*") if x.is_file()):
        h.update(f.relative_to(p).as_posix().encode() + b"\0" + sha256_file(f).encode() + b"\n")
    return h.hexdigest()


def stable_hash(*parts: Any) -> str:
    """Hex sha256 of the canonical JSON of `parts`: the same values always give the same key."""
    return hashlib.sha256(dumps(list(parts)).encode("utf-8")).hexdigest()
