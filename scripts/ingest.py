"""Stage `ingest`: read every source declared in params.yaml into one JSONL record format.

Inputs:  the raw files each source names (data/raw/..., pulled by `dvc pull data/raw/*.dvc`) or data packages
Outputs: records (data/ingested/records.jsonl, one record per row, sources in params order),
         report (reports/ingest.json: rows read / kept / dropped per source), perf (reports/ingest.perf.json)
Params:  sources, ingest; hub.lock.json sources (the pinned commit of each hub dataset)
Debug:   python scripts/ingest.py --output records=/tmp/records.jsonl --output report=/tmp/ingest.json \
             --keys sources,ingest --hub-keys sources
"""

import logging
import sys
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import dragoman from this checkout

from tqdm import tqdm

from dragoman.workflow import io, stage
from dragoman.workflow.io import DataError
from dragoman.workflow.ledger import Ledger
from dragoman.data.sources import rows, to_record

log = logging.getLogger("ingest")


def ingest_source(name: str, src: dict, limit: int, on_error: str, ledger: Ledger) -> Iterator[dict]:
    """Records of one source; malformed rows raise (on_error=raise) or are counted as dropped (on_error=drop)."""
    seen: set[str] = set()
    for file, line, row in rows(src):
        if limit and ledger.inn[name] >= limit:
            break
        ledger.read(name)
        try:
            rec = to_record(name, src, file, line, row)
            if rec["id"] in seen:
                raise DataError(file, line, src.get("id_field", "id"), f"duplicate id '{rec['id']}'")
        except DataError as e:
            if on_error == "raise":
                raise
            ledger.drop(name, f"malformed:{e.field or 'row'}")
            log.warning("dropped: %s", e)
            continue
        seen.add(rec["id"])
        ledger.keep(name)
        yield rec


def main(st: stage.Stage) -> None:
    sources, limit, on_error = st.params["sources"], st.params["ingest.limit"], st.params["ingest.on_error"]
    ledger = Ledger()
    # hub datasets load at the commit hub.lock.json pins (an error naming the pin step if unpinned)
    sources = {name: {**src, "dataset": st.load_id(f"sources.{name}.dataset")} if src["format"] == "hf_dataset"
               else src for name, src in sources.items()}

    def all_records() -> Iterator[dict]:
        for name, src in sources.items():
            yield from tqdm(ingest_source(name, src, limit, on_error, ledger), desc=f"ingest {name}",
                            unit="rec", mininterval=2, disable=None)

    n = io.write_jsonl(st.output["records"], all_records())
    pins = st.hub.get("sources") or {}
    io.write_json(st.output["report"], {**ledger.report(), **({"hub": pins} if pins else {})})
    st.perf["records"] = n
    log.info("ingested %d records from %d sources", n, len(sources))


if __name__ == "__main__":
    stage.run(main, globals())
