"""SLA policy and assignment-rule pages (list, create, edit with errors naming the field, delete after a confirmation
page), and the survey API (list, CSAT/NPS results against hand-computed values)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from guanxi.core.context import workspace_context
from guanxi.core.errors import ValidationFailed
from guanxi.service.models import SlaPolicy, TicketCategory, TicketRule
from guanxi.service.services import assignment as rules
from guanxi.service.services import calendars as cal_services
from guanxi.service.services.tickets import ticket_create
from tests.api.conftest import _fresh_rate_limits, api_for, make_key  # noqa: F401
from tests.api.support import assert_error
from tests.service.test_survey import QUESTIONS, _answered

pytestmark = pytest.mark.django_db

SLA_FORM = {
    "name": "VIP 加急",
    "first_response_minutes": "30",
    "resolution_minutes": "240",
    "warn_share": "0.75",
    "priority": "urgent",
    "category_id": "",
    "customer_tier": "VIP",
    "is_active": "on",
}


def test_sla_policy_pages_create_edit_delete(world, customers):
    c = world.client_for(world.olivia)
    assert c.get("/service/sla/").status_code == 200
    assert c.get("/service/sla/new/").status_code == 200
    bad = {**SLA_FORM, "first_response_minutes": "abc", "warn_share": "1.5", "name": ""}
    r = c.post("/service/sla/new/", bad)
    body = r.content.decode()
    assert r.status_code == 422
    for field in ("name", "first_response_minutes", "warn_share"):
        assert f'id="err-{field}"' in body
    assert 'id="err-resolution_minutes"' not in body
    r = c.post("/service/sla/new/", {**SLA_FORM, "resolution_minutes": "10"})  # shorter than first response
    assert r.status_code == 422 and 'id="err-resolution_minutes"' in r.content.decode()
    with workspace_context(world.ws_a):
        assert not SlaPolicy.objects.exists()
    assert c.post("/service/sla/new/", SLA_FORM).status_code == 302
    with workspace_context(world.ws_a):
        p = SlaPolicy.objects.get()
    assert (p.priority, p.customer_tier, p.warn_share, p.resolution_minutes) == (
        "urgent",
        "VIP",
        Decimal("0.75"),
        240,
    )
    assert "VIP 加急" in c.get("/service/sla/").content.decode()
    form = c.get(f"/service/sla/{p.pk}/").content.decode()
    assert 'value="240"' in form
    r = c.post(f"/service/sla/{p.pk}/", {**SLA_FORM, "resolution_minutes": "-1"})
    assert r.status_code == 422 and 'id="err-resolution_minutes"' in r.content.decode()
    p.refresh_from_db()
    assert p.resolution_minutes == 240
    assert c.post(f"/service/sla/{p.pk}/", {**SLA_FORM, "resolution_minutes": "480"}).status_code == 302
    p.refresh_from_db()
    assert p.resolution_minutes == 480
    # delete: a confirmation page first, then the POST deletes
    confirm = c.get(f"/service/sla/{p.pk}/delete/")
    assert confirm.status_code == 200 and "VIP 加急" in confirm.content.decode()
    with workspace_context(world.ws_a):
        assert SlaPolicy.objects.filter(pk=p.pk).exists()
    assert c.post(f"/service/sla/{p.pk}/delete/").status_code == 302
    with workspace_context(world.ws_a):
        assert not SlaPolicy.objects.exists()


def test_sla_policy_changes_need_a_service_admin(world, customers):
    with workspace_context(world.ws_a):
        p = cal_services.sla_policy_create(
            actor=world.olivia, name="默认", first_response_minutes=60, resolution_minutes=480
        )
    agent = world.client_for(world.alice)  # edits own tickets only
    assert agent.get("/service/sla/").status_code == 200
    assert agent.post("/service/sla/new/", SLA_FORM).status_code == 403
    assert agent.post(f"/service/sla/{p.pk}/delete/").status_code == 403
    assert world.client_for(world.oscar).post(f"/service/sla/{p.pk}/delete/").status_code == 404
    with workspace_context(world.ws_a):
        assert SlaPolicy.objects.filter(pk=p.pk).exists()


RULE_FORM = {
    "name": "账单问题给东区",
    "position": "1",
    "category_id": "",
    "channel": "email",
    "priority": "",
    "type": "",
    "team_id": "",
    "skill": "billing",
    "method": "least_loaded",
    "is_active": "on",
}


def test_assignment_rule_pages_create_edit_delete(world, customers):
    c = world.client_for(world.olivia)
    with workspace_context(world.ws_a):
        cat = TicketCategory.objects.create(name="账单")
    r = c.post(
        "/service/rules/new/",
        {**RULE_FORM, "channel": "pigeon", "team_id": "99999", "method": "random", "position": "x"},
    )
    body = r.content.decode()
    assert r.status_code == 422
    for field in ("channel", "team_id", "method", "position"):
        assert f'id="err-{field}"' in body, field
    with workspace_context(world.ws_a):
        assert not TicketRule.objects.exists()
    form = {**RULE_FORM, "team_id": str(world.team_east.pk), "category_id": str(cat.pk)}
    assert c.post("/service/rules/new/", form).status_code == 302
    with workspace_context(world.ws_a):
        rule = TicketRule.objects.get()
    assert (rule.team_id, rule.category_id, rule.method, rule.channel) == (
        world.team_east.pk, cat.pk, "least_loaded", "email",
    )  # fmt: skip
    assert "账单问题给东区" in c.get("/service/rules/").content.decode()
    assert c.post(f"/service/rules/{rule.pk}/", {**form, "is_active": ""}).status_code == 302
    rule.refresh_from_db()
    assert rule.is_active is False
    # the rule routes tickets once active again
    c.post(f"/service/rules/{rule.pk}/", form)
    with workspace_context(world.ws_a):
        t = ticket_create(actor=world.alice, customer=customers["sam_c"], subject="发票", channel="email",
                          category=cat)  # fmt: skip
        assert t.team_id == world.team_east.pk
    assert "账单问题给东区" in c.get(f"/service/rules/{rule.pk}/delete/").content.decode()
    with workspace_context(world.ws_a):
        assert TicketRule.objects.exists()
    assert c.post(f"/service/rules/{rule.pk}/delete/").status_code == 302
    with workspace_context(world.ws_a):
        assert not TicketRule.objects.exists()


def test_rule_service_refuses_another_workspaces_team(world, customers):
    with workspace_context(world.ws_b):
        from guanxi.workspaces.models import Team

        b_team = Team.objects.create(name="B 组")
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed) as exc:
            rules.ticket_rule_create(actor=world.olivia, name="x", team_id=b_team.pk)
        assert set(exc.value.fields) == {"team_id"}
        rule = rules.ticket_rule_create(actor=world.olivia, name="x")
        with pytest.raises(ValidationFailed) as exc:
            rules.ticket_rule_update(actor=world.olivia, rule_id=rule.pk, priority="asap")
        assert set(exc.value.fields) == {"priority"}
        rule.refresh_from_db()
        assert rule.priority == ""


# --- survey API ---------------------------------------------------------------------------------------------------


def test_survey_api_lists_and_computes_csat_and_nps(
    world,
    customers,
    api_for,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    from guanxi.service.services import surveys as svc

    with workspace_context(world.ws_a):
        survey = svc.survey_create(
            actor=world.alice, name="服务回访", questions=QUESTIONS, send_on_close=True
        )
        cat = TicketCategory.objects.create(name="安装")
    alice, sue = world.alice.user_id, world.sue.user_id
    jan, feb = dt.datetime(2026, 1, 15, 4, tzinfo=dt.UTC), dt.datetime(2026, 2, 15, 4, tzinfo=dt.UTC)
    for rating, nps, agent, when in [
        (5, 10, alice, jan),
        (4, 9, alice, jan),
        (2, 3, alice, feb),
        (3, 7, sue, feb),
    ]:
        _answered(world, customers, survey, django_capture_on_commit_callbacks,
                  rating=rating, nps=nps, agent=agent, team=None, category=cat, when=when)  # fmt: skip
    api = api_for(world.mark)
    listed = api.get("/surveys").json()["items"]
    assert [s["name"] for s in listed] == ["服务回访"]
    assert [q["kind"] for q in listed[0]["questions"]] == ["rating", "nps", "single", "multi", "text"]
    r = api.get(f"/surveys/{survey.pk}/results", by="agent").json()
    # ratings 5,4,2,3: 2 of 4 are 4-5 -> 50.0; NPS 10,9,3,7: (2 promoters - 1 detractor) / 4 -> 25.0
    assert (r["total"]["responses"], r["total"]["csat"], r["total"]["nps"]) == (4, 50.0, 25.0)
    # alice: 5,4,2 -> 66.7; NPS 10,9,3 -> 33.3. sue: 3 -> 0.0; NPS 7 -> 0.0
    assert {g["key"]: (g["csat"], g["nps"]) for g in r["groups"]} == {
        str(alice): (66.7, 33.3),
        str(sue): (0.0, 0.0),
    }
    months = api.get("/satisfaction", by="period", period="month").json()["groups"]
    assert [(m["key"][:10], m["responses"], m["csat"], m["nps"]) for m in months] == [
        ("2026-01-01", 2, 100.0, 100.0),
        ("2026-02-01", 2, 0.0, -50.0),
    ]
    feb_only = api.get("/satisfaction", start="2026-02-01T00:00:00Z", end="2026-03-01T00:00:00Z").json()
    assert feb_only["total"]["responses"] == 2 and feb_only["groups"] == []
    body = assert_error(
        api.get("/satisfaction", start="2026-03-01T00:00:00Z", end="2026-02-01T00:00:00Z"),
        422,
        "validation_error",
    )
    assert [f["field"] for f in body["fields"]] == ["end"]
    # the outsider: 404 on the survey, an empty total on their own workspace
    outsider = api_for(world.oscar)
    assert_error(outsider.get(f"/surveys/{survey.pk}"), 404, "not_found")
    assert_error(outsider.get(f"/surveys/{survey.pk}/results"), 404, "not_found")
    assert outsider.get("/surveys").json()["items"] == []
    empty = outsider.get("/satisfaction").json()["total"]
    assert (empty["responses"], empty["csat"], empty["nps"]) == (0, None, None)
