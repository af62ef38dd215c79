"""Routing 10,000 queued tasks over 1,000 agents: time per assignment (issue 7's target: p99 under 5 ms on
PostgreSQL).

    .venv/bin/python benchmarks/routing.py [--agents 1000] [--tasks 10000] [--runs 3]

Uses the database in GUANXI_DATABASE_URL, or ``guanxi_routing`` on 127.0.0.1 (created when missing). Each run
builds a fresh workspace: N agents (chat capacity 3, phone 1; 1-3 of 10 skills at levels 1-10; each in 2 of 5
queues), a workflow of four steps (language and tier conditions with skill requirements, then a catch-all), and M
tasks put in line while every agent is offline (bulk-inserted with the step ``task_enqueue`` would choose, so the
set-up takes seconds, not minutes). Then all agents go available and the tasks are routed one by one, the way the
router job does it: ``route_pending(limit=1)`` = one transaction with, on PostgreSQL, ONE statement that claims the
highest-priority oldest waiting task with SKIP LOCKED, picks eligible agents (presence, queue, skills, room on the
channel) by strategy, takes the slot and writes the reservation; then the commit. Only that call is timed. After
each offer one untimed statement accepts and completes it, so slots free up and all M tasks get routed against a
full pool. Loop CPU seconds (this process) and the load average are printed because the machine may be shared.

Figures: per-assignment latency p50/p95/p99 (ms), median over runs; the baseline is a primary-key fetch of one task
through the ORM measured in the same run, so the ratio survives a noisy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/guanxi_routing"
os.environ.setdefault("GUANXI_DATABASE_URL", DEFAULT_DB)
os.environ.setdefault(
    "GUANXI_DATA_DIR", str(Path(__file__).resolve().parent.parent / "data" / "bench-routing")
)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
os.environ.setdefault("GUANXI_LOG_LEVEL", "WARNING")


def _ensure_database(url: str) -> None:
    if not url.startswith("postgres"):
        return
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'")


def backend_cpu_s(pid: int | None) -> float | None:
    """CPU seconds (user + system) of the PostgreSQL backend serving this connection, when it runs on this
    machine (read from /proc); None otherwise."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


FINISH_SQL = """
WITH r AS (
    UPDATE contact_center_reservation SET status = 'accepted', decided_at = %(now)s
    WHERE workspace_id = %(ws)s AND status = 'pending' RETURNING task_id, agent_id
), t AS (
    UPDATE contact_center_task SET status = 'completed', completed_at = %(now)s, agent_id = r.agent_id
    FROM r WHERE id = r.task_id RETURNING channel, r.agent_id
)
UPDATE contact_center_agentchannel ac SET active = ac.active - 1
FROM t WHERE ac.agent_id = t.agent_id AND ac.channel = t.channel
"""


