"""The one shim every stage script ends with: run `main(stage)` from Snakemake's `snakemake` object or from the CLI.

Under Snakemake (`script:` directive) inputs, outputs, params and log come from the injected `snakemake` object.
From the command line (how dvc.yaml runs a stage, and how you debug one):

    python scripts/clean.py --input records=data/ingested/records.jsonl --output clean=data/clean/records.jsonl \
        --output report=reports/clean.json --keys clean,languages

If `main` raises, the shim removes every output of the stage (a multi-output stage never leaves some of them
looking finished), and before `main` it removes temp files (`.name.tmp-<pid>`) that a killed run left beside
its outputs. The whole run holds the stage's lock (`stage_lock`), so `snakemake -f` and `dvc repro -f` cannot
run one stage at the same time. After `main` returns, the shim writes the `perf` output (wall time, peak memory,
plus whatever the stage put in `stage.perf`): timings live only there, never inside cached artifacts.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from dragoman.workflow import io
from dragoman.workflow import params as P

log = logging.getLogger("dragoman")


@dataclass
class Stage:
    name: str
    input: dict[str, str]
    output: dict[str, str]
    params: P.StageParams
    threads: int = 1
    log_path: str | None = None
    perf: dict[str, Any] = field(default_factory=dict)
    hub: dict[str, Any] = field(default_factory=dict)  # its part of hub.lock.json: {params key: pin}

    def load_id(self, key: str) -> str:
        """What to load for the hub-capable params value at `key`: `org/name@sha` as hub.lock.json pins it
        (an error naming the pin step if it does not), or the path / keyword as written."""
        from dragoman.workflow.pin import pinned_id
        return pinned_id(self.hub, key, self.params[key], self.params[key.rsplit(".", 1)[0]].get("revision"))


def _setup_logging(log_path: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        handlers=handlers, force=True)


def _pairs(items: list[str] | None, flag: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"{flag} expects NAME=PATH, got '{item}'")
        out[name] = path
    return out


def from_snakemake(smk: Any, name: str) -> Stage:
    values = dict(smk.params.p) if hasattr(smk.params, "p") else {}
    log_path = smk.log[0] if len(smk.log) else None
    return Stage(name=name, input=dict(smk.input.items()), output=dict(smk.output.items()),
                 params=P.StageParams(name, values), threads=smk.threads, log_path=log_path,
                 hub=dict(smk.params.hub) if hasattr(smk.params, "hub") else {})


def from_cli(argv: list[str] | None, name: str, doc: str | None) -> Stage:
    ap = argparse.ArgumentParser(prog=f"scripts/{name}.py", description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", action="append", metavar="NAME=PATH", help="a named input (repeatable)")
    ap.add_argument("--output", action="append", metavar="NAME=PATH", help="a named output (repeatable)")
    ap.add_argument("--keys", default="", help="comma-separated params keys this stage reads")
    ap.add_argument("--params", default="params.yaml", help="params file (validated against the schema)")
    ap.add_argument("--hub-keys", default="", help="comma-separated keys of hub.lock.json this stage loads")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0 = all cores)")
    ap.add_argument("--log", default=None, help="also write the log here")
    a = ap.parse_args(argv)
    keys = [k for k in a.keys.split(",") if k]
    values = P.select(P.load(a.params), keys)
    from dragoman.workflow import pin
    hub = pin.entries(pin.read_lock(Path(a.params).parent), [k for k in a.hub_keys.split(",") if k])
    return Stage(name=name, input=_pairs(a.input, "--input"), output=_pairs(a.output, "--output"),
                 params=P.StageParams(name, values), threads=a.threads or os.cpu_count() or 1, log_path=a.log,
                 hub=hub)


class StageLocked(RuntimeError):
    """Another run (Snakemake, DVC or a command line) is running this stage now."""


LOCKS = Path(".scratch") / "locks"


@contextlib.contextmanager
def stage_lock(name: str, tool: str) -> Iterator[None]:
    """One lock per stage that Snakemake and DVC both respect, since both run stages through this shim (each
    tool locks only against itself). An flock: the kernel releases it when the holder dies, so a killed run
    leaves no lock behind. Under DDP only rank 0 takes it (the other ranks are the same run)."""
    if int(os.environ.get("RANK", "0")) != 0:
        yield
        return
    path = LOCKS / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise StageLocked(f"stage '{name}' is already running ({holder}): wait for that run to finish or "
                              f"stop it, then run again (lock: {path})") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}, from {tool}: {' '.join(sys.argv)}")
        fh.flush()
        yield


def device_perf() -> dict[str, Any]:
    """Where a stage that ran torch ran: the GPU's name and its peak allocated memory, or the CPU."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    if not torch.cuda.is_available():
        return {"device": "cpu"}
    return {"device": torch.cuda.get_device_name(0),
            "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1)}


def run(main: Callable[[Stage], None], script_globals: dict, argv: list[str] | None = None) -> None:
    """Entry point: `stage.run(main, globals())` at the bottom of each script."""
    name = os.path.splitext(os.path.basename(script_globals.get("__file__", "stage")))[0]
    smk = script_globals.get("snakemake")
    st = from_snakemake(smk, smk.rule) if smk is not None else from_cli(argv, name, script_globals.get("__doc__"))
    _setup_logging(st.log_path)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if "torch" in sys.modules:  # training stages: use the threads the rule was given (CLI: all cores)
        sys.modules["torch"].set_num_threads(st.threads)
    t0 = time.perf_counter()
    with stage_lock(st.name, "snakemake" if smk is not None else "command line"):
        for tmp in io.remove_stale_temps(st.output.values()):
            log.info("removed %s, left by a killed run", tmp)
        try:
            main(st)
        except BaseException:
            # all or nothing: an output written before the failure must not look finished next to a missing one
            removed = io.remove_outputs(st.output.values())
            if removed:
                log.error("%s failed: removed its outputs %s, so none of them looks finished", st.name,
                          ", ".join(map(str, removed)))
            raise
    perf = {"stage": st.name, "wall_s": round(time.perf_counter() - t0, 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "threads": st.threads, **device_perf(), **st.perf}
    if "perf" in st.output and int(os.environ.get("RANK", "0")) == 0:  # under DDP only rank 0 writes
        io.write_json(st.output["perf"], perf)
    log.info("%s done in %.1f s, peak RSS %.0f MB", st.name, perf["wall_s"], perf["peak_rss_mb"])
