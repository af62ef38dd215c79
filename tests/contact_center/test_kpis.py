"""KPIs from stored records, against figures worked out by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from guanxi.contact_center import routing
from guanxi.contact_center.kpis import kpi_report
from guanxi.contact_center.models import AgentPresenceLog, Task
from guanxi.core.context import workspace_context

T0 = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)


def at(seconds):
    return None if seconds is None else T0 + dt.timedelta(seconds=seconds)


def test_kpis_equal_the_hand_computed_figures(world, customers):
    with workspace_context(world.ws_a):
        q = routing.queue_create(actor=world.olivia, name="热线", service_level_seconds=20)
        agent = routing.agent_for(world.alice)
        c1, c2 = customers["sam_c"].pk, customers["sue_c"].pk
        # (queued, assigned, completed, status, customer)
        for qd, asg, done, status, cust in [
            (0, 10, 190, "completed", c1),  # wait 10 (within 20), handle 180
            (60, 90, 390, "completed", c2),  # wait 30 (late), handle 300
            (120, 125, 245, "completed", c1),  # wait 5, handle 120; c1 came back: the first one is not FCR
            (200, None, None, "cancelled", None),  # abandoned
            (300, None, None, "pending", None),  # still waiting: offered, neither answered nor abandoned
        ]:
            Task.objects.create(
                channel="phone", queue=q, status=status, queued_at=at(qd), assigned_at=at(asg),
                completed_at=at(done), customer_id=cust, agent=agent if asg is not None else None,
            )  # fmt: skip
        Task.objects.create(channel="phone", queue=q, status="refused", queued_at=at(400))  # not offered
        AgentPresenceLog.objects.create(
            agent=agent, presence="available", started_at=at(0), ended_at=at(1800)
        )
        AgentPresenceLog.objects.create(agent=agent, presence="paused", reason="午饭", started_at=at(1800))
        r = kpi_report(start=T0, end=T0 + dt.timedelta(hours=1))
    assert (r["offered"], r["answered"], r["abandoned"], r["answered_within"]) == (5, 3, 1, 2)
    assert r["service_level"] == pytest.approx(2 / 3)
    assert r["service_level_with_abandons"] == pytest.approx(2 / 4)
    assert r["asa_seconds"] == pytest.approx((10 + 30 + 5) / 3)
    assert r["aht_seconds"] == pytest.approx((180 + 300 + 120) / 3)
    assert r["abandonment_rate"] == pytest.approx(1 / 4)
    assert r["fcr"] == pytest.approx(2 / 3)
    # held [10, 390] (three overlapping contacts) while staffed [0, 1800]; the pause is not staffed time
    assert r["occupancy"] == pytest.approx(380 / 1800)
    assert [x["name"] for x in r["queues"]] == ["热线"] and r["queues"][0]["answered"] == 3
    with workspace_context(world.ws_b):  # another workspace's report holds none of it
        other = kpi_report(start=T0, end=T0 + dt.timedelta(hours=1))
    assert other["offered"] == 0 and other["occupancy"] is None


def test_wallboard_kpi_and_erlang_c_through_the_api(world, customers):
    from guanxi.contact_center.models import Presence
    from tests.contact_center.test_api import bearer

    with workspace_context(world.ws_a):
        q = routing.queue_create(actor=world.olivia, name="热线")
        routing.workflow_create(actor=world.olivia, name="流程", is_default=True, steps=[{"queue_id": q.pk}])
        routing.agent_configure(actor=world.olivia, member=world.alice, queue_ids=[q.pk])
        routing.agent_set_presence(actor=world.alice, presence=Presence.PAUSED, reason="培训")
        routing.task_enqueue(channel="phone", source_type="call", source_id="c-1")
    alice, olivia, oscar = bearer(world, world.alice), bearer(world, world.olivia), bearer(world, world.oscar)
    board = alice.get("/contact-center/wallboard").json()
    assert board["queues"][0]["name"] == "热线" and board["queues"][0]["waiting"] == 1
    assert board["agents"]["paused"] == 1
    assert oscar.get("/contact-center/wallboard").json()["queues"] == []  # the outsider sees only their own
    period = {"start": "2026-11-23T00:00:00+00:00", "end": "2026-11-24T00:00:00+00:00"}
    assert (
        alice.get("/contact-center/kpis", **period).status_code == 403
    )  # a report over everyone: supervisors
    assert olivia.get("/contact-center/kpis", **period).status_code == 200
    bad = olivia.get("/contact-center/kpis", start=period["end"], end=period["start"])
    assert bad.status_code == 422 and "end" in {f["field"] for f in bad.json()["fields"]}
    erl = alice.get(
        "/contact-center/staffing/erlang-c",
        contacts=100, interval_seconds=1800, aht_seconds=180, threshold_seconds=20, target=0.8, shrinkage=0.3,
    ).json()  # fmt: skip
    assert (erl["agents"], erl["scheduled"]) == (14, 20)


def test_the_wallboard_page_polls_its_board(world):
    with workspace_context(world.ws_a):
        routing.queue_create(actor=world.olivia, name="售后热线")
        routing.agent_for(world.alice)
    page = world.client_for(world.alice).get("/contact-center/wallboard/")
    assert page.status_code == 200 and 'hx-trigger="every 1s"' in page.content.decode()
    assert "售后热线" in page.content.decode()
    part = world.client_for(world.alice).get("/contact-center/wallboard/", HTTP_HX_REQUEST="true")
    assert "售后热线" in part.content.decode() and "<html" not in part.content.decode()
    assert "售后热线" not in world.client_for(world.oscar).get("/contact-center/wallboard/").content.decode()