def one_run(n_agents: int, n_tasks: int, seed: int, engine: str = "sql") -> dict[str, float]:
    import datetime as dt

    from django.db import connection
    from django.utils import timezone

    from guanxi.contact_center import expressions, routing
    from guanxi.contact_center.models import (
        Agent,
        AgentChannel,
        AgentSkill,
        Presence,
        QueueMember,
        Skill,
        Task,
    )
    from guanxi.core.context import workspace_context
    from guanxi.workspaces.models import Membership, Role, User
    from guanxi.workspaces.services import workspace_create

    routing._route_soon = lambda ws_id: None  # only the timed router call routes here
    if engine == "orm":  # the ORM steps (7 statements + commit), for comparison in the same conditions
        from django.db import transaction

        def route(limit: int) -> int:
            with transaction.atomic():
                return routing._route_pending_orm(limit=limit, now=timezone.now())
    else:
        route = routing.route_pending
    rnd = random.Random(seed)
    tag = f"{int(time.time())}{seed}"
    owner_user = User.objects.create_user(username=f"rbench-{tag}", password="x")
    ws, owner = workspace_create(name=f"routing bench {tag}", owner=owner_user)
    with workspace_context(ws):
        skills = [Skill.objects.create(name=f"skill{i}") for i in range(10)]
        queues = [
            routing.queue_create(actor=owner, name=f"queue{i}", reservation_timeout=60) for i in range(5)
        ]
        users = User.objects.bulk_create(User(username=f"rb{tag}-{i}", password="!") for i in range(n_agents))
        Membership.objects.bulk_create(Membership(workspace=ws, user=u, role=Role.SERVICE) for u in users)
        agents = Agent.objects.bulk_create(
            Agent(workspace=ws, user=u, presence=Presence.OFFLINE) for u in users
        )
        AgentChannel.objects.bulk_create(
            AgentChannel(workspace=ws, agent=a, channel=c, capacity=n)
            for a in agents
            for c, n in (("chat", 3), ("phone", 1))
        )
        AgentSkill.objects.bulk_create(
            AgentSkill(workspace=ws, agent=a, skill=s, level=rnd.randint(1, 10))
            for a in agents
            for s in rnd.sample(skills, rnd.randint(1, 3))
        )
        QueueMember.objects.bulk_create(
            QueueMember(workspace=ws, agent=a, queue=q) for a in agents for q in rnd.sample(queues, 2)
        )
        routing.workflow_create(
            actor=owner, name="bench", is_default=True,
            steps=[
                {"expression": 'tier == "vip"', "queue_id": queues[0].pk,
                 "skills": [{"skill": "skill0", "min_level": 5}], "timeout": 30},
                {"expression": 'language == "yue"', "queue_id": queues[1].pk,
                 "skills": [{"skill": "skill1", "min_level": 3}], "timeout": 30},
                {"expression": 'channel == "phone"', "queue_id": queues[2].pk},
                {"expression": "", "queue_id": queues[rnd.randint(3, 4)].pk},
            ],
        )  # fmt: skip
        # bulk set-up: the workflow's first matching step is worked out here, as task_enqueue does, and the
        # tasks written with one bulk insert (10,000 enqueues through the service took minutes)
        workflow = routing.Workflow.objects.get(is_default=True)
        steps = list(workflow.steps.select_related("queue"))
        base_at = timezone.now() - dt.timedelta(hours=1)
        tasks = []
        for _i in range(n_tasks):
            channel = "phone" if rnd.random() < 0.3 else "chat"
            attrs = {
                "channel": channel,
                "tier": "vip" if rnd.random() < 0.1 else "ordinary",
                "language": "yue" if rnd.random() < 0.2 else "zh",
            }
            step = next(st for st in steps if expressions.matches(st.expression, attrs))
            tasks.append(
                Task(
                    workspace=ws, channel=channel, attributes=attrs, workflow=workflow, step=step,
                    queue=step.queue, skills=step.skills, queued_at=base_at, step_entered_at=base_at,
                    priority=routing.TIER_PRIORITY.get(attrs["tier"], 0) + step.priority_boost,
                )
            )  # fmt: skip
        Task.objects.bulk_create(tasks, batch_size=2000)
        Task.objects.filter(workspace=ws).update(created_at=base_at)
        Agent.objects.filter(workspace=ws).update(presence=Presence.AVAILABLE)
        AgentChannel.objects.filter(workspace=ws).update(available=True)  # as agent_set_presence does
        with connection.cursor() as cur:
            if connection.vendor == "postgresql":
                cur.execute("ANALYZE")
        some = list(Task.objects.values_list("pk", flat=True)[:200])
        base = []
        for pk in some:
            t0 = time.perf_counter()
            Task.objects.get(pk=pk)
            base.append((time.perf_counter() - t0) * 1000)
        times: list[float] = []
        idle = 0
        load_before = os.getloadavg()
        pid = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                pid = cur.fetchone()[0]
        pg0 = backend_cpu_s(pid)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        with connection.cursor() as cur:
            while True:
                t0 = time.perf_counter()
                n = route(limit=1)
                dt_ms = (time.perf_counter() - t0) * 1000
                if n == 0:
                    idle += 1
                    if idle > 3:
                        break
                    routing.tasks_widen(now=None)
                    continue
                idle = 0
                times.append(dt_ms)
                # untimed: the agent takes the contact and finishes it at once, so the pool stays full; one
                # statement instead of the accept/complete services (which are not what is measured here)
                cur.execute(FINISH_SQL, {"ws": ws.pk, "now": timezone.now()})
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
        pg1 = backend_cpu_s(pid)
        left = Task.objects.filter(status="pending").count()
    return {
        "assignments": len(times),
        "left_waiting": left,
        "p50_ms": round(statistics.median(times), 3),
        "p95_ms": round(pct(times, 95), 3),
        "p99_ms": round(pct(times, 99), 3),
        "baseline_pk_fetch_ms": round(statistics.median(base), 3),
        "loop_wall_s": round(wall, 1),
        "loop_cpu_s": round(cpu, 1),  # this process only
        # the PostgreSQL backend serving the loop (None when the server is not on this machine)
        "loop_pg_cpu_s": round(pg1 - pg0, 1) if pg0 is not None and pg1 is not None else None,
        "loadavg_1m_before": round(load_before[0], 2),
        "loadavg_1m_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--tasks", type=int, default=10000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument(
        "--engine", choices=["sql", "orm"], default="sql", help="one statement (default) or ORM steps"
    )
    args = p.parse_args()
    _ensure_database(os.environ["GUANXI_DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", interactive=False, verbosity=0)
    runs = []
    for r in range(args.runs):
        runs.append(one_run(args.agents, args.tasks, seed=r, engine=args.engine))
        print(json.dumps({"run": r, **runs[-1]}), flush=True)
    keys = ["p50_ms", "p95_ms", "p99_ms", "baseline_pk_fetch_ms", "loop_cpu_s", "loop_wall_s"]
    med = {k: round(statistics.median(x[k] for x in runs), 3) for k in keys}
    print(
        json.dumps(
            {
                "benchmark": "routing",
                "engine": args.engine,
                "agents": args.agents,
                "tasks": args.tasks,
                "runs": args.runs,
                "db": connection.vendor,
                "machine": f"{platform.machine()} {os.cpu_count()} cores",
                **med,
                "p99_over_baseline": round(med["p99_ms"] / med["baseline_pk_fetch_ms"], 1),
                "target_p99_ms": 5,
            }
        )
    )


if __name__ == "__main__":
    main()
