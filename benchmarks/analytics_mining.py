"""Timings of the mining algorithms other than basket rules, on synthetic customers (default 1,000,000).

No database: the data is generated here, so the figures are the algorithms' own (reading from and writing to the
database is the analytics run framework's, measured there). Customers join over two years, buy as a Poisson
process (one order every 10 to 90 days) until they leave (exponential, mean 500 days), 1 to 3 items an order from
``--products`` products. Each stage is timed separately:

* clv: ``rfm_summary``, ``fit_bgnbd``, ``fit_gamma_gamma``, then ``clv`` (which refits: its total includes both fits)
* clusters: ``cluster_customers`` on frequency / recency / spend / tenure, k from 2 to 8
* churn: ``churn_model`` with the per-customer factors
* sequences: ``sequential_patterns`` (min support 2%, length <= 3) and ``next_purchase``

    .venv/bin/python benchmarks/analytics_mining.py [--customers 1000000] [--runs 1] [--only clv,clusters,...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from guanxi.analytics.mining.churn import churn_model  # noqa: E402
from guanxi.analytics.mining.clusters import cluster_customers  # noqa: E402
from guanxi.analytics.mining.clv import clv, fit_bgnbd, fit_gamma_gamma, rfm_summary  # noqa: E402
from guanxi.analytics.mining.sequences import next_purchase, sequential_patterns  # noqa: E402

AS_OF = date(2026, 7, 1)
SPAN_DAYS = 730


def synthetic(n: int, n_products: int, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(orders: customer_id, order_id, ordered_at, amount; lines: order_id, customer_id, ts, item_id)."""
    rng = np.random.default_rng(seed)
    joined = rng.uniform(0, SPAN_DAYS * 0.8, size=n)
    leaves = np.minimum(joined + rng.exponential(500, size=n), SPAN_DAYS)
    rate = 1 / rng.uniform(10, 90, size=n)
    count = 1 + rng.poisson(rate * (leaves - joined))
    customer = np.repeat(np.arange(1, n + 1), count)
    start = np.repeat(joined, count)
    length = np.repeat(leaves - joined, count)
    first = np.zeros(count.sum(), dtype=bool)
    first[np.concatenate([[0], np.cumsum(count)[:-1]])] = True
    offset = np.where(first, 0.0, rng.uniform(0, 1, size=count.sum()) * length)
    t0 = datetime.combine(AS_OF, datetime.min.time()) - timedelta(days=SPAN_DAYS)
    spend_level = np.repeat(rng.gamma(3.0, 40.0, size=n), count)
    orders = pl.DataFrame(
        {
            "customer_id": customer,
            "order_id": np.arange(count.sum()),
            "ordered_at": pl.Series(
                np.datetime64(t0) + (offset + start) * np.timedelta64(86_400_000_000, "us")
            ),
            "amount": np.round(rng.gamma(2.0, 0.5, size=count.sum()) * spend_level, 2),
        }
    )
    per_order = rng.integers(1, 4, size=orders.height)
    weights = 1.0 / np.arange(1, n_products + 1)
    weights /= weights.sum()
    lines = pl.DataFrame(
        {
            "order_id": np.repeat(orders["order_id"].to_numpy(), per_order),
            "item_id": rng.choice(n_products, size=int(per_order.sum()), p=weights),
        }
    ).join(orders.select("order_id", "customer_id", pl.col("ordered_at").alias("ts")), on="order_id")
    return orders, lines


def timed(results: dict[str, list[float]], name: str, fn):
    """Wall and CPU milliseconds (CPU: this process, all threads; the wall time includes waiting for a core)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    results.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
    results.setdefault(name + "_cpu", []).append((time.process_time() - c0) * 1000)
    print(
        f"{name}: {results[name][-1]:,.0f} ms wall, {results[name + '_cpu'][-1]:,.0f} ms CPU",
        file=sys.stderr,
        flush=True,
    )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--products", type=int, default=500)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--only", default="clv,clusters,churn,sequences")
    args = p.parse_args()
    only = set(args.only.split(","))

    t0 = time.perf_counter()
    orders, lines = synthetic(args.customers, args.products)
    info: dict[str, object] = {
        "customers": args.customers,
        "orders": orders.height,
        "order_lines": lines.height,
        "generate_ms": round((time.perf_counter() - t0) * 1000, 1),
    }
    ms: dict[str, list[float]] = {}
    for _ in range(args.runs):
        if "clv" in only or "clusters" in only:
            summary = timed(ms, "rfm_summary", lambda: rfm_summary(orders, as_of=AS_OF))
        if "clv" in only:
            bg = timed(ms, "fit_bgnbd", lambda: fit_bgnbd(summary))  # noqa: B023
            gg = timed(ms, "fit_gamma_gamma", lambda: fit_gamma_gamma(summary))  # noqa: B023
            values = timed(ms, "clv_with_both_fits", lambda: clv(orders, as_of=AS_OF))
            info["bgnbd"] = {k: round(v, 4) for k, v in vars(bg).items() if k != "n"}
            info["gamma_gamma"] = {k: round(v, 4) for k, v in vars(gg).items() if k != "n"}
            info["clv_rows"] = values.height
        if "clusters" in only:
            features = summary.select(  # noqa: B023
                "customer_id",
                "frequency",
                (pl.col("T") - pl.col("recency")).alias("recency_days"),
                pl.col("monetary"),
                pl.col("T").alias("tenure_days"),
            )
            result = timed(ms, "cluster_customers", lambda: cluster_customers(features, k_min=2, k_max=8))  # noqa: B023
            info["clusters"] = {
                "k": result.k,
                "silhouette": {k: round(v, 3) for k, v in result.criterion.scores.items()},
                "descriptions": [d.text_en for d in result.descriptions],
            }
        if "churn" in only:
            churn = timed(ms, "churn_model", lambda: churn_model(orders, as_of=AS_OF, horizon_days=90))
            info["churn"] = {
                "auc_holdout": churn.auc_holdout,
                "n_train": churn.n_train,
                "scored": churn.scores.height,
                "messages": churn.messages,
            }
        if "sequences" in only:
            patterns = timed(
                ms, "sequential_patterns", lambda: sequential_patterns(lines, min_support=0.02, max_length=3)
            )
            nxt = timed(ms, "next_purchase", lambda: next_purchase(patterns, lines, top_n=3))  # noqa: B023
            info["sequences"] = {"patterns": patterns.height, "predictions": nxt.height}
    meta = {
        "benchmark": "analytics_mining",
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "command": "python " + " ".join(sys.argv),
        "load_average_at_end": os.getloadavg(),
    }
    median = {f"{k}_ms": round(statistics.median(v), 1) for k, v in ms.items()}
    print(json.dumps({**meta, "results": {**info, "median": median}}, indent=2, default=str))


if __name__ == "__main__":
    main()
