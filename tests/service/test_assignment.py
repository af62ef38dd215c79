"""Ticket assignment: rules route to a team, round-robin and least-load pick agents with the skill under their cap;
concurrent creation does not overfill an agent (row locks)."""

from __future__ import annotations

import os
import threading

import pytest
from django.db import connection

from guanxi.core.context import workspace_context
from guanxi.core.errors import Forbidden, ValidationFailed
from guanxi.service.models import Ticket
from guanxi.service.services.assignment import service_agent_set, ticket_rule_create
from guanxi.service.services.tickets import ticket_create, ticket_set_status


def _setup(world, method="round_robin", cap=30, skill=""):
    ticket_rule_create(
        actor=world.olivia, name="east", position=10, team_id=world.team_east.pk, method=method, skill=skill
    )
    service_agent_set(actor=world.olivia, user_id=world.sam.user_id, skills=["billing"], max_open=cap)
    service_agent_set(actor=world.olivia, user_id=world.sue.user_id, skills=["英语"], max_open=cap)


def _new(world, customers, **kw):
    return ticket_create(actor=world.olivia, customer=customers["sam_c"], subject="x", **kw)


@pytest.mark.django_db
def test_round_robin_takes_turns_in_the_rules_team(world, customers):
    with workspace_context(world.ws_a):
        _setup(world)
        got = [_new(world, customers) for _ in range(4)]
        assert [t.assignee_id for t in got] == [world.sam.user_id, world.sue.user_id] * 2
        assert all(t.team_id == world.team_east.pk for t in got)


@pytest.mark.django_db
def test_least_loaded_skill_and_cap(world, customers):
    with workspace_context(world.ws_a):
        _setup(world, method="least_loaded", cap=2)
        a = _new(world, customers)
        b = _new(world, customers)
        assert {a.assignee_id, b.assignee_id} == {world.sam.user_id, world.sue.user_id}
        ticket_set_status(actor=world.olivia, ticket=a, status="closed")
        c = _new(world, customers)
        assert c.assignee_id == a.assignee_id  # the one whose ticket closed has the lighter load
        _new(world, customers)
        _new(world, customers)
        full = _new(world, customers)  # both at their cap of 2: stays in the queue
        assert full.assignee_id is None and full.team_id == world.team_east.pk
        ticket_rule_create(
            actor=world.olivia, name="billing first", position=0, priority="urgent", skill="billing"
        )
        Ticket.objects.update(status="closed")
        assert _new(world, customers, priority="urgent").assignee_id == world.sam.user_id


@pytest.mark.django_db
def test_setup_is_for_service_admins_and_checks_input(world):
    with workspace_context(world.ws_a):
        with pytest.raises(Forbidden):
            ticket_rule_create(actor=world.alice, name="x")
        with pytest.raises(ValidationFailed):
            ticket_rule_create(actor=world.olivia, name="x", method="random")
        with pytest.raises(ValidationFailed):
            service_agent_set(actor=world.olivia, user_id=world.oscar.user_id)


@pytest.mark.skipif(
    not os.environ.get("GUANXI_DATABASE_URL"), reason="needs PostgreSQL (row locks across threads)"
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_tickets_do_not_overfill_an_agent(world, customers):
    with workspace_context(world.ws_a):
        _setup(world, method="least_loaded", cap=3)
    results: list[int | None] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        try:
            with workspace_context(world.ws_a):
                barrier.wait()
                results.append(_new(world, customers).assignee_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results.count(world.sam.user_id) == 3 and results.count(world.sue.user_id) == 3
    assert results.count(None) == 2
