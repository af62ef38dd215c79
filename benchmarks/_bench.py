"""Shared set-up for the benchmarks in this folder: the database at scale, timing, percentiles, JSON output.

Each benchmark runs against PostgreSQL by default: GUANXI_DATABASE_URL, or the database ``guanxi_bench`` on
127.0.0.1 when unset. ``--sqlite`` runs it embedded instead, on a SQLite file under GUANXI_DATA_DIR (default
``./data/bench``), at a smaller scale (100,000 customers). The data is the demo generator's
(``guanxi demo --customers N``): built once, reused by every later run (and by the other benchmarks).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/guanxi_bench"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--sqlite", action="store_true", help="embedded mode: a SQLite file, 100k customers")
    p.add_argument(
        "--customers", type=int, default=None, help="scale (default 1,000,000; 100,000 with --sqlite)"
    )
    p.add_argument("--runs", type=int, default=5, help="repeat the whole measurement; medians are reported")
    p.add_argument("--queries", type=int, default=300, help="queries per kind and run")
    return p


def setup(args: argparse.Namespace) -> dict[str, Any]:
    """Point Django at the benchmark database, make sure it holds the data, and return its description."""
    if args.sqlite:
        data = Path(os.environ.get("GUANXI_DATA_DIR") or ROOT / "data" / "bench").resolve()
        data.mkdir(parents=True, exist_ok=True)
        os.environ["GUANXI_DATA_DIR"] = str(data)
        os.environ["GUANXI_DATABASE_URL"] = f"sqlite:///{data / 'bench.sqlite3'}"
        args.customers = args.customers or 100_000
    else:
        os.environ.setdefault("GUANXI_DATABASE_URL", DEFAULT_PG)
        os.environ.setdefault("GUANXI_DATA_DIR", str(ROOT / "data" / "bench-pg"))
        args.customers = args.customers or 1_000_000
    os.environ.setdefault("GUANXI_API_RATE_LIMIT", "1000000")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from guanxi.core.context import set_current_workspace
    from guanxi.customers.demo_scale import demo_customers_generate
    from guanxi.customers.models import Customer
    from guanxi.web.demo import load_demo
    from guanxi.workspaces.models import Membership, Workspace

    call_command("migrate", interactive=False, verbosity=0)
    result = load_demo()
    ws = Workspace.objects.get(slug=result["slug"])
    set_current_workspace(ws)
    have = Customer.objects.count()
    if have < args.customers:
        print(f"building {args.customers:,} customers (have {have:,})", file=sys.stderr)
        from guanxi.customers.search import search_refresh

        search_refresh(only_missing=True)
        demo_customers_generate(
            workspace=ws, target=args.customers, progress=lambda m: print(m, file=sys.stderr, flush=True)
        )
    owner = Membership.objects.select_related("user", "workspace").get(user__username="demo")
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SHOW server_version")
            db = "PostgreSQL " + cur.fetchone()[0]
        else:
            cur.execute("SELECT sqlite_version()")
            db = "SQLite " + cur.fetchone()[0]
    return {
        "workspace": ws,
        "owner": owner,
        "meta": {
            "database": db,
            "customers": Customer.objects.count(),
            "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        },
    }


def timed(fn: Callable[[], Any]) -> float:
    """Milliseconds one call takes."""
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def percentiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)

    def pct(p: float) -> float:
        return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]

    return {"p50": round(pct(50), 3), "p95": round(pct(95), 3), "p99": round(pct(99), 3), "n": len(s)}


def median_of_runs(runs: list[dict[str, float]]) -> dict[str, float]:
    """The median, over the runs, of each figure."""
    keys = [k for k in runs[0] if k != "n"]
    out = {k: round(statistics.median(r[k] for r in runs), 3) for k in keys}
    out["n"] = sum(r["n"] for r in runs)
    return out


def emit(name: str, meta: dict[str, Any], results: dict[str, Any]) -> None:
    print(json.dumps({"benchmark": name, **meta, "results": results}, ensure_ascii=False, indent=2))


def baseline_pk_fetch(ids: list[int]) -> Callable[[int], float]:
    """The reference every figure is compared with: one plain primary-key fetch of a customer through the ORM."""
    from guanxi.customers.models import Customer

    def one(i: int) -> float:
        cid = ids[i % len(ids)]
        return timed(lambda: Customer.objects.filter(pk=cid).first())

    return one


def sample_ids(n: int, seed: int = 7) -> list[int]:
    """n random customer ids of the current workspace (by id range, without ORDER BY random())."""
    import random

    from django.db.models import Max, Min

    from guanxi.customers.models import Customer

    agg = Customer.objects.aggregate(lo=Min("id"), hi=Max("id"))
    rng = random.Random(seed)
    out: list[int] = []
    while len(out) < n:
        want = [rng.randint(agg["lo"], agg["hi"]) for _ in range(n * 2)]
        out.extend(Customer.objects.filter(pk__in=want).values_list("id", flat=True)[: n - len(out)])
    return out
