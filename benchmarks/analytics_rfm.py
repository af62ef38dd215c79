"""Tiers + RFM + lifecycle end to end (read, compute, write back, switch) at 1,000,000 customers and 10,000,000
order lines on PostgreSQL. Target: under 60 s.

    GUANXI_DATABASE_URL=postgres://USER@127.0.0.1:5432/DB .venv/bin/python benchmarks/analytics_rfm.py [--runs 3]

The data (its own workspace "bench-analytics-N") is generated once, set-based in the database (INSERT … SELECT over
generate_series: faster than COPY here because nothing crosses the wire): N customers, 2.5·N orders spread over
three years with 4 lines each (10·N lines), plus planted purchase sequences (``plant_sequences``: 0.25·N one-line
orders), 2 % of orders with a refunded return. Later runs reuse it. Each measured
run is a real ``analysis_run_execute`` of the kinds tiers, rfm, lifecycle: the same code the nightly job and
``guanxi analyze --only tiers`` run. The first measured run writes every profile; later ones also delete the
replaced run's rows and compare stages (no changes: the data does not move between runs).
Prints one JSON object: medians per phase (read = SQL GROUP BY streamed out with COPY into polars; compute =
polars; write = on PostgreSQL COPY into a fresh table that becomes the run's partition, indexes built once at
ATTACH; timeline = stage changes, in bulk; commit_and_switch = the rest of the step: pointer switch and COMMIT;
cleanup = the replaced run's partition dropped), CPU seconds of this process and of its PostgreSQL backend (the box
is shared: wall time includes waiting for a core), and a baseline measured in the same run: the per-customer
GROUP BY alone, executed in the database with nothing sent back. ``--build-only`` builds the data and stops.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _fill(cur, table: str, given: dict[str, str], source: str) -> None:
    """INSERT INTO table SELECT … FROM source, with ``given`` expressions and a neutral value for every other NOT
    NULL column without a default (Django keeps defaults in Python, not in the database)."""
    cur.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
        "AND is_nullable = 'NO' AND column_default IS NULL",
        [table],
    )
    neutral = {
        "boolean": "false", "jsonb": "'{}'::jsonb", "timestamp with time zone": "now()", "date": "current_date",
        "integer": "0", "bigint": "0", "smallint": "0", "numeric": "0", "double precision": "0",
    }  # fmt: skip
    cols = dict(given)
    for name, dtype in cur.fetchall():
        if name not in cols and name != "id":
            cols[name] = neutral.get(dtype, "''")
    names = ", ".join(cols)
    exprs = ", ".join(cols.values())
    cur.execute(f"INSERT INTO {table} ({names}) SELECT {exprs} FROM {source}")  # noqa: S608 (bench, fixed names)


SEQUENCE_EVERY = 10  # one customer in ten follows a planted purchase sequence


def plant_sequences(cur, ws_id: int, lo: int, hi: int, p0: int) -> None:  # type: ignore[no-untyped-def]
    """Real purchase sequences for the sequences step: one customer in ``SEQUENCE_EVERY`` (customer offset divisible
    by it) buys product A, about 300 days later B, and (half of them) C in the last 5 days, one order of one line per
    step. Three sequences, by the customer's offset: products 0 → 1 → 2, 3 → 4 → 5, 6 → 7 → 8 (as offsets from the
    first bench product); each is followed by about 3.3 % of customers (2+ steps) and 1.7 % (all 3). The customers
    who stopped after B have B among their latest purchases (A 600-630 days ago, B in the last 5 days), so "likely
    next purchase" predicts C for them. Orders are numbered "S<customer>-<step>"."""
    every = SEQUENCE_EVERY
    half = every * 2
    _fill(cur, "sales_order", {
        "workspace_id": str(ws_id), "number": "'S' || c || '-' || k", "customer_id": "c",
        "status": "'confirmed'", "currency": "'CNY'", "total": "round((100 + random() * 500)::numeric, 2)",
        "subtotal": "0", "discount_total": "0", "tax_total": "0",
        "ordered_at": f"now() - (CASE WHEN k = 1 THEN 600 WHEN k = 2 AND (c - {lo}) % {half} = 0 THEN 300 "
                      f"ELSE 0 END + random() * CASE WHEN k = 1 OR (k = 2 AND (c - {lo}) % {half} = 0) THEN 30 "
                      f"ELSE 5 END) * interval '1 day'",
        "created_at": "now()", "updated_at": "now()",
    }, f"generate_series({lo}, {hi}, {every}) c CROSS JOIN generate_series(1, 3) k "
       f"WHERE NOT (k = 3 AND (c - {lo}) % {half} <> 0)")  # fmt: skip
    _fill(cur, "sales_orderline", {
        "workspace_id": str(ws_id), "order_id": "o.id", "position": "1",
        "product_id": f"{p0} + ((o.customer_id - {lo}) / {every}) % 3 * 3 + right(o.number, 1)::int - 1",
        "description": "'line'", "quantity": "1", "unit_price": "o.total", "discount_pct": "0", "tax_rate": "13",
        "amount": "o.total", "discount_amount": "0", "tax_amount": "0", "total": "o.total",
    }, f"sales_order o WHERE o.workspace_id = {ws_id} AND o.number LIKE 'S%'")  # fmt: skip


