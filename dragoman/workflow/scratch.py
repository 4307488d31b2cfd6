"""Keyed scratch state for resumable work (training checkpoints, generation caches).

`.scratch/<stage>/<key>/` where key = hash(stage inputs' content, params, code). No rule declares it as an
output, so neither tool deletes it when a run crashes: rerunning an unchanged stage finds its state and
resumes; a stage whose inputs, params or code changed gets a fresh folder (and says so in its log).
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any, Iterable

from dragoman.workflow.io import sha256_tree, stable_hash

ROOT = Path(".scratch")
log = logging.getLogger("dragoman.workflow.scratch")


def scratch_key(inputs: Iterable[str], params: dict[str, Any], code: Iterable[str]) -> str:
    """Hash of what determines a stage's result: input contents, params values, code contents."""
    return stable_hash({p: sha256_tree(p) for p in sorted(inputs)}, params,
                       {c: sha256_tree(c) for c in sorted(code)})[:16]


def scratch_dir(stage: str, key: str, root: Path = ROOT, keep_others: bool = False) -> Path:
    """The stage's folder for this key; older keys of the same stage are removed (they can never resume)."""
    base = root / stage
    d = base / key
    if d.exists():
        log.info("%s: resuming from scratch state %s", stage, d)
    else:
        stale = [p for p in base.glob("*") if p.is_dir()] if base.exists() else []
        if stale:
            log.info("%s: inputs, params or code changed: starting fresh (was %s)", stage,
                     ", ".join(p.name for p in stale))
            if not keep_others:
                for p in stale:
                    shutil.rmtree(p)
        d.mkdir(parents=True, exist_ok=True)  # DDP: every rank computes the same key
    return d


def for_stage(st, params: dict[str, Any] | None = None) -> Path:
    """`.scratch/<stage>/<key>` of a running stage: keyed by its named input files, every params key it declared
    (or `params`, a narrower set that alone decides its state) and the code of its script with all it imports."""
    from dragoman.workflow.codedeps import code_deps
    inputs = [v for k, v in st.input.items() if k != "code" and isinstance(v, str)]
    values = st.params.values() if params is None else params
    return scratch_dir(st.name, scratch_key(inputs, values, code_deps(f"scripts/{st.name}.py")))
