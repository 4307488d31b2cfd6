"""Pin every hub input to a commit: `python -m dragoman.workflow.pin` writes hub.lock.json.

A hub reference is a params value naming a Hugging Face repo: `base.model`, `teacher.model`, `translator.model`,
`pairs.judge.model` (unless a keyword such as `bootstrap` or a local path) and the `dataset` of every
`format: hf_dataset` source; the section's optional `revision` (branch, tag or commit, default main) says which.
This step resolves each to the commit sha it names today and writes hub.lock.json (canonical JSON, committed
like any lock file). The stages that load a reference read its sha from there: Snakemake as a rule param, DVC
as a params dependency on hub.lock.json; so re-pinning after the hub moved reruns exactly the stages that read
the moved reference, and their reports, the metrics provenance and the model card name the sha.

Online it asks the hub (`HfApi.repo_info`); with HF_HUB_OFFLINE=1 it reads the local cache (HF_HUB_CACHE,
`<type>s--org--name/refs/<revision>` and `snapshots/<sha>/`), as a cluster node without network would.
A run whose hub references are not pinned, or pinned for another repo or revision, stops and says to run this.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

LOCK = "hub.lock.json"
# params key of each model reference -> values that are not hub ids (pipeline keywords)
MODEL_KEYS = {"base.model": {"smollm2-135m-gguf"}, "teacher.model": {"bootstrap"},
              "translator.model": {"base"}, "pairs.judge.model": {"teacher"}}
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
SHA = re.compile(r"[0-9a-f]{40}")


class UnpinnedError(RuntimeError):
    pass


@dataclass(frozen=True)
class Ref:
    repo: str
    type: str  # model | dataset
    revision: str


def is_hub_id(value: str, keywords: set[str] = frozenset()) -> bool:
    """A hub repo id, not a keyword or a local path (use ./name for a local folder that does not exist yet)."""
    return value not in keywords and bool(HUB_ID.fullmatch(value)) and not Path(value).exists()


def _get(params: dict, key: str) -> Any:
    node: Any = params
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def refs(params: dict) -> dict[str, Ref]:
    """{params key: Ref} for every hub reference in params (keys of hub.lock.json, dotted)."""
    out = {}
    for key, keywords in MODEL_KEYS.items():
        value, section = _get(params, key), _get(params, key.rsplit(".", 1)[0]) or {}
        if isinstance(value, str) and is_hub_id(value, keywords):
            out[key] = Ref(value, "model", section.get("revision") or "main")
    for name, src in sorted((params.get("sources") or {}).items()):
        if src.get("format") == "hf_dataset" and is_hub_id(src.get("dataset", "")):
            out[f"sources.{name}.dataset"] = Ref(src["dataset"], "dataset", src.get("revision") or "main")
    return out


def resolve(ref: Ref) -> str:
    """The commit sha `ref.revision` names: from the hub, or from the local cache when HF_HUB_OFFLINE=1."""
    from huggingface_hub import HfApi, constants, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    if constants.HF_HUB_OFFLINE:
        try:  # downloads nothing: reads refs/<revision> (or takes a sha) and checks its snapshot folder exists
            folder = snapshot_download(ref.repo, repo_type=ref.type, revision=ref.revision, local_files_only=True)
        except LocalEntryNotFoundError as e:
            raise UnpinnedError(f"{ref.type} {ref.repo}@{ref.revision}: not in the local hub cache "
                                f"({constants.HF_HUB_CACHE}); download it on a machine with network, or pin a "
                                f"revision the cache holds") from e
        return Path(folder).name
    try:
        return HfApi().repo_info(ref.repo, repo_type=ref.type, revision=ref.revision).sha
    except (HfHubHTTPError, OSError) as e:
        raise UnpinnedError(f"{ref.type} {ref.repo}@{ref.revision}: the hub did not answer ({e}); without "
                            "network, pin from the local cache with HF_HUB_OFFLINE=1") from e


def lock_doc(resolved: dict[str, tuple[Ref, str]]) -> dict:
    """hub.lock.json's content, nested like params.yaml: every model key present (null = not a hub id), so
    each stage's params dependency exists whatever params say; sources only where hub datasets."""
    doc: dict = {}
    for key in [*MODEL_KEYS, "sources"]:
        _put(doc, key, {} if key == "sources" else None)
    for key, (ref, sha) in sorted(resolved.items()):
        _put(doc, key, {**asdict(ref), "sha": sha})
    return doc