def build(ws_id: int, customers: int, log) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection, transaction

    from guanxi.core import rls

    with rls.bypass(), transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM customers_customer WHERE workspace_id = %s", [ws_id])
        have = cur.fetchone()[0]
        if have >= customers:
            return
        t = time.perf_counter()
        _fill(cur, "customers_customer", {
            "workspace_id": str(ws_id), "kind": "'person'", "name": "'客户' || g", "province": "(ARRAY['广东','浙江','江苏','北京','上海'])[1 + g % 5]",
            "created_at": "now()", "updated_at": "now()", "import_ref": "'bench:' || g",
        }, f"generate_series({have + 1}, {customers}) g")  # fmt: skip
        log(f"customers: {time.perf_counter() - t:.1f} s")
        cur.execute("SELECT MIN(id), MAX(id) FROM customers_customer WHERE workspace_id = %s", [ws_id])
        lo, hi = cur.fetchone()
        t = time.perf_counter()
        _fill(cur, "sales_product", {
            "workspace_id": str(ws_id), "name": "'产品' || g", "sku": "'SKU' || g",
            "created_at": "now()", "updated_at": "now()",
        }, "generate_series(1, 200) g")  # fmt: skip
        cur.execute("SELECT MIN(id) FROM sales_product WHERE workspace_id = %s", [ws_id])
        p0 = cur.fetchone()[0]
        # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: at 12M rows the per-row checks queued for COMMIT
        # took longer than the inserts. Drop them for the load and add them back: one validating join per key.
        cur.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid::regclass::text IN ('sales_order', 'sales_orderline', 'sales_orderreturn')"
        )
        fks = cur.fetchall()
        cur.execute(
            "SET CONSTRAINTS ALL IMMEDIATE"
        )  # run the customers' queued checks now (ALTER needs none pending)
        for table, name, _d in fks:
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        orders = int(customers * 2.5)
        # a skewed customer pick (the square of a uniform): some customers buy much more than others
        _fill(cur, "sales_order", {
            "workspace_id": str(ws_id), "number": "'B' || g", "customer_id": f"{lo} + floor(power(random(), 2) * {hi - lo + 1})::bigint",
            "status": "'confirmed'", "currency": "'CNY'", "total": "round((50 + random() * 2000)::numeric, 2)",
            "subtotal": "0", "discount_total": "0", "tax_total": "0",
            "ordered_at": "now() - (random() * 1095) * interval '1 day'", "created_at": "now()", "updated_at": "now()",
        }, f"generate_series(1, {orders}) g")  # fmt: skip
        log(f"orders: {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        _fill(cur, "sales_orderline", {
            "workspace_id": str(ws_id), "order_id": "o.id", "position": "k", "product_id": f"{p0} + (o.id * 7 + k * 13) % 200",
            "description": "'line'", "quantity": "1", "unit_price": "o.total / 4", "discount_pct": "0", "tax_rate": "13",
            "amount": "o.total / 4", "discount_amount": "0", "tax_amount": "0", "total": "o.total / 4",
        }, f"sales_order o CROSS JOIN generate_series(1, 4) k WHERE o.workspace_id = {ws_id}")  # fmt: skip
        log(f"order lines: {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        plant_sequences(cur, ws_id, lo, hi, p0)
        log(f"planted sequences: {time.perf_counter() - t:.1f} s")
        _fill(cur, "sales_orderreturn", {
            "workspace_id": str(ws_id), "order_id": "o.id", "reason": "'bench'", "refund_amount": "o.total / 2",
            "status": "'refunded'", "created_at": "o.ordered_at + interval '3 days'", "updated_at": "now()",
        }, f"sales_order o WHERE o.workspace_id = {ws_id} AND o.id % 50 = 0")  # fmt: skip
        t = time.perf_counter()
        for table, name, definition in fks:
            cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        log(f"foreign keys back: {time.perf_counter() - t:.1f} s")
        for table in ("customers_customer", "sales_order", "sales_orderline", "sales_orderreturn"):
            cur.execute(f"ANALYZE {table}")


def _baseline_group_by(ws) -> float:  # type: ignore[no-untyped-def]
    """Seconds for the per-customer GROUP BY alone, run in the database with nothing sent back (the baseline)."""
    from django.db import connection
    from django.utils import timezone

    from guanxi.analytics.features import customer_aggregates, order_scope
    from guanxi.core.context import workspace_context

    with workspace_context(ws):
        scope = order_scope(ws.pk, timezone.now())
        captured = {}

        def grab(sql, params, schema):  # type: ignore[no-untyped-def]
            captured["q"] = (sql, params)
            import polars as pl

            return pl.DataFrame(schema=schema)

        import guanxi.analytics.features as f

        real, f.read_frame = f.read_frame, grab
        try:
            customer_aggregates(scope)
        finally:
            f.read_frame = real
        sql, params = captured["q"]
        t = time.perf_counter()
        with connection.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM ({sql}) t", params)  # noqa: S608 (the step's own query)
            cur.fetchone()
        return time.perf_counter() - t


def _backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return int(cur.fetchone()[0])


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process on this machine: the database server's backend of our connection
    (the benchmark talks to a local server); 0 where /proc cannot tell."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--build-only", action="store_true", help="build the data set and stop")
    args = p.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    if not os.environ.get("GUANXI_DATABASE_URL", "").startswith("postgres"):
        print("needs PostgreSQL: set GUANXI_DATABASE_URL", file=sys.stderr)
        return 2
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from guanxi.analytics.models import AnalysisRun
    from guanxi.analytics.services.runs import analysis_run_execute
    from guanxi.core.context import workspace_context
    from guanxi.workspaces.models import User, Workspace
    from guanxi.workspaces.services import workspace_create

    def log(m: str) -> None:
        print(m, file=sys.stderr, flush=True)

    call_command("migrate", interactive=False, verbosity=0)
    slug = f"bench-analytics-{args.customers}"  # one workspace per scale: the data is built once, whole
    ws = Workspace.objects.filter(slug=slug).first()
    if ws is None:
        owner = User.objects.create_user(username=slug, password="bench-analytics-pass-1")
        ws, _m = workspace_create(name=slug, owner=owner)
        Workspace.objects.filter(pk=ws.pk).update(slug=slug)
        ws.refresh_from_db()
    t = time.perf_counter()
    build(ws.pk, args.customers, log)
    log(f"data ready in {time.perf_counter() - t:.1f} s")
    if args.build_only:
        return 0
    with connection.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM sales_orderline WHERE workspace_id = %s", [ws.pk])
        lines = cur.fetchone()[0]
        cur.execute("SHOW server_version")
        server = cur.fetchone()[0]
    results = []
    for i in range(args.runs):
        with workspace_context(ws):
            run = AnalysisRun.objects.create(
                kinds=["tiers", "rfm", "lifecycle"], trigger="cli", as_of=timezone.now()
            )
        base = _baseline_group_by(ws)
        backend = _backend_pid()
        t, c, b = time.perf_counter(), time.process_time(), _proc_cpu(backend)
        run = analysis_run_execute(run.pk)
        total = time.perf_counter() - t
        cpu = {"cpu_python": time.process_time() - c, "cpu_postgres_backend": _proc_cpu(backend) - b}
        assert run.status == "succeeded", run.messages
        phases = {k: v for k, v in run.timings.items() if k.startswith("profile.")}
        commit = run.timings["profile"] - sum(phases.values())
        results.append(
            {
                "total": total,
                **run.timings,
                "profile.commit_and_switch": commit,
                **cpu,
                "baseline_group_by": base,
            }
        )
        log(f"run {i + 1}: {total:.1f} s {run.timings} cpu {cpu} rows {run.row_counts}")
    keys = sorted({k for r in results for k in r})
    med = {k: round(statistics.median(r.get(k, 0) for r in results), 2) for k in keys}
    print(json.dumps({
        "benchmark": "analytics_rfm", "customers": args.customers, "order_lines": lines, "runs": args.runs,
        "median_s": med, "first_run_s": round(results[0]["total"], 2), "target_s": 60,
        "database": f"PostgreSQL {server}", "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"), "load_average_at_end": os.getloadavg(),
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
