"""Complaint pages and API: record with classification and the 5 whys, action with owner and due date, action done,
result reported, customer's confirmation, each on the customer's timeline; the crisis alert shown; errors name the
field and change nothing; the outsider gets 404."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from guanxi.core.context import workspace_context
from guanxi.customers.models import Interaction
from guanxi.service.models import Complaint, CrisisAlert, TicketCategory
from guanxi.service.services.complaints import complaint_record
from guanxi.service.services.tickets import ticket_create
from guanxi.service.views_complaints import join_whys, split_whys
from tests.api.conftest import _fresh_rate_limits, api_for, make_key  # noqa: F401
from tests.api.support import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(world, customers):
    with workspace_context(world.ws_a):
        cat = TicketCategory.objects.create(name="配送")
        return ticket_create(
            actor=world.alice, customer=customers["sam_c"], subject="包裹被摔坏", category=cat
        )


def _timeline(world, ticket) -> list[str]:
    with workspace_context(world.ws_a):
        return list(
            Interaction.objects.filter(source_type="service.ticket", source_id=str(ticket.pk))
            .order_by("id")
            .values_list("external_key", flat=True)
        )


def test_whys_round_trip():
    text = join_whys(["包裹破损", "搬运粗暴", "", "没有培训", "流程缺失"])
    assert text == "1. 包裹破损\n2. 搬运粗暴\n4. 没有培训\n5. 流程缺失"
    assert split_whys(text) == ["包裹破损", "搬运粗暴", "", "没有培训", "流程缺失"]
    assert split_whys("自由文本")[0] == "自由文本"


def test_api_complaint_lifecycle(world, customers, ticket, api_for, django_capture_on_commit_callbacks):  # noqa: F811
    api = api_for(world.alice)
    url = f"/tickets/{ticket.pk}/complaint"
    assert_error(api.get(url), 404, "not_found")  # no complaint yet
    body = assert_error(api.patch(url, {"severity": "major"}), 422, "validation_error")
    assert [f["field"] for f in body["fields"]] == ["classification"]
    r = api.patch(url, {"classification": "delivery", "severity": "major", "product": "冰箱"})
    assert r.status_code == 200, r.content
    assert r.json()["stage"] == "analysis" and r.json()["classification"] == "delivery"
    # an action without owner and due date: refused, nothing changed
    body = assert_error(api.patch(url, {"action": "更换承运商"}), 422, "validation_error")
    assert [f["field"] for f in body["fields"]] == ["action"]
    assert api.get(url).json()["action"] == ""
    r = api.patch(
        url,
        {
            "root_cause": "supplier",
            "root_cause_text": "1. 包裹破损\n2. 承运商搬运粗暴",
            "action": "更换承运商",
            "action_owner_id": world.mark.user_id,
            "action_due": "2026-12-01",
        },
    )
    assert r.status_code == 200 and r.json()["stage"] == "action" and r.json()["action_due"] == "2026-12-01"
    assert_error(api.post(f"{url}/confirm", {"satisfied": True}), 422, "validation_error")  # nothing reported
    assert api.post(f"{url}/action-done").json()["stage"] == "report"
    with django_capture_on_commit_callbacks(execute=True):
        r = api.post(f"{url}/result", {"result": "已更换承运商并赔偿"})
    assert r.json()["stage"] == "confirm"
    r = api.post(f"{url}/confirm", {"satisfied": True})
    assert r.json()["stage"] == "done" and r.json()["customer_satisfied"] is True
    assert_error(api.post(f"{url}/confirm", {"satisfied": False}), 422, "validation_error")  # once
    keys = _timeline(world, ticket)
    for event in ("complaint", "complaint_cause:supplier", "complaint_action_done", "complaint_confirmed"):
        assert f"ticket:{ticket.pk}:{event}" in keys
    assert any(k.startswith(f"ticket:{ticket.pk}:reply:") for k in keys)  # the result went out as a reply

    listed = api.get("/complaints", stage="done").json()["items"]
    assert [c["ticket_id"] for c in listed] == [ticket.pk]
    assert api.get("/complaints", stage="analysis").json()["items"] == []
    assert api.get("/complaints", classification="billing").json()["items"] == []
    counts = api.get("/complaints/analysis", days=30).json()
    assert counts["classification"] == [{"key": "delivery", "count": 1}]
    assert counts["root_cause"] == [{"key": "supplier", "count": 1}]


def test_api_outsider_gets_404_and_nothing_changes(world, customers, ticket, api_for):  # noqa: F811
    with workspace_context(world.ws_a):
        complaint_record(actor=world.alice, ticket=ticket, classification="product")
    api = api_for(world.oscar)
    url = f"/tickets/{ticket.pk}/complaint"
    assert_error(api.get(url), 404, "not_found")
    assert_error(api.patch(url, {"classification": "billing"}), 404, "not_found")
    assert_error(api.post(f"{url}/action-done"), 404, "not_found")
    assert api.get("/complaints").json()["items"] == []
    with workspace_context(world.ws_a):
        assert Complaint.objects.get().classification == "product"


def test_crisis_alerts_are_listed_and_shown(world, customers, ticket, api_for):  # noqa: F811
    with workspace_context(world.ws_a):
        complaint_record(actor=world.alice, ticket=ticket, classification="delivery")
        CrisisAlert.objects.create(
            category=ticket.category,
            week_start=dt.date(2026, 11, 16),
            count=12,
            baseline_mean="2.10",
            baseline_sd="1.00",
        )
    got = api_for(world.alice).get("/crisis-alerts").json()
    assert [(a["category_name"], a["count"]) for a in got] == [("配送", 12)]
    assert api_for(world.oscar).get("/crisis-alerts").json() == []
    c = world.client_for(world.alice)
    page = c.get("/service/complaints/").content.decode()
    assert "配送: 12" in page and "包裹被摔坏" in page
    assert "配送: 12" in c.get(f"/service/complaints/{ticket.pk}/").content.decode()
    assert "配送: 12" not in world.client_for(world.oscar).get("/service/complaints/").content.decode()
    # the ticket list shows an alert of the last two weeks, not an old one
    with workspace_context(world.ws_a):
        CrisisAlert.objects.update(week_start=timezone.localdate() - dt.timedelta(days=3))
    assert "配送: 12" in c.get("/service/").content.decode()
    with workspace_context(world.ws_a):
        CrisisAlert.objects.update(week_start=timezone.localdate() - dt.timedelta(days=30))
    assert "配送: 12" not in c.get("/service/").content.decode()


def test_pages_record_with_five_whys_then_follow_through(
    world, customers, ticket, django_capture_on_commit_callbacks
):
    c = world.client_for(world.alice)
    page = c.get(f"/service/tickets/{ticket.pk}/").content.decode()
    assert f"/service/complaints/{ticket.pk}/" in page
    form = {
        "classification": "",
        "severity": "major",
        "root_cause": "process",
        "why1": "包裹破损",
        "why2": "没有防震包装",
        "action": "",
    }
    r = c.post(f"/service/complaints/{ticket.pk}/", form)
    assert r.status_code == 422 and 'id="err-classification"' in r.content.decode()
    with workspace_context(world.ws_a):
        assert not Complaint.objects.exists()
    form["classification"] = "delivery"
    form.update(action="改用防震包装", action_owner_id=str(world.mark.user_id), action_due="not a date")
    r = c.post(f"/service/complaints/{ticket.pk}/", form)
    assert r.status_code == 422 and "action_due" in r.content.decode()
    form["action_due"] = "2026-12-01"
    assert c.post(f"/service/complaints/{ticket.pk}/", form).status_code == 302
    with workspace_context(world.ws_a):
        comp = Complaint.objects.get()
    assert (
        comp.root_cause_text == "1. 包裹破损\n2. 没有防震包装" and comp.action_owner_id == world.mark.user_id
    )
    page = c.get(f"/service/complaints/{ticket.pk}/").content.decode()
    assert 'value="没有防震包装"' in page
    step = f"/service/complaints/{ticket.pk}/step/"
    c.post(step, {"step": "done"})
    with django_capture_on_commit_callbacks(execute=True):
        c.post(step, {"step": "result", "result": "已改用防震包装"})
    c.post(step, {"step": "confirm", "satisfied": "no"})
    comp.refresh_from_db()
    assert comp.action_done_at and comp.result_reported_at and comp.customer_satisfied is False
    listing = c.get("/service/complaints/?stage=done").content.decode()
    assert "包裹被摔坏" in listing
    assert "包裹被摔坏" not in c.get("/service/complaints/?stage=analysis").content.decode()


def test_readonly_member_sees_but_cannot_change(world, customers, ticket):
    with workspace_context(world.ws_a):
        complaint_record(actor=world.alice, ticket=ticket, classification="delivery")
    c = world.client_for(world.rita)
    assert c.get(f"/service/complaints/{ticket.pk}/").status_code == 200
    assert c.post(f"/service/complaints/{ticket.pk}/", {"classification": "billing"}).status_code in (
        403,
        404,
    )
    assert c.post(f"/service/complaints/{ticket.pk}/step/", {"step": "done"}).status_code == 403
    with workspace_context(world.ws_a):
        assert Complaint.objects.get().classification == "delivery"


def test_list_queries_do_not_grow_with_rows(world, customers, api_for):  # noqa: F811
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = api_for(world.alice)

    def add(n):
        with workspace_context(world.ws_a):
            for i in range(n):
                t = ticket_create(actor=world.alice, customer=customers["sam_c"], subject=f"投诉 {i}")
                complaint_record(actor=world.alice, ticket=t, classification="service")

    add(1)
    client = world.client_for(world.alice)
    api.get("/complaints"), client.get("/service/complaints/")  # warm: key and session lookups cached
    with CaptureQueriesContext(connection) as one:
        assert len(api.get("/complaints").json()["items"]) == 1
        client.get("/service/complaints/")
    add(5)
    with CaptureQueriesContext(connection) as six:
        assert len(api.get("/complaints").json()["items"]) == 6
        client.get("/service/complaints/")
    assert len(six) == len(one), [q["sql"] for q in six.captured_queries]
