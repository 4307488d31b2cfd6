"""Record a finished Snakemake run in dvc.lock without disturbing Snakemake: `dvc commit`, mtimes preserved.

    python -m dragoman.workflow.dvcsync        # what the Snakefile's onsuccess handler runs

`dvc commit --force` hashes every stage's deps, params and outputs into dvc.lock (nothing reruns), so `dvc status`
is clean after a Snakemake run. Moving outputs into the DVC cache and linking them back (cache.type hardlink,copy)
can touch files and directories; Snakemake judges staleness by mtime, so every output's mtime is put back.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml


def output_paths(dvc_yaml: Path = Path("dvc.yaml")) -> list[Path]:
    stages = yaml.safe_load(dvc_yaml.read_text())["stages"]
    paths = []
    for st in stages.values():
        for group in ("outs", "metrics", "plots"):
            for o in st.get(group, []):
                paths.append(Path(o if isinstance(o, str) else next(iter(o))))
    return paths


def snapshot(paths: list[Path]) -> dict[Path, tuple[int, int]]:
    times = {}
    for p in paths:
        for q in [p, *(p.rglob("*") if p.is_dir() else [])]:
            if q.exists():
                st = q.stat()
                times[q] = (st.st_atime_ns, st.st_mtime_ns)
    return times


def main() -> int:
    times = snapshot(output_paths())
    proc = subprocess.run([sys.executable, "-m", "dvc", "commit", "--force", "--quiet"])
    # children before parents: restoring a file's time does not touch its directory, but be explicit anyway
    for p in sorted(times, key=lambda q: len(q.parts), reverse=True):
        if p.exists():
            os.utime(p, ns=times[p], follow_symlinks=False)
    if proc.returncode:
        print("warning: dvc commit failed; run `dvc commit --force` to record this run in dvc.lock", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
