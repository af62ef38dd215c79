"""Tickets: create, status workflow, close hooks, isolation."""

from __future__ import annotations

import pytest
from django.db import connection

from guanxi.core.context import workspace_context
from guanxi.core.errors import Forbidden, ValidationFailed
from guanxi.customers.models import Interaction
from guanxi.ledger.models import AuditEvent
from guanxi.service import hooks
from guanxi.service.models import Ticket, TicketCategory, TicketStatus
from guanxi.service.services.tickets import ticket_close, ticket_create, ticket_set_status

pytestmark = pytest.mark.django_db


def test_create_audits_and_records_on_the_timeline(world, customers):
    with workspace_context(world.ws_a):
        cat = TicketCategory.objects.create(name="安装")
        t = ticket_create(
            actor=world.alice,
            customer=customers["sam_c"],
            subject="空调不制冷",
            description="客户说空调开了半小时还是热风",
            channel="phone",
            category=cat,
            priority="high",
        )
        assert t.status == TicketStatus.NEW and t.category == cat and t.workspace_id == world.ws_a.pk
        assert AuditEvent.objects.filter(action="ticket.create", object_id=str(t.pk)).exists()
        row = Interaction.objects.get(source_type="service.ticket", source_id=str(t.pk))
        assert row.kind == "ticket" and row.customer_id == customers["sam_c"].pk and row.direction == "in"


def test_create_with_source_ref_is_idempotent(world, customers):
    with workspace_context(world.ws_a):
        kw = dict(actor=None, customer=customers["sam_c"], subject="s", description="", channel="email")
        a = ticket_create(**kw, source_ref="email:<x@y>")
        b = ticket_create(**kw, source_ref="email:<x@y>")
        assert a.pk == b.pk and Ticket.objects.count() == 1


def test_it_rejects_another_workspaces_customer(world, customers):
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed) as exc:
            ticket_create(actor=world.alice, customer=customers["oscar_c"].pk, subject="x", channel="web")
        assert set(exc.value.fields) == {"customer_id"}
        assert Ticket.objects.count() == 0


def test_it_names_the_bad_fields(world, customers):
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed) as exc:
            ticket_create(
                actor=world.alice, customer=customers["sam_c"], subject=" ", channel="fax", priority="max"
            )
        assert set(exc.value.fields) == {"subject", "channel", "priority"}
        with pytest.raises(ValidationFailed) as exc:
            ticket_create(actor=world.alice, customer=customers["sam_c"], subject="x", category=99999)
        assert set(exc.value.fields) == {"category_id"}
        with pytest.raises(ValidationFailed) as exc:
            ticket_create(actor=world.olivia, customer=customers["sam_c"], subject="x", team_id=99999)
        assert set(exc.value.fields) == {"team_id"}
        with pytest.raises(ValidationFailed) as exc:
            ticket_create(
                actor=world.olivia, customer=customers["sam_c"], subject="x", assignee_id=world.oscar.user_id
            )
        assert set(exc.value.fields) == {"assignee_id"}
        assert Ticket.objects.count() == 0


def test_readonly_member_cannot_create(world, customers):
    with workspace_context(world.ws_a), pytest.raises(Forbidden):
        ticket_create(actor=world.rita, customer=customers["sam_c"], subject="x")


def test_workflow_refuses_a_jump_and_stamps_times(world, customers):
    with workspace_context(world.ws_a):
        t = ticket_create(actor=world.alice, customer=customers["sam_c"], subject="x")
        t = ticket_set_status(actor=world.alice, ticket=t, status="resolved")
        assert t.resolved_at is not None
        with pytest.raises(ValidationFailed):
            ticket_set_status(actor=world.alice, ticket=t, status="pending")
        t = ticket_set_status(actor=world.alice, ticket=t, status="open")
        assert t.resolved_at is None


def test_close_runs_hooks_after_commit_once(world, customers, django_capture_on_commit_callbacks):
    seen: list[int] = []

    def broken(ticket):  # a broken callback must not stop the others
        raise RuntimeError("boom")

    def record(ticket):
        seen.append(ticket.pk)

    hooks.ON_TICKET_CLOSED.extend([broken, record])
    try:
        with workspace_context(world.ws_a):
            t = ticket_create(actor=world.alice, customer=customers["sam_c"], subject="x")
            with django_capture_on_commit_callbacks(execute=True):
                t = ticket_close(actor=world.alice, ticket=t)
            assert seen == [t.pk]
            assert t.status == TicketStatus.CLOSED and t.closed_at and t.resolved_at
            with django_capture_on_commit_callbacks(execute=True):
                ticket_close(actor=world.alice, ticket=t)
            assert seen == [t.pk]
    finally:
        hooks.ON_TICKET_CLOSED.remove(broken)
        hooks.ON_TICKET_CLOSED.remove(record)


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: the query plan of a partial index",
)
def test_a_queues_open_tickets_page_walks_the_partial_index(world, customers):
    """The list's usual filter (a queue, open only, newest first) reads ticket_ws_team_open_idx backwards: no sort
    of the queue's tickets, whatever the statistics say (benchmarks/ticket_list.py, issue 5)."""
    from guanxi.service.selectors import ticket_list
    from guanxi.workspaces.models import Team

    with workspace_context(world.ws_a):
        team = Team.objects.first() or Team.objects.create(name="一线")
        for i in range(5):
            ticket_create(actor=world.olivia, customer=customers["sam_c"], subject=f"t{i}", team_id=team.pk)
        qs = ticket_list(actor=world.olivia, team_id=team.pk, open_only=True).order_by("-id")[:51]
        with connection.cursor() as cur:
            cur.execute("SET LOCAL enable_seqscan = off")
        plan = qs.explain()
        assert "ticket_ws_team_open_idx" in plan and "Sort" not in plan, plan
        assert [t.subject for t in qs] == ["t4", "t3", "t2", "t1", "t0"]
