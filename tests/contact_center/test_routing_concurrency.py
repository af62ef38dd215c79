"""The routing engine under concurrency, on PostgreSQL: several routers and agents at once.

Invariants checked after every round: no task is offered to two agents at once (outside ring-all) or assigned twice,
no agent holds more contacts on a channel than its capacity, and each agent's slot count equals the contacts it
really holds. Races are forced with barriers; each thread has its own database connection.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from django.db.models import Count, F

from guanxi.contact_center import routing
from guanxi.contact_center.models import (
    AgentChannel,
    Presence,
    Reservation,
    ReservationStatus,
    Task,
    TaskStatus,
)
from guanxi.core.context import workspace_context
from guanxi.core.errors import Conflict
from guanxi.workspaces.models import Membership, Role, User

AGENTS, CAPACITY, TASKS, THREADS = 10, 2, 50, 4


def _parallel(n: int, fn) -> list:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        from django.db import connection as conn

        try:
            barrier.wait()
            results[i] = fn(i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def _check_invariants(ws) -> None:  # type: ignore[no-untyped-def]
    with workspace_context(ws):
        assert not AgentChannel.objects.filter(active__gt=F("capacity")).exists()
        pending = Counter(
            Reservation.objects.filter(status=ReservationStatus.PENDING).values_list("task_id", flat=True)
        )
        assert all(n == 1 for n in pending.values()), "a task was offered to two agents at once"
        accepted = Counter(
            Reservation.objects.filter(status=ReservationStatus.ACCEPTED).values_list("task_id", flat=True)
        )
        assert all(n == 1 for n in accepted.values()), "a task was assigned twice"
        held = Counter()
        for agent_id in Reservation.objects.filter(status=ReservationStatus.PENDING).values_list(
            "agent_id", flat=True
        ):
            held[agent_id] += 1
        for agent_id in Task.objects.filter(
            status__in=[TaskStatus.ASSIGNED, TaskStatus.WRAPPING]
        ).values_list("agent_id", flat=True):
            held[agent_id] += 1
        slots = dict(AgentChannel.objects.filter(channel="chat").values_list("agent_id", "active"))
        assert {a: n for a, n in slots.items() if n} == dict(held), (
            "slot counts drifted from what agents hold"
        )


@pytest.mark.django_db(transaction=True)
def test_parallel_routers_and_agents_never_double_assign(world):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so the race cannot happen there")
    ws = world.ws_a
    with workspace_context(ws):
        queue = routing.queue_create(actor=world.olivia, name="并发队列", reservation_timeout=300)
        routing.workflow_create(
            actor=world.olivia, name="并发", is_default=True, steps=[{"queue_id": queue.pk}]
        )
        members = []
        for i in range(AGENTS):
            user = User.objects.create_user(username=f"agent{i}", password="x")
            m = Membership.objects.create(user=user, role=Role.SERVICE)
            routing.agent_configure(
                actor=world.olivia, member=m, capacities={"chat": CAPACITY}, queue_ids=[queue.pk]
            )
            members.append(m)
        # agents are offline while contacts arrive, so nothing is routed before the race starts
        for i in range(TASKS):
            routing.task_enqueue(channel="chat", attributes={"n": i}, source_type="chat", source_id=f"v{i}")
        for m in members:
            routing.agent_set_presence(actor=m, presence=Presence.AVAILABLE)
    by_user = {m.user_id: m for m in members}

    def route(_i: int) -> int:
        offered = 0
        with workspace_context(ws):
            while True:
                n = routing.route_pending(limit=3)
                offered += n
                if n == 0:
                    return offered

    for _round in range(4):
        offered = _parallel(THREADS, route)
        _check_invariants(ws)
        with workspace_context(ws):
            open_offers = list(
                Reservation.objects.filter(status=ReservationStatus.PENDING).values_list(
                    "pk", "agent__user_id"
                )
            )
        if _round == 0:
            assert sum(offered) == AGENTS * CAPACITY == len(open_offers)  # every slot filled, not one more

        # two threads race to accept each offer (as the same agent, e.g. two browser tabs): exactly one wins
        def accept(i: int, offers=open_offers) -> int:
            won = 0
            with workspace_context(ws):
                for pk, user_id in offers:
                    try:
                        routing.reservation_accept(actor=by_user[user_id], reservation_id=pk)
                        won += 1
                    except Conflict:
                        pass
            return won

        assert sum(_parallel(2, accept)) == len(open_offers)
        _check_invariants(ws)
        # agents finish half of what they hold, in parallel, freeing slots for the next round
        with workspace_context(ws):
            held = list(
                Task.objects.filter(status=TaskStatus.ASSIGNED)
                .order_by("pk")
                .values_list("pk", "agent__user_id")
            )[::2]

        def complete(i: int, held=held) -> None:
            with workspace_context(ws):
                for pk, user_id in held[i::THREADS]:
                    routing.task_complete(actor=by_user[user_id], task_id=pk)

        _parallel(THREADS, complete)
        _check_invariants(ws)

    with workspace_context(ws):
        counts = dict(Task.objects.values("status").annotate(n=Count("pk")).values_list("status", "n"))
    assert sum(counts.values()) == TASKS
    assert counts.get(TaskStatus.COMPLETED, 0) > 0
