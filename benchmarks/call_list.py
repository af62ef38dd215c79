"""The call-records page at 1,000,000 calls: p95 per filter, keyset pages (``?before=<id>``).

Through the Django test client in-process (``GET /telephony/calls/`` signed in as the demo workspace's owner: the
session, permissions, filters, keyset page of 50 and the template), for: the newest page, a disposition, an agent,
a whole number, yesterday's date range, one day 80 days back, and walking to the next page. Calls are inserted by SQL (half inbound
calls with an agent leg each, spread over 90 days).

    python benchmarks/call_list.py [--sqlite] [--calls N] [--customers N] [--runs 3] [--queries 100]
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench  # noqa: E402


def ensure_calls(ws, n: int) -> dict:  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from guanxi.contact_center.models import Agent, Queue
    from guanxi.telephony.models import Call

    users = list(get_user_model().objects.order_by("id").values_list("id", flat=True)[:5])
    agents = [Agent.objects.get_or_create(user_id=u)[0].pk for u in users]
    queue = Queue.objects.filter(name="Bench phone").first() or Queue.objects.create(name="Bench phone")
    have = Call.objects.filter(parent__isnull=True).count()
    if have >= n:
        return {"agents": users}
    print(f"building {n:,} calls (have {have:,})", file=sys.stderr, flush=True)
    now = timezone.now()
    dispositions = ["answered", "answered", "abandoned", "voicemail", "self_service"]
    with transaction.atomic(), connection.cursor() as cur:
        if connection.vendor != "postgresql":
            raise SystemExit("the SQL insert is written for PostgreSQL; run without --sqlite")
        cur.execute(
            """
            INSERT INTO telephony_call (workspace_id, external_id, kind, state, caller, called, agent_id, queue_id,
                ivr_path, retries, started_at, answered_at, ended_at, hold_seconds, disposition, end_cause, notes,
                recording, recording_sha256, worker, node_key, wait_seconds, talk_seconds)
            SELECT %s, 'bench-' || g, 'inbound', 'ended', '+86138' || lpad((g %% 100000000)::text, 8, '0'),
                '+861012345678', (%s::bigint[])[1 + g %% %s], %s, '["root", "1>", "sales"]'::jsonb, 0,
                %s - make_interval(secs => (%s - g) * (90 * 86400.0 / %s)), NULL, NULL, 0,
                (%s::text[])[1 + g %% 5], 'normal', '', '', '', 'w1', '', g %% 60, g %% 300
            FROM generate_series(%s, %s) AS g
            """,
            [ws.pk, agents, len(agents), queue.pk, now, n, n, dispositions, have + 1, n],
        )
    with connection.cursor() as cur:  # after the commit: the planner must know the table's size
        cur.execute("ANALYZE telephony_call")
    return {"agents": users}


def main() -> None:
    p = _bench.parser(__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=1_000_000)
    args = p.parse_args()
    args.customers = args.customers or 10_000
    env = _bench.setup(args)
    data = ensure_calls(env["workspace"], args.calls)
    from django.test import Client
    from django.utils import timezone

    client = Client()
    client.force_login(env["owner"].user)
    from guanxi.core.middleware import SESSION_WORKSPACE_KEY

    s = client.session
    s[SESSION_WORKSPACE_KEY] = env["workspace"].pk
    s.save()

    def get(params: dict) -> object:
        res = client.get("/telephony/calls/", params)
        assert res.status_code == 200, res.content[:300]
        return res

    yesterday = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    day80 = (timezone.localdate() - dt.timedelta(days=80)).isoformat()
    cases = {
        "newest": lambda i: {},
        "disposition": lambda i: {"disposition": "voicemail"},
        "agent": lambda i: {"agent": data["agents"][i % len(data["agents"])]},
        "number": lambda i: {"number": f"+86138{(i * 7919) % args.calls:08d}"},
        "yesterday": lambda i: {"from": yesterday, "to": yesterday},
        "day_80_back": lambda i: {"from": day80, "to": day80},
    }
    runs: dict[str, list[dict]] = {k: [] for k in [*cases, "next_page", "baseline_pk_fetch"]}
    from guanxi.telephony.models import Call

    ids = list(Call.objects.order_by("-id").values_list("id", flat=True)[:1000])
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for run in range(args.runs):
        for _ in range(5):
            get({})
        for name, params in cases.items():
            runs[name].append(
                _bench.percentiles(
                    [_bench.timed(lambda i=i, p=params: get(p(i))) for i in range(args.queries)]
                )
            )
        before = None
        samples = []
        for _ in range(args.queries):
            holder: dict = {}
            samples.append(
                _bench.timed(lambda b=before, h=holder: h.update(r=get({"before": b} if b else {})))
            )
            found = re.search(rb"before=(\d+)", holder["r"].content)
            before = int(found.group(1)) if found else None
        runs["next_page"].append(_bench.percentiles(samples))
        runs["baseline_pk_fetch"].append(_bench.percentiles([
            _bench.timed(lambda i=i: Call.objects.filter(pk=ids[i % len(ids)]).first()) for i in range(args.queries)]))  # fmt: skip
        print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
    results = {k: _bench.median_of_runs(v) for k, v in runs.items()}
    base = results["baseline_pk_fetch"]["p95"] or 1
    results["ratio_p95_to_baseline"] = {k: round(results[k]["p95"] / base, 1) for k in [*cases, "next_page"]}
    results["process_cpu_s"] = round(time.process_time() - cpu0, 2)
    results["wall_s"] = round(time.perf_counter() - wall0, 2)
    results["load_avg_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
    _bench.emit(
        "call_list", {**env["meta"], "calls": Call.objects.filter(parent__isnull=True).count()}, results
    )


if __name__ == "__main__":
    main()