def _put(doc: dict, key: str, value: Any) -> None:
    *parents, last = key.split(".")
    for part in parents:
        doc = doc.setdefault(part, {})
    doc[last] = value


def read_lock(root: str | Path = ".") -> dict:
    path = Path(root, LOCK)
    return json.loads(path.read_text()) if path.exists() else lock_doc({})


def entries(lock: dict, keys: list[str]) -> dict[str, Any]:
    """{key: its part of hub.lock.json}: a rule's `hub` param (what Snakemake compares between runs)."""
    return {k: _get(lock, k) for k in keys}


def problems(params: dict, lock: dict) -> list[str]:
    """Hub references of params that hub.lock.json does not pin as they are written now."""
    out = []
    for key, ref in refs(params).items():
        entry = _get(lock, key)
        if not entry:
            out.append(f"{key} = {ref.repo} is a hub id with no pin")
        elif (entry["repo"], entry["type"], entry["revision"]) != (ref.repo, ref.type, ref.revision):
            out.append(f"{key} = {ref.repo}@{ref.revision} but {LOCK} pins {entry['repo']}@{entry['revision']}")
    return out


def check(params: dict, lock: dict) -> None:
    found = problems(params, lock)
    if found:
        raise UnpinnedError("unpinned hub inputs:\n  " + "\n  ".join(found) +
                            f"\nrun `python -m dragoman.workflow.pin` (writes {LOCK}; HF_HUB_OFFLINE=1 pins from the local cache)")


def hub_ref(model: str) -> tuple[str, str | None]:
    """(repo or path, revision) of what a stage loads: `org/name@<sha>` is a hub id pinned by
    this module (hub ids cannot hold '@'); anything else loads as it is."""
    repo, _, sha = model.rpartition("@")
    if repo and len(sha) == 40 and all(c in "0123456789abcdef" for c in sha) and not Path(model).exists():
        return repo, sha
    return model, None


def pinned_id(hub: dict[str, Any], key: str, value: str, revision: str | None = None) -> str:
    """What a stage loads for the params value at `key`: `repo@sha` for a hub id (models.hub_ref reads it),
    else the value as it is. `hub` is the stage's part of hub.lock.json (its `hub` param)."""
    if not is_hub_id(value, MODEL_KEYS.get(key, set())):
        return value
    entry = hub[key] if key in hub else _get(hub, key)
    if not entry or (entry["repo"], entry["revision"]) != (value, revision or "main"):
        raise UnpinnedError(f"{key} = {value}@{revision or 'main'} is not what {LOCK} pins "
                            f"({entry and entry['repo'] + '@' + entry['revision']}): run `python -m dragoman.workflow.pin`")
    return f"{entry['repo']}@{entry['sha']}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--check", action="store_true", help=f"exit 1 if {LOCK} does not pin params as written")
    a = ap.parse_args(argv)
    from dragoman.workflow import params as P
    from dragoman.workflow.io import write_json
    params = P.load(a.params)
    root = Path(a.params).parent
    if a.check:
        found = problems(params, read_lock(root))
        print("\n".join(found) or f"{LOCK}: every hub input pinned")
        return 1 if found else 0
    resolved = {}
    for key, ref in refs(params).items():
        resolved[key] = (ref, resolve(ref))
        print(f"{key}: {ref.repo}@{ref.revision} -> {resolved[key][1]}")
    write_json(root / LOCK, lock_doc(resolved))
    print(f"wrote {root / LOCK} ({len(resolved)} hub inputs)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UnpinnedError as e:
        sys.exit(f"error: {e}")
