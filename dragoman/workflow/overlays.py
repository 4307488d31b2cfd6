"""Apply overlays (a language such as languages/tibetan.yaml, a recipe under recipes/) to params.yaml, for both tools.

    python -m dragoman.workflow.overlays languages/tibetan.yaml          # rewrite params.yaml + dvc.yaml
    python -m dragoman.workflow.overlays languages/tibetan.yaml recipes/seed002-qwen2.5-3b-tibetan.yaml   # stacked
    python -m dragoman.workflow.overlays languages/tibetan.yaml --out /tmp/p.yaml   # merged params elsewhere
    git checkout params.yaml dvc.yaml                                      # back to the default

The overlay is merged key by key into params.yaml; the dotted paths in its `replace:` list (e.g. `sources`, whose
Arabic corpora a Tibetan run must not read, or `sft.classification_tasks`) replace the default value whole.
Both files are read and written with a round-trip YAML parser (ruamel.yaml), so the rewritten params.yaml keeps
the comments of every key the overlay leaves alone and takes the overlay's own comments for what it changes.
The result is validated against the schema, and dvc.yaml is regenerated because an overlay may change the DAG
(other sources mean other raw inputs). Then `snakemake --cores all`, or `dvc exp run --name <overlay>`.
(Snakemake executor profiles, for a cluster, belong under `profiles/<name>/config.yaml`, not here.)
"""
from __future__ import annotations

import argparse
import copy
import io as _io
import sys
from pathlib import Path

from ruamel.yaml import YAML

from dragoman.workflow import params as P

GENERATED = "# GENERATED: "


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.width = 120
    y.preserve_quotes = True
    y.allow_unicode = True
    return y


def merge(base: dict, overlay: dict, replace: set[str] | None = None, prefix: str = "") -> dict:
    """`overlay` merged into a copy of `base` key by key; a dotted path listed in `replace` (e.g. "sources",
    "eval.robustness.perturbations") takes the overlay's value whole instead. Key order and comments of `base`
    survive (round-trip maps are updated in place on the copy)."""
    replace = set(overlay.get("replace", [])) if replace is None else replace
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if not prefix and key == "replace":
            continue
        path = f"{prefix}{key}"
        if path in replace or not isinstance(value, dict) or not isinstance(out.get(key), dict):
            out[key] = copy.deepcopy(value)
        else:
            out[key] = merge(out[key], value, replace, path + ".")
    return out


def apply(params_text: str, overlay_texts: list[str]) -> tuple[dict, str]:
    """(merged params, the merged file's text with comments) for a params file and overlays, in order."""
    y = _yaml()
    lines = params_text.splitlines(keepends=True)
    while lines and lines[0].startswith(GENERATED):  # applying again on top: one header, not two
        lines = lines[2:]
    merged = y.load("".join(lines))
    for text in overlay_texts:
        merged = merge(merged, y.load(text))
    buf = _io.StringIO()
    y.dump(merged, buf)
    return merged, buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("overlay", nargs="+", help="overlay YAML files, applied in order (e.g. a language, then a recipe)")
    ap.add_argument("--params", default="params.yaml", help="the params file to start from")
    ap.add_argument("--out", default=None, help="where to write the merged params (default: --params, in place)")
    a = ap.parse_args(argv)
    merged, text = apply(Path(a.params).read_text(encoding="utf-8"),
                         [Path(o).read_text(encoding="utf-8") for o in a.overlay])
    P.validate(merged, " + ".join(a.overlay))
    out = Path(a.out or a.params)
    header = (f"{GENERATED}{a.params} with {' then '.join(a.overlay)} applied (python -m dragoman.workflow.overlays).\n"
              f"# The default is in git: `git checkout {a.params} dvc.yaml` restores it.\n")
    from dragoman.workflow.io import atomic_path
    with atomic_path(out) as tmp:
        tmp.write_text(header + text, encoding="utf-8")
    print(f"wrote {out}")
    if a.out is None:
        from dragoman.workflow import dvcgen
        return dvcgen.main(["--root", str(out.parent)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
