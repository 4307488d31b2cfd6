"""Print the README's stage-cost table from the last run's reports/*.perf.json (make costs).

    python -m dragoman.workflow.costs [--reports reports]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml


def table(reports: Path, dvc_yaml: Path = Path("dvc.yaml")) -> str:
    order = list(yaml.safe_load(dvc_yaml.read_text())["stages"]) if dvc_yaml.exists() else []
    perfs = {}
    for p in reports.glob("*.perf.json"):
        d = json.loads(p.read_text())
        perfs[d["stage"]] = d
    rows = ["| stage | wall time | peak RSS |", "|---|---:|---:|"]
    total = 0.0
    for name in sorted(perfs, key=lambda s: (order.index(s) if s in order else len(order), s)):
        d = perfs[name]
        total += d["wall_s"]
        rows.append(f"| `{name}` | {d['wall_s']:.1f} s | {d['peak_rss_mb']:.0f} MB |")
    rows.append(f"| **total** (run one after another) | {total:.0f} s | |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reports", default="reports", type=Path)
    print(table(ap.parse_args().reports))


if __name__ == "__main__":
    main()
