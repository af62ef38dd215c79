"""The nightly run of all analyses at 1,000,000 customers and 10,000,000 order lines on PostgreSQL (issue 6 target:
under 15 minutes), step by step: where the time goes.

    GUANXI_DATABASE_URL=postgres://USER@127.0.0.1:5432/DB .venv/bin/python benchmarks/analytics_nightly.py \
        [--customers 1000000] [--runs 1] [--only tiers,rfm,...]

Uses the data set of ``benchmarks/analytics_rfm.py`` (its workspace "bench-analytics-N", built there once; run that
first, ``--build-only`` is enough). Each run is a real ``analysis_run_execute`` of every kind (the nightly job's
call), timed per step: wall seconds, and the CPU seconds of this process and of its PostgreSQL backend (the machine
is shared: wall time includes waiting for a core, CPU time does not). Prints one JSON object; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.analytics_rfm import _backend_pid, _proc_cpu  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--only", default="", help="kinds to run (default: all, as the nightly job)")
    args = p.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
    if not os.environ.get("GUANXI_DATABASE_URL", "").startswith("postgres"):
        print("needs PostgreSQL: set GUANXI_DATABASE_URL", file=sys.stderr)
        return 2
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from guanxi.analytics.models import AnalysisRun
    from guanxi.analytics.services.runs import analysis_run_execute, parse_kinds
    from guanxi.core.context import workspace_context
    from guanxi.workspaces.models import Workspace

    call_command("migrate", interactive=False, verbosity=0)
    ws = Workspace.objects.filter(slug=f"bench-analytics-{args.customers}").first()
    if ws is None:
        print("no data: run benchmarks/analytics_rfm.py --build-only first", file=sys.stderr)
        return 2
    kinds = parse_kinds(args.only or None)
    results = []
    for i in range(args.runs):
        with workspace_context(ws):
            run = AnalysisRun.objects.create(kinds=kinds, trigger="nightly", as_of=timezone.now())
        backend = _backend_pid()
        marks: dict[str, tuple[float, float, float]] = {}
        steps: dict[str, dict[str, float]] = {}

        def progress(r, name, backend=backend, marks=marks, steps=steps):  # type: ignore[no-untyped-def]
            now = (time.perf_counter(), time.process_time(), _proc_cpu(backend))
            if marks:
                (prev, (t, c, b)) = next(iter(marks.items()))
                steps[prev] = {"wall": now[0] - t, "cpu_python": now[1] - c, "cpu_postgres": now[2] - b}
                print(f"  {prev}: {steps[prev]}", file=sys.stderr, flush=True)
                marks.clear()
            marks[name] = now

        t0 = time.perf_counter()
        run = analysis_run_execute(run.pk, progress=progress)
        progress(run, "end")
        total = time.perf_counter() - t0
        failed = [m for m in run.messages if m["level"] == "error"]
        results.append({"total": total, "steps": steps, "timings": run.timings, "status": run.status})
        print(f"run {i + 1}: {total:.1f} s, {run.status}, errors {failed}", file=sys.stderr, flush=True)
        print(f"rows {run.row_counts}", file=sys.stderr, flush=True)
    med_steps = {
        name: {
            k: round(statistics.median(r["steps"][name][k] for r in results), 2)
            for k in results[0]["steps"][name]
        }
        for name in results[0]["steps"]
    }
    print(
        json.dumps(
            {
                "benchmark": "analytics_nightly",
                "customers": args.customers,
                "runs": args.runs,
                "kinds": kinds,
                "median_total_s": round(statistics.median(r["total"] for r in results), 1),
                "median_steps_s": med_steps,
                "phases_last_run": results[-1]["timings"],
                "status": [r["status"] for r in results],
                "target_s": 900,
                "machine": f"{os.cpu_count()} cores",
                "date": time.strftime("%Y-%m-%d %H:%M"),
                "load_average_at_end": os.getloadavg(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
