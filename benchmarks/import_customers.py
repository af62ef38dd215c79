"""Benchmark: import a 1,000,000-row customer CSV (validation, normalisation, duplicate checks, search text).

    GUANXI_DATABASE_URL=postgres://postgres@127.0.0.1:5432/guanxi_import GUANXI_DATA_DIR=/tmp/gx-bench \\
        python benchmarks/import_customers.py --rows 1000000 [--runs 1]
    GUANXI_DATA_DIR=/tmp/gx-bench-sqlite python benchmarks/import_customers.py --rows 1000000

Builds the CSV once (realistic Chinese names, mobiles, emails, companies, cities; ~2% in-file duplicates and ~1%
bad rows), migrates, and imports it into a fresh workspace each run through the same job code as the UI/CLI.
On PostgreSQL the baseline is a bare ``COPY`` of the same file into a plain unindexed text table, measured in the
same run; the figure reported is the ratio import / COPY. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国建华玉兰志强红梅文斌晓明海燕春梅丹丹鹏飞子涵欣怡浩然宇轩梓萱一诺雨桐思远博文嘉怡俊杰"
CITIES = [("北京", "北京"), ("上海", "上海"), ("广东", "广州"), ("广东", "深圳"), ("浙江", "杭州"), ("江苏", "南京"),
          ("四川", "成都"), ("湖北", "武汉"), ("陕西", "西安"), ("福建", "厦门"), ("山东", "青岛"), ("天津", "天津")]  # fmt: skip
COMPANIES = [
    "华为技术",
    "腾讯科技",
    "阿里巴巴",
    "小米科技",
    "比亚迪",
    "京东商城",
    "美的集团",
    "格力电器",
    "海尔智家",
    "",
]
PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156", "158",
            "159", "166", "176", "177", "178", "180", "181", "182", "183", "185", "186", "187", "188", "189", "199"]  # fmt: skip
HEADER = ["姓名", "手机号", "邮箱", "公司", "省份", "城市", "行业", "来源", "标签", "备注"]


def make_csv(path: Path, rows: int, seed: int = 42) -> dict:
    rnd = random.Random(seed)
    chars = sorted(set(GIVEN))
    given = [a + b for a in chars for b in chars] + chars  # ~4,000 given names x ~100 surnames
    dups = bad = 0
    recent: list[list[str]] = []
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(rows):
            r = rnd.random()
            if r < 0.02 and recent:  # an in-file duplicate: same phone, written differently
                row = list(rnd.choice(recent))
                p = row[1]
                row[1] = f"+86 {p[:3]} {p[3:7]} {p[7:]}"
                dups += 1
            elif r < 0.03:  # a bad row: malformed phone or email, or no name
                row = [rnd.choice(SURNAMES) + rnd.choice(given), "1234", "", "", "", "", "", "", "", ""]
                if rnd.random() < 0.5:
                    row[1], row[2] = "", "not-an-email@"
                bad += 1
            else:
                name = rnd.choice(SURNAMES) + rnd.choice(given)
                phone = rnd.choice(PREFIXES) + f"{rnd.randrange(10**8):08d}"
                province, city = rnd.choice(CITIES)
                row = [name, phone, f"u{i}@example.com" if rnd.random() < 0.7 else "", rnd.choice(COMPANIES),
                       province, city, rnd.choice(["制造", "零售", "金融", "教育", ""]),
                       rnd.choice(["网站", "展会", "转介绍", ""]), rnd.choice(["VIP", "老客户", "", ""]), ""]  # fmt: skip
                if len(recent) < 5000:
                    recent.append(row)
                elif rnd.random() < 0.01:
                    recent[rnd.randrange(5000)] = row
            w.writerow(row)
    return {"rows": rows, "in_file_duplicates": dups, "bad_rows": bad, "bytes": path.stat().st_size}


def bare_copy_seconds(path: Path) -> float:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_copy_baseline")
        cols = ", ".join(f"c{i} text" for i in range(len(HEADER)))
        cur.execute(f"CREATE UNLOGGED TABLE bench_copy_baseline ({cols})")
        t = time.perf_counter()
        with (
            path.open("rb") as fh,
            cur.cursor.copy("COPY bench_copy_baseline FROM STDIN (FORMAT csv, HEADER true)") as cp,
        ):
            while block := fh.read(1 << 20):
                cp.write(block)
        elapsed = time.perf_counter() - t
        cur.execute("DROP TABLE bench_copy_baseline")
    return elapsed


def _backend_cpu_seconds() -> float | None:
    """CPU seconds the PostgreSQL backend of this connection has used (its /proc entry: same machine only)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu() -> dict[str, float]:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"python": me.ru_utime + me.ru_stime, "workers": kids.ru_utime + kids.ru_stime,
            "database": _backend_cpu_seconds() or 0.0}  # fmt: skip


