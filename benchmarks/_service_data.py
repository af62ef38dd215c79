"""Bench data for the service benchmarks: N open tickets with an SLA policy, spread over 5 queues (teams) and the
first 10,000 customers, created over the last 90 days. Built set-based once (INSERT … SELECT generate_series on
PostgreSQL, batched inserts on SQLite) and reused."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any


def ensure_tickets(ws: Any, n: int) -> dict[str, Any]:
    from django.db import connection, transaction
    from django.utils import timezone

    from guanxi.customers.models import Customer
    from guanxi.service.models import SlaPolicy, Ticket
    from guanxi.workspaces.models import Team

    teams = []
    for i in range(1, 6):
        team, _c = Team.objects.get_or_create(name=f"Bench queue {i}")
        teams.append(team.pk)
    policy = SlaPolicy.objects.filter(name="Bench standard").first() or SlaPolicy.objects.create(
        name="Bench standard", first_response_minutes=240, resolution_minutes=1440
    )
    have = Ticket.objects.count()
    if have >= n:
        return {"teams": teams, "policy": policy.pk}
    customers = list(Customer.objects.order_by("id").values_list("id", flat=True)[:10_000])
    print(f"building {n:,} tickets (have {have:,})", file=sys.stderr, flush=True)
    now = timezone.now()
    statuses = ["new", "open", "pending", "open"]
    priorities = ["low", "normal", "high", "urgent"]
    with transaction.atomic(), connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                """
                INSERT INTO service_ticket (workspace_id, customer_id, subject, description, channel, priority,
                    status, type, source_ref, created_at, updated_at, sla_paused_minutes, sla_policy_id, team_id)
                SELECT %s, (%s::bigint[])[1 + g %% %s], 'Bench ticket ' || g, '', 'email',
                    (%s::text[])[1 + g %% 4], (%s::text[])[1 + (g / 7) %% 4], 'ticket', '',
                    %s - make_interval(secs => g %% (90 * 86400)), %s, 0, %s, (%s::bigint[])[1 + g %% 5]
                FROM generate_series(%s, %s) AS g
                """,
                [
                    ws.pk,
                    customers,
                    len(customers),
                    priorities,
                    statuses,
                    now,
                    now,
                    policy.pk,
                    teams,
                    have + 1,
                    n,
                ],
            )
            cur.execute("ANALYZE service_ticket")
        else:
            batch = []
            for g in range(have + 1, n + 1):
                batch.append(
                    (ws.pk, customers[g % len(customers)], f"Bench ticket {g}", "", "email", priorities[g % 4],
                     statuses[(g // 7) % 4], "ticket", "", now - dt.timedelta(seconds=g % (90 * 86400)), now, 0,
                     policy.pk, teams[g % 5])
                )  # fmt: skip
                if len(batch) == 50_000 or g == n:
                    adapt = connection.ops.adapt_datetimefield_value
                    cur.executemany(
                        "INSERT INTO service_ticket (workspace_id, customer_id, subject, description, channel, "
                        "priority, status, type, source_ref, created_at, updated_at, sla_paused_minutes, "
                        "sla_policy_id, team_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        [(*r[:9], adapt(r[9]), adapt(r[10]), *r[11:]) for r in batch],
                    )
                    batch = []
            cur.execute("ANALYZE")
    return {"teams": teams, "policy": policy.pk}
