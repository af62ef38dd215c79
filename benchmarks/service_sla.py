"""SLA deadline computation for 1,000,000 open tickets (the nightly recalculation after a calendar change): < 60 s.

Runs ``guanxi.service.services.sla.sla_recalculate`` on the workspace's default calendar (every open ticket with a
policy): one read of (id, start, targets, paused minutes), four deadlines per ticket on a BusinessClock, and one
UPDATE … FROM a COPY-filled temporary table per 200,000 tickets.

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
    from guanxi.service.services.sla import sla_recalculate

    seconds, counts = [], []
    for run in range(args.runs):
        t0 = time.perf_counter()
        counts.append(sla_recalculate(calendar=None, workspace_id=ws.pk))
        seconds.append(time.perf_counter() - t0)
        print(f"run {run + 1}/{args.runs}: {counts[-1]:,} tickets in {seconds[-1]:.1f} s", file=sys.stderr)
    med = statistics.median(seconds)
    _bench.emit(
        "service_sla",
        {**env["meta"], "tickets": counts[-1]},
        {
            "seconds_median": round(med, 2),
            "seconds_all": [round(s, 2) for s in seconds],
            "tickets_per_second": round(counts[-1] / med) if med else None,
            "target_seconds": 60,
            "met": med < 60,
        },
    )


if __name__ == "__main__":
    main()