class Phases:
    """Wall seconds per phase of the import, by wrapping the importer's functions (no change to the importer):
    where a wrapped call runs inside another, its time counts in both."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, module, name: str, label: str) -> None:  # type: ignore[no-untyped-def]
        fn = getattr(module, name, None)
        if fn is None:  # an importer without this step (an older version measured with this script)
            return

        def timed(*a, **kw):  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - t

        setattr(module, name, timed)

    def sql(self, execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds["sql (all statements)"] = (
                self.seconds.get("sql (all statements)", 0.0) + time.perf_counter() - t
            )

    def install(self) -> None:
        from guanxi.customers.importing import chunk, services

        self.wrap(services, "_rejoin", "waiting for prepared rows (workers)")
        self.wrap(services, "prepare_chunk", "preparing rows in process")
        self.wrap(services, "_commit_chunk", "chunk transaction (records + SQL)")
        self.wrap(chunk, "_existing_matches", "duplicate look-ups")
        self.wrap(chunk, "bulk_insert", "inserts (customers, phones, emails, ...)")
        self.wrap(chunk, "bulk_update", "updates")
        self.wrap(chunk, "_write_details", "phones, emails, addresses, tags")
        self.wrap(services, "refresh_statistics", "ANALYZE during the import")
        self.wrap(services, "import_finished", "end of job (GIN pending-list merge / stats)")
        self.wrap(services, "_finish", "report and audit")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument(
        "--chunk", type=int, default=0, help="rows per chunk (default: the importer's CHUNK_ROWS)"
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes preparing rows (default: the importer's own)",
    )
    args = ap.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from guanxi.core.context import workspace_context
    from guanxi.customers.importing.services import import_create, import_run, import_start
    from guanxi.customers.models import Customer
    from guanxi.workspaces.models import User
    from guanxi.workspaces.services import workspace_create

    call_command("migrate", interactive=False, verbosity=0)
    data = Path(settings.DATA_DIR) / "bench"
    data.mkdir(parents=True, exist_ok=True)
    path = data / f"customers-{args.rows}.csv"
    t = time.perf_counter()
    made = (
        make_csv(path, args.rows) if not path.exists() else {"rows": args.rows, "bytes": path.stat().st_size}
    )
    gen_s = time.perf_counter() - t
    runs = []
    phases = Phases()
    phases.install()
    for run in range(args.runs):
        phases.seconds = {}
        user = User.objects.create_user(username=f"bench{int(time.time() * 1000)}{run}", password="x" * 12)
        ws, owner = workspace_create(name=f"Import bench {time.time():.0f}-{run}", owner=user)
        copy_cpu0 = _backend_cpu_seconds()
        copy_s = bare_copy_seconds(path) if connection.vendor == "postgresql" else None
        copy_cpu = round(_backend_cpu_seconds() - copy_cpu0, 2) if copy_cpu0 is not None else None
        with connection.cursor() as cur:  # earlier runs' customers stay: the indexes grow run by run
            cur.execute("SELECT count(*) FROM customers_customer")
            table_rows_before = cur.fetchone()[0]
        load_before = os.getloadavg()[0]
        cpu0 = _cpu()
        t0 = time.perf_counter()
        with workspace_context(ws):
            with path.open("rb") as fh:
                job = import_create(actor=owner, file_name=path.name, chunks=fh)
            t_analyse = time.perf_counter() - t0
            import_start(actor=owner, job_id=job.pk, enqueue=False)
        run_kw = {"chunk_size": args.chunk} if args.chunk else {}
        if args.workers is not None:  # (an older importer without workers: leave --workers out)
            run_kw["workers"] = args.workers
        with connection.execute_wrapper(phases.sql):
            job = import_run(job.pk, **run_kw)
        total = time.perf_counter() - t0
        cpu1 = _cpu()
        cpu = {k: round(cpu1[k] - cpu0[k], 1) for k in cpu0}
        with workspace_context(ws):
            count = Customer.objects.count()
        runs.append({
            "seconds": round(total, 1), "analyse_seconds": round(t_analyse, 1),
            "rows_per_second": round(args.rows / total), "copy_seconds": round(copy_s, 2) if copy_s else None,
            "ratio_to_copy": round(total / copy_s, 1) if copy_s else None, "created": job.created_count,
            "updated": job.updated_count, "skipped": job.skipped_count, "rejected": job.rejected_count,
            "customers_in_workspace": count, "status": job.status, "table_rows_before": table_rows_before,
            "load_avg_1m_before": round(load_before, 2), "load_avg_1m_after": round(os.getloadavg()[0], 2),
            "cpu_seconds": {**cpu, "total": round(sum(cpu.values()), 1)}, "copy_cpu_seconds": copy_cpu,
            "cpu_ratio_to_copy": round(sum(cpu.values()) / copy_cpu, 1) if copy_cpu else None,
            "phase_seconds": {k: round(v, 1) for k, v in sorted(phases.seconds.items())},
            "workers": run_kw.get("workers", "default"),
        })  # fmt: skip
        print(json.dumps({"run": run, **runs[-1]}, ensure_ascii=False), file=sys.stderr, flush=True)
    secs = [r["seconds"] for r in runs]
    target = 60 if connection.vendor == "postgresql" else 120
    out = {
        "benchmark": "import_customers",
        "database": connection.vendor,
        "file": made,
        "generate_seconds": round(gen_s, 1),
        "median_seconds": statistics.median(secs),
        "target_seconds": target,
        "met": statistics.median(secs) < target,
        "runs": runs,
    }
    if connection.vendor == "postgresql":
        out["median_ratio_to_copy"] = statistics.median(r["ratio_to_copy"] for r in runs)
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
