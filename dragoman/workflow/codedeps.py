"""Which files a stage's code depends on: its script plus every dragoman/ module it imports, transitively
(and the `__init__.py` of every package on the way, which Python runs on import).

Rules list these as `code=` inputs, so editing a module reruns exactly the stages that import it, under
Snakemake (mtime) and DVC (deps in the generated dvc.yaml) alike.
"""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

PACKAGE = "dragoman"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    mods: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods.add(node.module)
            mods.update(f"{node.module}.{a.name}" for a in node.names)  # `from dragoman import io`
    return {m for m in mods if m == PACKAGE or m.startswith(PACKAGE + ".")}


@lru_cache(maxsize=None)
def code_deps(script: str, root: str = ".") -> tuple[str, ...]:
    """Sorted repo-relative paths: the script and the dragoman modules it reaches."""
    rootp = Path(root)
    seen: set[str] = set()
    todo = [Path(script)]
    while todo:
        rel = todo.pop()
        if rel.as_posix() in seen:
            continue
        seen.add(rel.as_posix())
        for mod in _imported_modules(rootp / rel):
            parts = mod.split(".")
            for cand in (Path(*parts).with_suffix(".py"), Path(*parts, "__init__.py")):
                if (rootp / cand).is_file():
                    todo.append(cand)
            for i in range(1, len(parts)):  # importing a.b.c runs a/__init__.py and a/b/__init__.py first
                init = Path(*parts[:i], "__init__.py")
                if (rootp / init).is_file():
                    todo.append(init)
    return tuple(sorted(seen))
