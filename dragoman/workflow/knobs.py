"""Knobs declared once: a dataclass field says its default, why, and what values are valid; the JSON schema of
params.yaml takes that section from the dataclass (dragoman/workflow/params.py), so a new knob is one line.

    @dataclass
    class TrainConfig:
        lr: float = knob(2e-4, "peak learning rate", exclusiveMinimum=0)

`schema_of(TrainConfig)` is `{type: object, additionalProperties: false, required: [...], properties: {...}}`,
with each field's JSON type from its annotation and its constraints from `knob(...)`.
"""
from __future__ import annotations

import dataclasses
from typing import Any

JSON_TYPES = {"int": "integer", "float": "number", "bool": "boolean", "str": "string"}


def knob(default: Any, why: str, required: bool = True, **constraints: Any) -> Any:
    """A dataclass field with its one-line why and JSON-schema constraints (minimum, enum, ...).
    `required=False`: params.yaml may leave it out and the default applies."""
    return dataclasses.field(default=default, metadata={"why": why, "required": required, "schema": constraints})


def schema_of(cls: type) -> dict:
    """JSON schema of a params section whose keys are the fields of dataclass `cls`."""
    props, required = {}, []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        spec = dict(meta.get("schema", {}))
        if "enum" not in spec:
            spec["type"] = JSON_TYPES[f.type if isinstance(f.type, str) else f.type.__name__]
        spec["description"] = meta.get("why", "")
        props[f.name] = spec
        if meta.get("required", True):
            required.append(f.name)
    return {"type": "object", "additionalProperties": False, "required": required, "properties": props}


def from_params(cls: type, p: dict) -> Any:
    """An instance of `cls` from a params section: the keys it has (validated upstream), defaults for the rest."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in p.items() if k in names})
