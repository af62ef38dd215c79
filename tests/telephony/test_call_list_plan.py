"""The call-record list's queries on PostgreSQL: newest first by a backward walk of an index, no sort of the
workspace's calls (what keeps the page fast at a million calls: benchmarks/call_list.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from guanxi.core.context import workspace_context
from guanxi.telephony import selectors
from guanxi.telephony.models import Call

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs PostgreSQL: query plans of the call list"
    ),
]


def test_the_call_list_pages_walk_an_index_backwards(world):
    with workspace_context(world.ws_a):
        now = timezone.now()
        for i in range(5):
            Call.objects.create(external_id=f"plan-{i}", caller=f"+86138001380{i:02d}", called="+861012345678",
                                started_at=now)  # fmt: skip
        with connection.cursor() as cur:
            cur.execute("SET LOCAL enable_seqscan = off")
        page = selectors.call_list(actor=world.olivia).order_by("-id")[:51]
        plan = page.explain()
        assert "tel_call_ws_id_idx" in plan and "Sort" not in plan, plan
        assert [c.external_id for c in page] == [f"plan-{i}" for i in range(4, -1, -1)]
        later = selectors.call_list(actor=world.olivia).filter(pk__lt=page[2].pk).order_by("-id")[:51]
        assert "Sort" not in later.explain() and [c.external_id for c in later] == ["plan-1", "plan-0"]
        by_number = selectors.call_list(actor=world.olivia, number="+8613800138003").order_by("-id")[:51]
        assert [c.external_id for c in by_number] == ["plan-3"]
        # a date range, wherever it is in time: by start, walking tel_call_ws_started_idx, no sort
        dated = selectors.call_list(actor=world.olivia, started_from=now - dt.timedelta(days=1),
                                    started_before=now + dt.timedelta(seconds=1)).order_by("-started_at", "-id")[:51]  # fmt: skip
        plan = dated.explain()
        assert "tel_call_ws_started_idx" in plan and "Sort" not in plan, plan
        assert len(list(dated)) == 5
