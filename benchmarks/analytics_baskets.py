"""Association rules over 1,000,000 synthetic baskets (issue 6 target: under 30 s), and where the time goes.

The baskets are generated here (no database): a catalogue of ``--products`` items with Zipf-like popularity, 1 to
8 items a basket (mean ~3.5), and a few planted rules ({1, 2} -> 3 and friends) so there is something to find.
Each run times the stages of ``guanxi.analytics.mining.baskets.association_rules``: grouping lines into distinct
baskets of frequent items (polars), FP-growth (pyfim's C core), and the whole call (both, plus the rules frame). ``--baseline`` also times a
pure-Python pair count (collections.Counter over every basket's pairs, the core of a textbook Apriori at
max_len=2) on the same baskets, against the library at max_len=2.

    .venv/bin/python benchmarks/analytics_baskets.py [--baskets 1000000] [--runs 3] [--baseline]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections import Counter
from itertools import combinations
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from guanxi.analytics.mining import baskets as mb  # noqa: E402


def synthetic_lines(n_baskets: int, n_products: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 9, size=n_baskets)
    weights = 1.0 / np.arange(1, n_products + 1) ** 0.9
    weights /= weights.sum()
    items = rng.choice(np.arange(10, n_products + 10), size=int(sizes.sum()), p=weights)
    basket = np.repeat(np.arange(n_baskets), sizes)
    planted = np.flatnonzero(rng.random(n_baskets) < 0.05)
    third = planted[rng.random(planted.size) < 0.6]
    basket = np.concatenate([basket, planted, planted, third])
    items = np.concatenate(
        [items, np.full(planted.size, 1), np.full(planted.size, 2), np.full(third.size, 3)]
    )
    return pl.DataFrame({"basket_id": basket, "item_id": items})


def staged(lines: pl.DataFrame, min_support: float, min_confidence: float, max_len: int) -> dict[str, float]:
    """The library call split into its stages (the same steps association_rules takes), in milliseconds."""
    import fim

    t0 = time.perf_counter()
    min_count = max(1, math.ceil(min_support * lines["basket_id"].n_unique() - 1e-9))
    tracts, _ = mb._transactions(lines, min_count)
    t1 = time.perf_counter()
    found = fim.fpgrowth(
        tracts,
        target="r",
        supp=-min_count,
        conf=min_confidence * 100,
        zmin=2,
        zmax=max_len,
        report="abhc",
        mode="o",
    )
    t2 = time.perf_counter()
    c2 = time.process_time()
    rules = mb.association_rules(
        lines, min_support=min_support, min_confidence=min_confidence, max_len=max_len
    )
    t3 = time.perf_counter()
    c3 = time.process_time()
    return {
        "group_baskets_ms": (t1 - t0) * 1000,
        "fpgrowth_ms": (t2 - t1) * 1000,
        "association_rules_total_ms": (t3 - t2) * 1000,
        # CPU time of this process (all its threads) for the whole call: on a box shared with other work the
        # wall time above includes waiting for a core, this does not
        "association_rules_cpu_ms": (c3 - c2) * 1000,
        "rules": rules.height,
        "baskets_with_frequent_items": sum(1 for t in tracts if t),
        "raw_rules": len(found),
    }


def pure_python_pairs(tracts: list[list[int]], min_count: int) -> int:
    items = Counter(i for t in tracts for i in t)
    frequent = {i for i, c in items.items() if c >= min_count}
    pairs: Counter[tuple[int, int]] = Counter()
    for t in tracts:
        kept = sorted(i for i in t if i in frequent)
        pairs.update(combinations(kept, 2))
    return sum(1 for c in pairs.values() if c >= min_count)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baskets", type=int, default=1_000_000)
    p.add_argument("--products", type=int, default=5_000)
    p.add_argument("--min-support", type=float, default=0.001)
    p.add_argument("--min-confidence", type=float, default=0.1)
    p.add_argument("--max-len", type=int, default=3)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--baseline", action="store_true", help="also time a pure-Python pair count (max_len=2)")
    args = p.parse_args()

    t0 = time.perf_counter()
    lines = synthetic_lines(args.baskets, args.products)
    gen_ms = (time.perf_counter() - t0) * 1000
    runs = [staged(lines, args.min_support, args.min_confidence, args.max_len) for _ in range(args.runs)]
    results: dict[str, object] = {
        "baskets": args.baskets,
        "lines": lines.height,
        "products": args.products,
        "min_support": args.min_support,
        "min_confidence": args.min_confidence,
        "max_len": args.max_len,
        "generate_ms": round(gen_ms, 1),
        "runs": args.runs,
        "median": {k: round(statistics.median(r[k] for r in runs), 1) for k in runs[0]},
        "all_runs_total_ms": [round(r["association_rules_total_ms"], 1) for r in runs],
        "load_average_at_end": os.getloadavg(),
    }
    if args.baseline:
        tracts = (
            lines.unique(["basket_id", "item_id"]).group_by("basket_id").agg("item_id")["item_id"].to_list()
        )
        min_count = max(1, math.ceil(args.min_support * len(tracts)))
        t0 = time.perf_counter()
        pairs = pure_python_pairs(tracts, min_count)
        py_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        lib = mb.association_rules(lines, min_support=args.min_support, min_confidence=0.0, max_len=2)
        lib_ms = (time.perf_counter() - t0) * 1000
        results["baseline_pairs"] = {
            "pure_python_pair_count_ms": round(py_ms, 1),
            "frequent_pairs": pairs,
            "library_max_len_2_ms": round(lib_ms, 1),
            "library_rules_max_len_2": lib.height,  # two rules (both directions) per frequent pair
        }
    meta = {
        "benchmark": "analytics_baskets",
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "command": "python " + " ".join(sys.argv),
    }
    print(json.dumps({**meta, "results": results}, indent=2))


if __name__ == "__main__":
    main()
