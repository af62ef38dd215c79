"""Service evaluation dashboard: response and resolution times, SLA attainment, reopen rate, against hand values."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from guanxi.core.context import workspace_context
from guanxi.service import selectors_dashboard
from guanxi.service.models import Ticket
from guanxi.service.services.tickets import ticket_create, ticket_set_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def tickets(world, customers):
    """Three tickets with hand-set times (minutes after ``base``):

    t1 alice: first response 30 (due 60: met), resolved 240 (due 180: missed), reopened once
    t2 alice: first response 90 (due 60: missed), resolved 120 (due 180: met)
    t3 sue:   first response 10 (due 60: met), resolved 60 (due 480: met)
    t4 sue:   still open, no response: counts nowhere
    """
    base = timezone.now().replace(microsecond=0) - dt.timedelta(days=2)

    def at(minutes):
        return base + dt.timedelta(minutes=minutes)

    alice, sue = world.alice.user_id, world.sue.user_id
    with workspace_context(world.ws_a):
        made = {}
        for name, agent in (("t1", alice), ("t2", alice), ("t3", sue), ("t4", sue)):
            made[name] = ticket_create(
                actor=None, customer=customers["sam_c"].pk, subject=name, channel="phone", assignee_id=agent,
                team_id=world.team_east.pk if agent == alice else None,
            )  # fmt: skip
        # t1 is resolved, reopened and resolved again (the audit trail records the reopen)
        ticket_set_status(actor=None, ticket=made["t1"], status="resolved")
        ticket_set_status(actor=None, ticket=made["t1"], status="open")
        for name in ("t1", "t2", "t3"):
            ticket_set_status(actor=None, ticket=made[name], status="resolved")
        times = {
            "t1": (30, 240, 60, 180),
            "t2": (90, 120, 60, 180),
            "t3": (10, 60, 60, 480),
        }
        for name, (fr, res, fr_due, res_due) in times.items():
            Ticket.objects.filter(pk=made[name].pk).update(
                created_at=at(0), first_response_at=at(fr), resolved_at=at(res),
                first_response_due_at=at(fr_due), resolution_due_at=at(res_due),
            )  # fmt: skip
        Ticket.objects.filter(pk=made["t4"].pk).update(created_at=at(0), first_response_due_at=at(60))
    return made


def test_whole_service_figures(world, tickets):
    with workspace_context(world.ws_a):
        ev = selectors_dashboard.service_evaluation(
            actor=world.mark, start=timezone.now() - dt.timedelta(days=7)
        )
    assert ev.resolved == 3
    assert ev.first_response_minutes == 43.3  # (30 + 90 + 10) / 3
    assert ev.resolution_minutes == 140.0  # (240 + 120 + 60) / 3
    assert (ev.first_response_sla, ev.sla_first_response_n) == (66.7, 3)  # t1, t3 of 3
    assert (ev.resolution_sla, ev.sla_resolution_n) == (66.7, 3)  # t2, t3 of 3
    assert (ev.reopened, ev.reopen_rate) == (1, 33.3)  # t1 of 3 resolved


def test_figures_by_agent_and_team(world, tickets):
    with workspace_context(world.ws_a):
        agents = {e.key: e for e in selectors_dashboard.service_evaluation_by(actor=world.mark, by="agent")}
        teams = {e.key: e for e in selectors_dashboard.service_evaluation_by(actor=world.mark, by="team")}
    a, s = agents[world.alice.user_id], agents[world.sue.user_id]
    assert (a.resolved, a.first_response_minutes, a.resolution_minutes) == (2, 60.0, 180.0)
    assert (a.first_response_sla, a.resolution_sla, a.reopen_rate) == (50.0, 50.0, 50.0)
    assert (s.resolved, s.first_response_minutes, s.resolution_minutes) == (1, 10.0, 60.0)
    assert (s.first_response_sla, s.resolution_sla, s.reopen_rate) == (100.0, 100.0, 0.0)
    assert teams[world.team_east.pk].resolved == 2 and teams[None].resolved == 1


def test_period_outside_the_tickets_is_empty(world, tickets):
    with workspace_context(world.ws_a):
        old = timezone.now() - dt.timedelta(days=400)
        ev = selectors_dashboard.service_evaluation(
            actor=world.mark, start=old, end=old + dt.timedelta(days=30)
        )
    assert (ev.resolved, ev.first_response_minutes, ev.first_response_sla, ev.reopen_rate) == (
        0,
        None,
        None,
        None,
    )


def test_another_workspace_sees_none_of_it(world, tickets):
    with workspace_context(world.ws_b):
        ev = selectors_dashboard.service_evaluation(actor=world.oscar)
    assert ev.resolved == 0 and ev.first_response_minutes is None


def test_dashboard_page_and_local_plotly(world, tickets):
    c = world.client_for(world.mark)
    r = c.get("/service/dashboard/", {"days": "30"})
    body = r.content.decode()
    assert r.status_code == 200 and "43.3" in body and "66.7" in body
    assert "/service/dashboard/plotly.min.js" in body and "cdn" not in body.lower()
    js = c.get("/service/dashboard/plotly.min.js")
    assert js.status_code == 200 and js["Content-Type"].startswith("text/javascript")
    assert b"plotly" in b"".join(js.streaming_content)[:5000].lower()
    assert c.get("/service/dashboard/", {"start": "2026-13-01"}).status_code == 200
    assert world.client_for(world.rita).get("/service/dashboard/").status_code == 200
