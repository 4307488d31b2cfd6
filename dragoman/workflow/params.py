"""params.yaml: load, validate against the schema, and hand each stage only the keys it declared."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import yaml

from dragoman.workflow.knobs import schema_of

SCHEMA_PATH = Path(__file__).with_name("params.schema.yaml")


class ParamsError(ValueError):
    """A params.yaml problem, naming the key."""


def schema() -> dict:
    """The schema of params.yaml: params.schema.yaml with each `x-dataclass` def generated from its dataclass and
    every `x-include` expanded in place (no allOf + unevaluatedProperties, whose errors blame every key)."""
    s = yaml.safe_load(SCHEMA_PATH.read_text())
    for name, d in s["$defs"].items():
        if "x-dataclass" in d:
            s["$defs"][name] = schema_of(dataclass_of(d["x-dataclass"]))
    return _expand(s, s["$defs"])


def dataclass_of(ref: str) -> type:
    """`module:Class` -> the class. Imported by name, not by an import statement: validating a data stage's
    params must not make train/ or lm/ code deps of it (codedeps follows import statements), while every
    stage that reads such a section imports the module anyway (tests/test_params.py checks)."""
    module, _, cls = ref.partition(":")
    return getattr(importlib.import_module(module), cls)


def _expand(node: Any, defs: dict) -> Any:
    if isinstance(node, list):
        return [_expand(v, defs) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _expand(v, defs) for k, v in node.items()}
    for name in node.pop("x-include", []):
        part = defs[name]
        node["type"] = "object"
        node["properties"] = {**part["properties"], **node.get("properties", {})}
        node["required"] = list(dict.fromkeys([*part.get("required", []), *node.get("required", [])]))
    return node


def validate(params: dict, source: str = "params.yaml") -> dict:
    """Raise ParamsError naming the offending key if `params` does not match the schema."""
    errors = sorted(jsonschema.Draft202012Validator(schema()).iter_errors(params), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        key = ".".join(str(p) for p in e.path) or "<top level>"
        if e.validator == "additionalProperties":
            known = sorted(e.schema.get("properties", {}))
            hint = f" (known keys here: {', '.join(known)})" if known else ""
            raise ParamsError(f"{source}: {e.message} at '{key}'{hint}")
        raise ParamsError(f"{source}: key '{key}': {e.message}")
    _check_languages(params, source)
    return params


def _check_languages(params: dict, source: str) -> None:
    langs = params["languages"]
    for role in ("target", "source"):
        if langs[role] not in langs["families"]:
            raise ParamsError(f"{source}: key 'languages.families' has no entry for {role} language '{langs[role]}'")


def load(path: str | Path = "params.yaml") -> dict:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path}: not found (run from the repository root, or pass --params)")
    return validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {}, str(path))


def get(params: dict, key: str) -> Any:
    """Value at a dotted key, e.g. get(p, "clean.langid.top_k")."""
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ParamsError(f"params.yaml has no key '{key}' (missing '{part}')")
        node = node[part]
    return node


def select(params: dict, keys: Iterable[str]) -> dict[str, Any]:
    """{dotted key: value} for the declared keys: what a rule passes its script."""
    return {k: get(params, k) for k in keys}


class StageParams:
    """The params a stage declared, and nothing else.

    Reading a key outside the declared list raises, so the list in the rule (and in dvc.yaml, generated
    from it) cannot drift from what the script really reads.
    """

    def __init__(self, stage: str, values: dict[str, Any]):
        self.stage, self._values = stage, dict(values)

    def values(self) -> dict[str, Any]:
        """{declared key: value}: everything the stage may read (what keys its scratch state)."""
        return dict(self._values)

    @property
    def declared(self) -> list[str]:
        return sorted(self._values)

    def __getitem__(self, key: str) -> Any:
        for decl, value in self._values.items():
            if key == decl:
                return value
            if key.startswith(decl + "."):
                return get(value, key[len(decl) + 1:])
        raise ParamsError(
            f"stage '{self.stage}' read params key '{key}' but declares only {self.declared}: "
            f"add it to the rule's params_for(...) in rules/*.smk and regenerate dvc.yaml (make dvc.yaml)")
