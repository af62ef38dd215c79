"""Contact-centre KPIs (服务指标) computed from stored records: tasks (queued, assigned, completed, cancelled) and
the agents' presence history (``AgentPresenceLog``).

Definitions (contacts that entered a queue in the period; refused contacts are not offered):
* answered: an agent accepted it (``assigned_at`` set); wait = ``assigned_at - queued_at``;
* abandoned: cancelled (the contact left) before any agent accepted it;
* service level: answered within the queue's threshold / answered; the variant counting abandons divides by
  answered + abandoned;
* ASA: average wait of answered contacts; AHT: average ``completed_at - assigned_at`` (talk and wrap-up);
* abandonment rate: abandoned / (answered + abandoned);
* occupancy: time agents held at least one contact / time they were staffed (available, busy or wrap-up), both
  clipped to the period;
* first-contact resolution: answered contacts with a known customer after which that customer made no other
  contact within ``fcr_days`` days / answered contacts with a known customer.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from guanxi.contact_center.models import AgentPresenceLog, Presence, Task, TaskStatus

STAFFED = (Presence.AVAILABLE, Presence.BUSY, Presence.WRAP_UP)


def _union_seconds(intervals: list[tuple[dt.datetime, dt.datetime]]) -> float:
    total, cur_start, cur_end = 0.0, None, None
    for s, e in sorted(intervals):
        if cur_end is None or s > cur_end:
            if cur_end is not None:
                total += (cur_end - cur_start).total_seconds()
            cur_start, cur_end = s, e
        else:
            cur_end = max(cur_end, e)
    if cur_end is not None:
        total += (cur_end - cur_start).total_seconds()
    return total


def _intersect(a: list[tuple], b: list[tuple]) -> list[tuple]:
    return [(max(s1, s2), min(e1, e2)) for s1, e1 in a for s2, e2 in b if max(s1, s2) < min(e1, e2)]


def _figures(rows: list[dict], fcr: tuple[int, int]) -> dict[str, Any]:
    answered = [r for r in rows if r["assigned_at"] is not None]
    abandoned = [r for r in rows if r["assigned_at"] is None and r["status"] == TaskStatus.CANCELLED]
    waits = [(r["assigned_at"] - r["queued_at"]).total_seconds() for r in answered]
    within = sum(1 for r, w in zip(answered, waits, strict=True) if w <= r["queue__service_level_seconds"])
    handles = [(r["completed_at"] - r["assigned_at"]).total_seconds() for r in answered if r["completed_at"]]
    handled = len(answered) + len(abandoned)
    return {
        "offered": len(rows),
        "answered": len(answered),
        "abandoned": len(abandoned),
        "answered_within": within,
        "service_level": within / len(answered) if answered else None,
        "service_level_with_abandons": within / handled if handled else None,
        "asa_seconds": sum(waits) / len(waits) if waits else None,
        "aht_seconds": sum(handles) / len(handles) if handles else None,
        "abandonment_rate": len(abandoned) / handled if handled else None,
        "fcr": fcr[0] / fcr[1] if fcr[1] else None,
    }


def kpi_report(
    *, start: dt.datetime, end: dt.datetime, queue_id: int | None = None, fcr_days: int = 7
) -> dict[str, Any]:
    """The KPIs of the current workspace for contacts queued in [start, end), overall and per queue."""
    qs = Task.objects.filter(queued_at__gte=start, queued_at__lt=end, queue__isnull=False).exclude(
        status=TaskStatus.REFUSED
    )
    if queue_id is not None:
        qs = qs.filter(queue_id=queue_id)
    rows = list(
        qs.values(
            "id", "queue_id", "queue__name", "queue__service_level_seconds", "status", "queued_at",
            "assigned_at", "completed_at", "customer_id", "agent_id",
        )
    )  # fmt: skip
    # first-contact resolution: a later contact of the same customer within fcr_days
    customers = {r["customer_id"] for r in rows if r["customer_id"] and r["assigned_at"]}
    later: dict[int, list[dt.datetime]] = defaultdict(list)
    for cid, at in (
        Task.objects.filter(
            customer_id__in=customers, queued_at__gte=start, queued_at__lt=end + dt.timedelta(days=fcr_days)
        )
        .exclude(status=TaskStatus.REFUSED)
        .values_list("customer_id", "queued_at")
    ):
        later[cid].append(at)

    def fcr_of(group: list[dict]) -> tuple[int, int]:
        firsts = [r for r in group if r["customer_id"] and r["assigned_at"]]
        resolved = sum(
            1
            for r in firsts
            if not any(r["queued_at"] < at <= r["queued_at"] + dt.timedelta(days=fcr_days)
                       for at in later[r["customer_id"]])
        )  # fmt: skip
        return resolved, len(firsts)

    by_queue: dict[int, list[dict]] = defaultdict(list)
    for r in rows:
        by_queue[r["queue_id"]].append(r)
    # occupancy from the presence history and the contacts held, per agent, clipped to the period
    staffed: dict[int, list[tuple]] = defaultdict(list)
    for agent_id, s, e in AgentPresenceLog.objects.filter(
        presence__in=STAFFED, started_at__lt=end
    ).values_list("agent_id", "started_at", "ended_at"):
        e = min(e or end, end)
        s = max(s, start)
        if s < e:
            staffed[agent_id].append((s, e))
    held: dict[int, list[tuple]] = defaultdict(list)
    for agent_id, s, e in (
        Task.objects.filter(agent__isnull=False, assigned_at__lt=end)
        .exclude(completed_at__lt=start)
        .values_list("agent_id", "assigned_at", "completed_at")
    ):
        s, e = max(s, start), min(e or end, end)
        if s < e:
            held[agent_id].append((s, e))
    staffed_s = sum(_union_seconds(v) for v in staffed.values())
    busy_s = sum(_union_seconds(_intersect(held[a], staffed[a])) for a in staffed)
    return {
        "start": start,
        "end": end,
        **_figures(rows, fcr_of(rows)),
        "occupancy": busy_s / staffed_s if staffed_s else None,
        "staffed_seconds": staffed_s,
        "queues": [
            {"queue_id": qid, "name": g[0]["queue__name"], **_figures(g, fcr_of(g))}
            for qid, g in sorted(by_queue.items())
        ],
    }


def wallboard(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """The live board of the current workspace: per queue the contacts waiting, offered and the longest wait, and
    today's service level (from midnight, workspace time); the agents by presence state. Three grouped queries."""
    from django.db.models import Count, Min, Q
    from django.utils import timezone

    from guanxi.contact_center.models import Agent, Queue

    now = now or timezone.now()
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    live = {
        row["queue_id"]: row
        for row in Task.objects.filter(status__in=[TaskStatus.PENDING, TaskStatus.RESERVED])
        .values("queue_id")
        .annotate(
            waiting=Count("pk", filter=Q(status=TaskStatus.PENDING)),
            offered=Count("pk", filter=Q(status=TaskStatus.RESERVED)),
            oldest=Min("queued_at"),
        )
    }
    today = {
        q["queue_id"]: q for q in kpi_report(start=midnight, end=now + dt.timedelta(seconds=1))["queues"]
    }
    queues = []
    for q in Queue.objects.order_by("name"):
        row, t = live.get(q.pk, {}), today.get(q.pk, {})
        oldest = row.get("oldest")
        queues.append(
            {
                "id": q.pk,
                "name": q.name,
                "waiting": row.get("waiting", 0),
                "offered": row.get("offered", 0),
                "longest_wait_seconds": max(0, int((now - oldest).total_seconds())) if oldest else 0,
                "answered_today": t.get("answered", 0),
                "abandoned_today": t.get("abandoned", 0),
                "service_level_today": t.get("service_level"),
            }
        )
    agents = {p: 0 for p in Presence.values}
    for row in Agent.objects.values("presence").annotate(n=Count("pk")):
        agents[row["presence"]] = row["n"]
    return {"at": now, "queues": queues, "agents": agents}
