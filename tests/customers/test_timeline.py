"""The timeline service: idempotent appends (also under concurrency on PostgreSQL), keyset pages, notes."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from guanxi.core.api_support import BadRequest
from guanxi.core.context import workspace_context
from guanxi.core.errors import Forbidden, NotFound, ValidationFailed
from guanxi.customers.models import Customer, Interaction
from guanxi.customers.timeline import customer_add_note, interaction_record, timeline_page
from guanxi.ledger.models import AuditEvent


def _record(world, customer, **kw):
    data = dict(
        workspace=world.ws_a,
        customer_id=customer.pk,
        kind="call",
        occurred_at=timezone.now(),
        direction="in",
        subject="来电咨询",
    )
    data.update(kw)
    return interaction_record(**data)


def test_record_appends_to_the_customer(world, customers):
    row = _record(world, customers["sam_c"], actor=world.sam.user, data={"duration": 65})
    assert row.workspace_id == world.ws_a.pk and row.customer_id == customers["sam_c"].pk
    assert row.actor_id == world.sam.user_id and row.data == {"duration": 65}


def test_same_external_key_twice_gives_one_row(world, customers):
    first = _record(world, customers["sam_c"], external_key="cc:call:1")
    again = _record(world, customers["sam_c"], external_key="cc:call:1", subject="重试")
    assert again.pk == first.pk
    assert Interaction.all_workspaces.count() == 1


def test_record_refuses_another_workspaces_customer_and_bad_values(world, customers):
    with pytest.raises(NotFound):
        _record(world, customers["oscar_c"])
    with pytest.raises(ValidationFailed) as exc:
        _record(world, customers["sam_c"], kind="telepathy", direction="sideways")
    assert set(exc.value.fields) == {"kind", "direction"}
    with pytest.raises(ValidationFailed):
        _record(world, customers["sam_c"], occurred_at=dt.datetime(2025, 1, 1))  # naive
    assert not Interaction.all_workspaces.exists()


def test_record_on_a_merged_customer_goes_to_the_survivor(world, customers):
    with workspace_context(world.ws_a):
        Customer.objects.filter(pk=customers["sue_c"].pk).update(merged_into=customers["sam_c"])
    row = _record(world, customers["sue_c"])
    assert row.customer_id == customers["sam_c"].pk


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_external_key_write_one_row(world, customers):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so the race cannot happen there")
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker():
        from django.db import connection as conn
        from django.db import transaction

        try:
            with transaction.atomic():
                barrier.wait()
                results.append(_record(world, customers["sam_c"], external_key="cc:call:race").pk)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1
    assert Interaction.all_workspaces.filter(external_key="cc:call:race").count() == 1


def test_timeline_pages_newest_first_and_filters_by_kind(world, customers):
    base = timezone.now()
    c = customers["sam_c"]
    for i in range(7):
        _record(world, c, kind="call" if i % 2 else "email", occurred_at=base - dt.timedelta(hours=i))
    _record(
        world, c, kind="sms", occurred_at=base - dt.timedelta(hours=1)
    )  # same time as another: id decides
    with workspace_context(world.ws_a):
        seen = []
        cursor = None
        while True:
            page = timeline_page(world.sam, c.pk, cursor=cursor, limit=3)
            seen += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert len(seen) == 8 and len({r.pk for r in seen}) == 8
        assert [r.occurred_at for r in seen] == sorted((r.occurred_at for r in seen), reverse=True)
        calls = timeline_page(world.sam, c.pk, kinds=["call"])["items"]
        assert {r.kind for r in calls} == {"call"} and len(calls) == 3
        with pytest.raises(BadRequest):
            timeline_page(world.sam, c.pk, kinds=["email"], cursor=page_cursor(world, c))


def page_cursor(world, c):
    """A cursor of the unfiltered timeline: refused by the filtered one."""
    return timeline_page(world.sam, c.pk, limit=1)["next_cursor"]


def test_timeline_of_another_workspace_is_404(world, customers):
    with workspace_context(world.ws_b), pytest.raises(NotFound):
        timeline_page(world.oscar, customers["sam_c"].pk)


def test_add_note(world, customers):
    with workspace_context(world.ws_a):
        note = customer_add_note(actor=world.sam, customer_id=customers["sam_c"].pk, body="客户想要报价")
        assert note.kind == "note" and note.actor_id == world.sam.user_id
        assert AuditEvent.objects.filter(
            action="customer.note", object_id=str(customers["sam_c"].pk)
        ).exists()
        with pytest.raises(ValidationFailed):
            customer_add_note(actor=world.sam, customer_id=customers["sam_c"].pk, body="  ")
        with pytest.raises(Forbidden):
            customer_add_note(actor=world.sam, customer_id=customers["sue_c"].pk, body="x")
        assert Interaction.objects.count() == 1
