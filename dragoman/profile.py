"""Apply a params profile (an overlay such as profiles/tibetan.yaml) to params.yaml, for both tools.

    python -m dragoman.profile profiles/tibetan.yaml          # rewrite params.yaml + dvc.yaml
    python -m dragoman.profile profiles/tibetan.yaml recipes/seed002-qwen2.5-3b-tibetan.yaml   # stacked
    python -m dragoman.profile profiles/tibetan.yaml --out /tmp/p.yaml   # write the merged params elsewhere
    git checkout params.yaml dvc.yaml                          # back to the default profile

The overlay is merged key by key into params.yaml; the dotted paths in its `replace:` list (e.g. `sources`, whose
Arabic corpora a Tibetan run must not read, or `sft.classification_tasks`) replace the default value whole.
The result is validated against the schema, and dvc.yaml is regenerated because a profile may change the DAG
(other sources mean other raw inputs). Then `snakemake --cores all`, or `dvc exp run --name <profile>`.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import yaml

from dragoman import params as P


def merge(base: dict, overlay: dict, replace: set[str] | None = None, prefix: str = "") -> dict:
    """`overlay` merged into `base` key by key; a dotted path listed in `replace` (e.g. "sources",
    "eval.robustness.perturbations") takes the overlay's value whole instead."""
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profile", nargs="+", help="overlay YAML files, applied in order (e.g. a language profile, then a recipe)")
    ap.add_argument("--params", default="params.yaml", help="the params file to start from")
    ap.add_argument("--out", default=None, help="where to write the merged params (default: --params, in place)")
    a = ap.parse_args(argv)
    merged = yaml.safe_load(Path(a.params).read_text())
    for overlay in a.profile:
        merged = merge(merged, yaml.safe_load(Path(overlay).read_text()))
    P.validate(merged, " + ".join(a.profile))
    out = Path(a.out or a.params)
    header = (f"# GENERATED: {a.params} with {' then '.join(a.profile)} applied (python -m dragoman.profile).\n"
              f"# The commented default is in git: `git checkout {a.params} dvc.yaml` restores it.\n")
    from dragoman.io import atomic_path
    with atomic_path(out) as tmp:
        tmp.write_text(header + yaml.safe_dump(merged, allow_unicode=True, sort_keys=False, width=120))
    print(f"wrote {out}")
    if a.out is None:
        from dragoman import dvcgen
        return dvcgen.main(["--root", str(out.parent)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
