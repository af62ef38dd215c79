"""Server time of the analytics dashboard pages at 1,000,000 customers on PostgreSQL, before and after the per-run
roll-ups (``DashboardFigure``). Target: well under 1 s per page (aim < 300 ms).

    GUANXI_DATABASE_URL=postgres://USER@127.0.0.1:5432/DB .venv/bin/python benchmarks/analytics_dashboard.py [--n 7]

Uses the workspace of ``benchmarks/analytics_rfm.py`` ("bench-analytics-N"; build it first with ``--build-only``).
Runs a tiers (+ churn with ``--churn``) analysis once when the current run has no roll-ups (its time is printed).
Each page is requested through Django's test client in this process as the workspace owner: the dashboard (no
filter; a region + period filter) and the CSV of each roll-up chart. "before" is the same request with the
dashboard reading live (the GROUP BYs over the profiles, churn insights and orders that the roll-ups replace,
kept in ``selectors`` as ``live_*``); "after" reads the current run's roll-up rows. p50 / p95 of ``--n`` requests
each (ms), CPU seconds of this process for the whole pass, and the baseline of the same run: one primary-key
fetch of a customer.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGES = {
    "dashboard": "/analytics/",
    "dashboard_filtered": "/analytics/?region=广东&start=2025-01-01&end=2025-12-31",
    "csv_tiers": "/analytics/charts.csv?chart=tiers",
    "csv_stages": "/analytics/charts.csv?chart=stages",
    "csv_rfm": "/analytics/charts.csv?chart=rfm",
    "csv_flows": "/analytics/charts.csv?chart=flows",
    "csv_revenue": "/analytics/charts.csv?chart=revenue",
    "csv_churn": "/analytics/charts.csv?chart=churn",
}


def _pct(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)

    def pct(p: float) -> float:
        return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]

    return {"p50": round(pct(50), 1), "p95": round(pct(95), 1), "n": len(s)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--n", type=int, default=7, help="requests per page and mode")
    p.add_argument("--churn", action="store_true", help="also run the churn step when it has no roll-up")
    p.add_argument("--skip-before", action="store_true", help="only the roll-up reads")
    args = p.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    if not os.environ.get("GUANXI_DATABASE_URL", "").startswith("postgres"):
        print("needs PostgreSQL: set GUANXI_DATABASE_URL", file=sys.stderr)
        return 2
    import django

    django.setup()
    from django.test import Client
    from django.test.utils import override_settings
    from django.utils import timezone

    from guanxi.analytics import rollup, selectors
    from guanxi.analytics.models import AnalysisRun
    from guanxi.analytics.services.runs import analysis_run_execute
    from guanxi.core.context import workspace_context
    from guanxi.core.middleware import SESSION_WORKSPACE_KEY
    from guanxi.customers.models import Customer
    from guanxi.workspaces.models import Membership, Workspace

    def log(m: str) -> None:
        print(m, file=sys.stderr, flush=True)

    ws = Workspace.objects.get(slug=f"bench-analytics-{args.customers}")
    setup: dict[str, float] = {}
    with workspace_context(ws):
        runs = selectors.current_runs()
        kinds = []
        if not rollup.has_figures(runs.get("tiers"), "tier"):
            kinds += ["tiers", "rfm", "lifecycle"]
        if args.churn and not rollup.has_figures(runs.get("churn"), "churn"):
            kinds.append("churn")
        if kinds:
            run = AnalysisRun.objects.create(kinds=kinds, trigger="cli", as_of=timezone.now())
    if kinds:
        t = time.perf_counter()
        run = analysis_run_execute(run.pk)
        setup["analysis_run_s"] = round(time.perf_counter() - t, 1)
        setup["timings"] = run.timings
        log(f"analysis run {run.pk}: {setup['analysis_run_s']} s {run.timings} {run.messages}")
    with workspace_context(ws):
        owner = Membership.objects.filter(role="owner").first()
        cid = Customer.objects.order_by("id").values_list("id", flat=True).first()
    client = Client()
    client.force_login(owner.user)
    s = client.session
    s[SESSION_WORKSPACE_KEY] = ws.pk
    s.save()

    def get(url: str) -> float:
        t = time.perf_counter()
        r = client.get(url)
        assert r.status_code == 200, (url, r.status_code)
        return (time.perf_counter() - t) * 1000

    live = {
        "distribution": selectors.live_distribution,
        "stage_flows": selectors.live_stage_flows,
        "revenue_by_month": selectors.live_revenue_by_month,
        "churn_histogram": selectors.live_churn_histogram,
    }
    rolled = {k: getattr(selectors, k) for k in live}

    def live_regions() -> list[str]:
        qs = Customer.objects.exclude(province="").values_list("province", flat=True)
        return list(qs.order_by("province").distinct()[:100])

    results: dict[str, dict] = {}
    modes = ["after"] if args.skip_before else ["before", "after"]
    with override_settings(ALLOWED_HOSTS=["*"]):
        for mode in modes:
            for k in live:
                setattr(selectors, k, live[k] if mode == "before" else rolled[k])
            real_regions = selectors.regions
            if mode == "before":
                selectors.regions = live_regions
            c0 = time.process_time()
            out = {}
            for name, url in PAGES.items():
                get(url)  # warm
                out[name] = _pct([get(url) for _ in range(args.n)])
                log(f"{mode} {name}: {out[name]}")
            out["cpu_python_s"] = round(time.process_time() - c0, 2)
            selectors.regions = real_regions
            results[mode] = out
        for k in live:
            setattr(selectors, k, rolled[k])

    def base() -> float:
        t = time.perf_counter()
        with workspace_context(ws):
            Customer.objects.filter(pk=cid).first()
        return (time.perf_counter() - t) * 1000

    results["baseline_pk_fetch_ms"] = _pct([base() for _ in range(args.n * 3)])
    if "before" in results:
        results["speedup_p50"] = {
            k: round(results["before"][k]["p50"] / max(0.1, results["after"][k]["p50"]), 1) for k in PAGES
        }
    print(json.dumps({
        "benchmark": "analytics_dashboard", "customers": args.customers, "setup": setup, "results": results,
        "target_ms": 300, "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"), "load_average_at_end": os.getloadavg(),
    }, ensure_ascii=False, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
