"""Round-robin under concurrency: parallel lead creation never hands two leads the same turn.

The rule's pointer is read with SELECT ... FOR UPDATE inside the creating transaction
(guanxi.sales.services.assignment.assign_owner), so N parallel creators advance it exactly N times and the owners
come out perfectly balanced. Only PostgreSQL runs writers in parallel; SQLite serialises them.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from guanxi.core.context import workspace_context
from guanxi.sales.models import AssignmentRule, Lead
from guanxi.sales.services import lead_create, rule_create

THREADS, EACH = 4, 6


@pytest.mark.django_db(transaction=True)
def test_parallel_lead_creation_keeps_round_robin_exact(world):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so the race cannot happen there")
    with workspace_context(world.ws_a):
        rule = rule_create(
            actor=world.olivia,
            name="轮询",
            criterion="any",
            distribution="round_robin",
            member_ids=[world.sam.user_id, world.sue.user_id, world.mark.user_id],
        )
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        from django.db import connection as conn
        from django.db import transaction

        try:
            barrier.wait()
            for i in range(EACH):
                with workspace_context(world.ws_a), transaction.atomic():
                    lead_create(actor=world.olivia, name=f"并发线索 {n}-{i}", phone=f"1380013{n:02d}{i:02d}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with workspace_context(world.ws_a):
        owners = Counter(Lead.objects.filter(name__startswith="并发线索").values_list("owner_id", flat=True))
        pointer = AssignmentRule.objects.get(pk=rule.pk).rr_pointer
    total = THREADS * EACH
    assert sum(owners.values()) == total
    assert pointer == total
    # 24 leads over 3 members: exactly 8 each, whatever the interleaving
    assert owners == {world.sam.user_id: 8, world.sue.user_id: 8, world.mark.user_id: 8}
