"""Benchmark: import ERP order history (one row per order line) through the order import job.

    GUANXI_DATABASE_URL=postgres://postgres@127.0.0.1:5432/guanxi_bench GUANXI_DATA_DIR=/tmp/gx-bench \\
        python benchmarks/import_orders.py --lines 10000000 [--runs 3]

The target (issue 4): 10,000,000 order lines (~2M orders of ~500k customers over several years) under 5 minutes
on PostgreSQL. Builds, once, a workspace ``bench-orders`` with the customers (external ids ``C0000001``…) and
1,000 products, and the CSV (order id, line no, customer id, date 2019-2024, SKU, quantity, price, status,
currency). Each run deletes the workspace's orders (not timed), then imports the whole file through the same code as
the UI and the CLI (analyse, chunks with checkpoints, set-based writes, timeline). The baseline is a bare ``COPY``
of the same file into an unindexed text table, measured in the same run. Prints one JSON object: the median of the
runs, the ratio to the bare COPY, and the seconds per phase ("where time goes").
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/guanxi_bench"
HEADER = [
    "order_id",
    "line_no",
    "customer_id",
    "order_date",
    "sku",
    "quantity",
    "unit_price",
    "status",
    "currency",
]
STATUSES = ["delivered"] * 8 + ["cancelled", "shipped"]


def make_csv(path: Path, lines: int, customers: int, products: int, seed: int = 42) -> dict:
    """~5 lines an order on average (1-9), dates spread over 2019-2024, ~0.1 % bad rows."""
    rnd = random.Random(seed)
    start = dt.date(2019, 1, 1).toordinal()
    days = dt.date(2024, 12, 31).toordinal() - start
    written = orders = bad = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        while written < lines:
            orders += 1
            oid = f"SO{orders:08d}"
            cust = f"C{rnd.randrange(1, customers + 1):07d}"
            day = dt.date.fromordinal(start + rnd.randrange(days)).isoformat()
            status = rnd.choice(STATUSES)
            for ln in range(1, min(rnd.randint(1, 9), lines - written) + 1):
                qty = str(rnd.randint(1, 20))
                if rnd.random() < 0.001:
                    qty = "-1"
                    bad += 1
                w.writerow([oid, ln, cust, day, f"SKU-{rnd.randrange(products):04d}", qty,
                            f"{rnd.randint(100, 500000) / 100:.2f}", status, "CNY"])  # fmt: skip
                written += 1
    return {"lines": written, "orders": orders, "bad_rows": bad, "bytes": path.stat().st_size}


def _cpu_seconds() -> float:
    """CPU seconds of this process, all threads (polars works in its own threads)."""
    import resource

    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _backend_cpu_seconds() -> float:
    """CPU seconds of this connection's PostgreSQL backend so far (from /proc: the server runs on this machine);
    0 where it cannot be read. With the importer's own CPU seconds, a measure that the load of a shared machine
    distorts far less than wall time."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bare_copy_seconds(path: Path) -> float:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_copy_orders")
        cols = ", ".join(f"c{i} text" for i in range(len(HEADER)))
        cur.execute(f"CREATE UNLOGGED TABLE bench_copy_orders ({cols})")
        t = time.perf_counter()
        with (
            path.open("rb") as fh,
            cur.cursor.copy("COPY bench_copy_orders FROM STDIN (FORMAT csv, HEADER true)") as cp,
        ):
            while block := fh.read(1 << 20):
                cp.write(block)
        elapsed = time.perf_counter() - t
        cur.execute("DROP TABLE bench_copy_orders")
    return elapsed


def ensure_workspace(customers: int, products: int):  # type: ignore[no-untyped-def]
    """The bench workspace with its customers and products (built once, set-based)."""
    from django.db import transaction
    from django.utils import timezone

    from guanxi.core.context import workspace_context
    from guanxi.customers.importing.bulk import bulk_insert
    from guanxi.customers.models import Customer
    from guanxi.sales.models import Product
    from guanxi.workspaces.models import Membership, User, Workspace
    from guanxi.workspaces.services import workspace_create

    ws = Workspace.objects.filter(name="Order import bench").first()
    if ws is None:
        user = User.objects.filter(username="orderbench").first() or User.objects.create_user(
            username="orderbench", password="Order-Bench-2026!"
        )
        ws, owner = workspace_create(name="Order import bench", owner=user)
    with workspace_context(ws):
        owner = Membership.objects.select_related("user", "workspace").get(role="owner")
        have = Customer.objects.count()
        now = timezone.now()
        for lo in range(have, customers, 50_000):
            with transaction.atomic():
                bulk_insert(Customer, [
                    {"workspace_id": ws.pk, "name": f"客户{i:07d}", "external_id": f"C{i:07d}",
                     "owner_id": owner.user_id, "created_at": now, "updated_at": now, "source": "import"}
                    for i in range(lo + 1, min(customers, lo + 50_000) + 1)
                ])  # fmt: skip
            print(f"customers: {min(customers, lo + 50_000):,}", file=sys.stderr, flush=True)
        if Product.objects.count() < products:
            with transaction.atomic():
                bulk_insert(Product, [
                    {"workspace_id": ws.pk, "sku": f"SKU-{i:04d}", "name": f"产品 {i:04d}", "unit": "件",
                     "tax_rate": [13, 9, 6][i % 3], "list_price": 100, "currency": "CNY", "is_active": True,
                     "created_at": now, "updated_at": now}
                    for i in range(products)
                ], ignore_conflicts=True)  # fmt: skip
    return ws, owner


