"""Benchmark the clean stage's phases on real ingested records; prints records/s and ratios from one run.

    python bench/clean_throughput.py [--records data/ingested/records.jsonl] [--n 4000]

Ratios: near-dup MinHash with permutations drawn once vs per record (clean.py draws them once), and the
cost of language ID relative to the rule-based filters. All rates on the same sampled records.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml
from datasketch import MinHash

from dragoman.workflow import io
from dragoman.workflow import params as P
from dragoman.data.dedup import NearDup, _hash32, exact_key, shingles
from dragoman.data.splits import record_texts


def rate(fn, items) -> float:
    t0 = time.perf_counter()
    for x in items:
        fn(x)
    return len(items) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", default="data/ingested/records.jsonl")
    ap.add_argument("--n", type=int, default=4000, help="records sampled (every k-th, all sources)")
    a = ap.parse_args()
    sys.argv = sys.argv[:1]
    import importlib.util
    spec = importlib.util.spec_from_file_location("clean", Path(__file__).resolve().parents[1] / "scripts/clean.py")
    clean = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(clean)

    params = P.load("params.yaml")
    recs = list(io.read_jsonl(a.records))
    recs = recs[:: max(1, len(recs) // a.n)][: a.n]
    cfg_on = P.StageParams("clean", P.select(params, ["clean", "languages"]))
    off = yaml.safe_load(yaml.safe_dump(params))
    off["clean"]["langid"]["enabled"] = False
    cfg_off = P.StageParams("clean", P.select(off, ["clean", "languages"]))
    langs, ops, nd = params["languages"], params["clean"]["normalize"], params["clean"]["near_dup"]

    normed = [clean.normalized(r, ops) for r in recs]
    texts = ["\n".join(record_texts(r))[:2000] for r in normed]
    r_norm = rate(lambda r: clean.normalized(r, ops), recs)
    r_rules = rate(lambda r: clean.drop_reason(r, cfg_off, langs), normed)
    r_lid = rate(lambda r: clean.drop_reason(r, cfg_on, langs), normed)
    r_exact = rate(lambda t: exact_key([t]), texts)
    index = NearDup(nd["threshold"], nd["num_perm"], nd["shingle"])
    r_near = rate(index.minhash, texts)

    def naive(t):  # a fresh MinHash draws its permutations again for every record
        m = MinHash(num_perm=nd["num_perm"], seed=1, hashfunc=_hash32)
        m.update_batch(list(shingles(t, nd["shingle"])))
    r_naive = rate(naive, texts)
    r_seen = rate(index.seen, texts)  # MinHash + LSH query + insert: what clean.py pays per record

    print(f"records: {len(recs)} from {a.records}")
    for name, r in [("normalize", r_norm), ("filters (rules only)", r_rules), ("filters + langid", r_lid),
                    ("exact-dup key", r_exact), ("MinHash, shared permutations", r_near),
                    ("MinHash, permutations per record", r_naive), ("near-dup (MinHash + LSH)", r_seen)]:
        print(f"  {name:34s} {r:10.0f} rec/s")
    print(f"ratio MinHash shared/per-record permutations: {r_near / r_naive:.1f}x")
    print(f"ratio filters rules-only / with langid:       {r_rules / r_lid:.2f}x")


if __name__ == "__main__":
    main()
