"""SLA deadline computation for 1,000,000 open tickets (the nightly recalculation after a calendar change): < 60 s.

Each run changes the workspace's default calendar (adds, then removes, a company holiday on the next working day)
and runs ``guanxi.service.services.sla.sla_recalculate`` on it (every open ticket with a policy): one COPY … TO of
(id, start µs, policy, paused minutes), the four deadlines of all tickets at once on the numpy BusinessClock, and one
UPDATE … FROM a COPY-filled temporary table that writes only the rows whose deadlines moved. The 1M-ticket data set
is reused when present. The first run computes every
ticket's deadlines from nothing (all rows written) and is reported apart.

    python benchmarks/service_sla.py [--sqlite] [--tickets N] [--runs 3]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench  # noqa: E402
import _service_data  # noqa: E402


def main() -> None:
    p = _bench.parser(__doc__.splitlines()[0])
    p.add_argument("--tickets", type=int, default=None, help="default 1,000,000 (100,000 with --sqlite)")
    args = p.parse_args()
    args.customers = args.customers or 10_000
    env = _bench.setup(args)
    n = args.tickets or (100_000 if args.sqlite else 1_000_000)
    ws = env["workspace"]
    _service_data.ensure_tickets(ws, n)
    import datetime as dt

    from django.utils import timezone

    from guanxi.service.models import CalendarDay, WorkingCalendar
    from guanxi.service.services import calendars
    from guanxi.service.services.sla import sla_recalculate

    cal = WorkingCalendar.objects.filter(team__isnull=True).first() or calendars.calendar_create(
        actor=env["owner"], name="Bench calendar"
    )
    day = timezone.localdate() + dt.timedelta(days=1)
    while (
        day.weekday() >= 5
        or CalendarDay.objects.filter(calendar=cal, date=day).exclude(name="bench").exists()
    ):
        day += dt.timedelta(days=1)
    t0 = time.perf_counter()
    first_stats: dict = {}
    first_count = sla_recalculate(calendar=cal, workspace_id=ws.pk, stats=first_stats)
    first_seconds = time.perf_counter() - t0
    print(f"first run: {first_count:,} tickets in {first_seconds:.1f} s", file=sys.stderr)
    seconds, counts, changed = [], [], []
    for run in range(args.runs):
        if CalendarDay.objects.filter(calendar=cal, date=day).exists():
            calendars.calendar_remove_day(actor=env["owner"], calendar=cal, date=day)
        else:
            calendars.calendar_add_days(
                actor=env["owner"], calendar=cal, first=day, kind="holiday", name="bench"
            )
        stats: dict = {}
        t0 = time.perf_counter()
        counts.append(sla_recalculate(calendar=cal, workspace_id=ws.pk, stats=stats))
        seconds.append(time.perf_counter() - t0)
        changed.append(stats.get("changed", 0))
        print(f"run {run + 1}/{args.runs}: {counts[-1]:,} tickets, {changed[-1]:,} moved, {seconds[-1]:.1f} s",
              file=sys.stderr)  # fmt: skip
    med = statistics.median(seconds)
    _bench.emit(
        "service_sla",
        {**env["meta"], "tickets": counts[-1]},
        {
            "first_run_seconds": round(first_seconds, 2),
            "first_run_rows_written": first_stats.get("changed", 0),
            "first_run_steps_s": {k: v for k, v in first_stats.items() if k.endswith("_s")},
            "last_run_steps_s": {k: v for k, v in stats.items() if k.endswith("_s")},
            "seconds_median": round(med, 2),
            "seconds_all": [round(s, 2) for s in seconds],
            "rows_moved": changed,
            "tickets_per_second": round(counts[-1] / med) if med else None,
            "target_seconds": 60,
            "met": med < 60,
        },
    )


if __name__ == "__main__":
    main()
