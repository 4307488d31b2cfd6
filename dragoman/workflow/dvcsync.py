"""Record in dvc.lock what a finished Snakemake run built or checked, and nothing else; mtimes preserved.

    python -m dragoman.workflow.dvcsync base ingest clean   # what the Snakefile's onsuccess handler runs
    python -m dragoman.workflow.dvcsync                     # every stage (after building the whole DAG by hand)

The Snakefile passes the stages of this run's DAG: the jobs it ran and the ones it found up to date for the
targets asked for (`workflow.dag.jobs`). Only those are hashed into dvc.lock (`dvc commit --force <stage>...`);
a stage outside the run keeps the record DVC already had, so after a partial run `dvc status` still lists a
stage whose params were edited but which this run did not build. Recording every stage instead would write the
new params next to the old outputs, and `dvc status` would call them current.

Moving outputs into the DVC cache and linking them back (cache.type hardlink,copy) can touch files and
directories; Snakemake judges staleness by mtime, so every output's mtime is put back. A failed record fails
the run (exit 1) and names the command that records it.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml


def stage_outputs(dvc_yaml: Path = Path("dvc.yaml")) -> dict[str, list[Path]]:
    """{stage: its outs, metrics and plots} from dvc.yaml."""
    stages = yaml.safe_load(dvc_yaml.read_text())["stages"]
    return {name: [Path(o if isinstance(o, str) else next(iter(o)))
                   for group in ("outs", "metrics", "plots") for o in st.get(group, [])]
            for name, st in stages.items()}


def snapshot(paths: list[Path]) -> dict[Path, tuple[int, int]]:
    times = {}
    for p in paths:
        for q in [p, *(p.rglob("*") if p.is_dir() else [])]:
            if q.exists():
                st = q.stat()
                times[q] = (st.st_atime_ns, st.st_mtime_ns)
    return times


def to_record(requested: list[str], known: list[str]) -> list[str]:
    """The DVC stages among the requested rule names (rule `all` and other non-stages drop out), in dvc.yaml order;
    no request means every stage."""
    if not requested:
        return list(known)
    return [s for s in known if s in set(requested)]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    outputs = stage_outputs()
    stages = to_record(argv, list(outputs))
    if not stages:
        return 0
    # every output, not only the recorded stages': a cache link of one stage can touch a shared parent folder
    times = snapshot([p for ps in outputs.values() for p in ps])
    proc = subprocess.run([sys.executable, "-m", "dvc", "commit", "--force", "--quiet", *stages])
    for p in sorted(times, key=lambda q: len(q.parts), reverse=True):  # children before parents
        if p.exists():
            os.utime(p, ns=times[p], follow_symlinks=False)
    if proc.returncode:
        print(f"error: dvc commit failed, so dvc.lock does not record this run; once the cause above is fixed, "
              f"record it with: python -m dragoman.workflow.dvcsync {' '.join(stages)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