def clear_orders(ws) -> None:  # type: ignore[no-untyped-def]
    from django.db import DatabaseError, connection, transaction

    from guanxi.core.context import workspace_context

    with workspace_context(ws), transaction.atomic(), connection.cursor() as cur:
        for sql in (
            "DELETE FROM customers_interaction WHERE workspace_id = %s AND source_type = 'sales.order'",
            "DELETE FROM sales_orderline WHERE workspace_id = %s",
            "DELETE FROM sales_order WHERE workspace_id = %s",
            "DELETE FROM sales_orderimportrejectedrow WHERE workspace_id = %s",
        ):
            cur.execute(sql, [ws.pk])
    # Without it the next run's first commits crawl over the dead rows (seen: a 20,000-row chunk's COMMIT > 3 min).
    # (a role that does not own the tables cannot: the figures then carry the dead rows)
    with connection.cursor() as cur, contextlib.suppress(DatabaseError):
        cur.execute("VACUUM ANALYZE sales_order, sales_orderline, customers_interaction")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--customers", type=int, default=0, help="default: lines / 20 (500k for 10M)")
    ap.add_argument("--products", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument(
        "--chunk", type=int, default=0, help="rows per chunk (default: the importer's CHUNK_ROWS)"
    )
    args = ap.parse_args()
    args.customers = args.customers or max(1000, args.lines // 20)
    os.environ.setdefault("GUANXI_DATABASE_URL", DEFAULT_PG)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from guanxi.core.context import workspace_context
    from guanxi.core.dbstats import refresh_planner_statistics
    from guanxi.sales.importing.chunk import PHASES
    from guanxi.sales.importing.services import order_import_create, order_import_run, order_import_start
    from guanxi.sales.models import Order, OrderLine

    call_command("migrate", interactive=False, verbosity=0)
    data = Path(settings.DATA_DIR) / "bench"
    data.mkdir(parents=True, exist_ok=True)
    path = data / f"orders-{args.lines}-{args.customers}.csv"
    t = time.perf_counter()
    made = (
        make_csv(path, args.lines, args.customers, args.products)
        if not path.exists()
        else {"lines": args.lines, "bytes": path.stat().st_size}
    )
    gen_s = time.perf_counter() - t
    ws, owner = ensure_workspace(args.customers, args.products)
    refresh_planner_statistics(("customers_customer", "sales_product"))
    runs = []
    for run in range(args.runs):
        clear_orders(ws)
        refresh_planner_statistics(("sales_order", "sales_orderline", "customers_interaction"))
        copy_s = bare_copy_seconds(path) if connection.vendor == "postgresql" else None
        PHASES.clear()
        load_before = os.getloadavg()[0]
        cpu_before, pg_before = _cpu_seconds(), _backend_cpu_seconds()
        t0 = time.perf_counter()
        with workspace_context(ws):
            with path.open("rb") as fh:
                job = order_import_create(actor=owner, file_name=path.name, chunks=fh)
            t_analyse = time.perf_counter() - t0
            order_import_start(actor=owner, job_id=job.pk, enqueue=False)
        job = order_import_run(job.pk, **({"chunk_size": args.chunk} if args.chunk else {}))
        total = time.perf_counter() - t0
        cpu_s, pg_s = _cpu_seconds() - cpu_before, _backend_cpu_seconds() - pg_before
        with workspace_context(ws):
            orders, lines = Order.objects.count(), OrderLine.objects.count()
        phases = {"analyse file (decode, count rows)": round(t_analyse, 1)}
        phases.update({k: round(v, 1) for k, v in sorted(PHASES.items(), key=lambda kv: -kv[1])})
        runs.append({
            "seconds": round(total, 1), "lines_per_second": round(args.lines / total),
            "copy_seconds": round(copy_s, 2) if copy_s else None,
            "ratio_to_copy": round(total / copy_s, 1) if copy_s else None, "orders_created": job.orders_created,
            "lines_written": job.lines_written, "rejected": job.rejected_count, "orders_in_workspace": orders,
            "lines_in_workspace": lines, "status": job.status, "error": job.error, "phases_seconds": phases,
            "cpu_seconds_importer": round(cpu_s, 1), "cpu_seconds_postgres_backend": round(pg_s, 1),
            "load_avg_1m_before": round(load_before, 2), "load_avg_1m_after": round(os.getloadavg()[0], 2),
        })  # fmt: skip
        print(json.dumps({"run": run, **runs[-1]}, ensure_ascii=False), file=sys.stderr, flush=True)
    secs = [r["seconds"] for r in runs]
    with connection.cursor() as cur:
        cur.execute("SELECT version()" if connection.vendor == "postgresql" else "SELECT sqlite_version()")
        version = cur.fetchone()[0]
    out = {
        "benchmark": "import_orders",
        "database": version,
        "machine": f"{os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "file": made,
        "customers": args.customers,
        "generate_seconds": round(gen_s, 1),
        "median_seconds": statistics.median(secs),
        "target_seconds": 300 if args.lines >= 10_000_000 else None,
        "runs": runs,
    }
    if connection.vendor == "postgresql":
        out["median_ratio_to_copy"] = statistics.median(r["ratio_to_copy"] for r in runs)
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
