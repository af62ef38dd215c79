"""The activities API (/api/v1/activities): create, list with filters, read, change, complete, cancel, delete;
errors in the one shape; the outsider gets 404 and changes nothing; query count of the list pinned."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from guanxi.core.context import workspace_context
from guanxi.customers.models import Interaction
from guanxi.sales.models import Activity
from tests.api.conftest import _fresh_rate_limits, api_for, make_key  # noqa: F401
from tests.api.support import assert_error


def _iso(minutes: int) -> str:
    return (timezone.now() + dt.timedelta(minutes=minutes)).isoformat()


def test_create_read_change_complete_delete(world, customers, sales, api_for):  # noqa: F811
    api = api_for(world.sam)
    r = api.post(
        "/activities",
        {
            "kind": "meeting",
            "subject": "需求沟通",
            "opportunity_id": sales.sam_opp.pk,
            "due_at": _iso(60),
            "ends_at": _iso(120),
            "location": "客户公司",
            "remind_minutes": 10,
        },
    )
    assert r.status_code == 201, r.content
    a = r.json()
    assert a["customer_id"] == customers["sam_c"].pk and a["owner_id"] == world.sam.user_id
    assert a["status"] == "open" and a["remind_minutes"] == 10 and a["remind_at"]
    assert api.get(f"/activities/{a['id']}").json()["subject"] == "需求沟通"
    r = api.patch(f"/activities/{a['id']}", {"subject": "需求沟通（改）", "priority": "high"})
    assert r.status_code == 200 and r.json()["priority"] == "high"
    r = api.post(f"/activities/{a['id']}/complete", {"outcome": "确认预算"})
    assert r.status_code == 200 and r.json()["status"] == "done" and r.json()["interaction_id"]
    r = api.post(f"/activities/{a['id']}/complete", {"outcome": "again"})
    assert r.status_code == 200 and r.json()["outcome"] == "确认预算"
    with workspace_context(world.ws_a):
        assert Interaction.objects.filter(external_key=f"sales:activity:{a['id']}").count() == 1
    assert_error(api.patch(f"/activities/{a['id']}", {"due_at": _iso(30)}), 422, "activity_done")
    assert api.delete(f"/activities/{a['id']}").status_code == 204
    assert_error(api.get(f"/activities/{a['id']}"), 404, "not_found")


def test_bad_input_names_the_field(world, customers, api_for):  # noqa: F811
    api = api_for(world.sam)
    body = assert_error(
        api.post("/activities", {"kind": "meeting", "subject": "x", "customer_id": customers["sam_c"].pk}),
        422,
        "validation_error",
    )
    assert [f["field"] for f in body["fields"]] == ["due_at"]
    body = assert_error(
        api.post(
            "/activities",
            {
                "kind": "visit",
                "subject": "x",
                "customer_id": customers["sam_c"].pk,
                "due_at": _iso(60),
                "ends_at": _iso(30),
            },
        ),
        422,
        "validation_error",
    )
    assert [f["field"] for f in body["fields"]] == ["ends_at"]
    body = assert_error(
        api.post("/activities", {"subject": "x", "customer_id": customers["oscar_c"].pk}),
        422,
        "validation_error",
    )
    assert [f["field"] for f in body["fields"]] == ["customer_id"]
    with workspace_context(world.ws_a):
        assert not Activity.objects.exists()


def test_list_filters_and_scope(world, customers, sales, api_for):  # noqa: F811
    sam, sue, mark = api_for(world.sam), api_for(world.sue), api_for(world.mark)
    soon = sam.post(
        "/activities", {"subject": "soon", "customer_id": customers["sam_c"].pk, "due_at": _iso(60)}
    ).json()
    later = sam.post(
        "/activities",
        {
            "subject": "later",
            "opportunity_id": sales.sam_opp.pk,
            "due_at": _iso(60 * 24 * 10),
            "kind": "call",
        },
    ).json()
    sue_a = sue.post("/activities", {"subject": "sue's", "customer_id": customers["sue_c"].pk}).json()

    def ids(api, **params):
        r = api.get("/activities", **params)
        assert r.status_code == 200, r.content
        return {a["id"] for a in r.json()["items"]}

    assert ids(sam) == {soon["id"], later["id"], sue_a["id"]}  # team view
    assert ids(mark, owner_id=world.sue.user_id) == {sue_a["id"]}
    assert ids(sam, opportunity_id=sales.sam_opp.pk) == {later["id"]}
    assert ids(sam, customer_id=customers["sue_c"].pk) == {sue_a["id"]}
    assert ids(sam, kind="call") == {later["id"]}
    assert ids(sam, due_from=_iso(0), due_to=_iso(60 * 24)) == {soon["id"]}
    sam.post(f"/activities/{soon['id']}/complete", {})
    assert ids(sam, status="done") == {soon["id"]}
    assert_error(sam.get("/activities", due_from=_iso(60), due_to=_iso(0)), 422, "validation_error")
    r = sam.patch(f"/activities/{later['id']}", {"status": "cancelled"})
    assert r.json()["status"] == "cancelled"
    assert ids(sam, status="cancelled") == {later["id"]}
    # sam may see sue's but not change it
    assert_error(sam.patch(f"/activities/{sue_a['id']}", {"subject": "x"}), 403, "forbidden")
    assert_error(sam.post(f"/activities/{sue_a['id']}/complete", {}), 403, "forbidden")


def test_list_query_count_is_flat(world, customers, api_for):  # noqa: F811
    api = api_for(world.olivia)
    for i in range(3):
        api.post("/activities", {"subject": f"a{i}", "customer_id": customers["sam_c"].pk})
    with CaptureQueriesContext(connection) as few:
        assert len(api.get("/activities").json()["items"]) == 3
    for i in range(3, 12):
        api.post("/activities", {"subject": f"a{i}", "customer_id": customers["sue_c"].pk})
    with CaptureQueriesContext(connection) as many:
        assert len(api.get("/activities").json()["items"]) == 12
    assert len(many) == len(few)


def test_outsider_gets_404_and_nothing_changes(world, customers, api_for):  # noqa: F811
    a = (
        api_for(world.sam)
        .post("/activities", {"subject": "secret", "customer_id": customers["sam_c"].pk})
        .json()
    )
    oscar = api_for(world.oscar)
    assert_error(oscar.get(f"/activities/{a['id']}"), 404, "not_found")
    assert_error(oscar.patch(f"/activities/{a['id']}", {"subject": "hacked"}), 404, "not_found")
    assert_error(oscar.post(f"/activities/{a['id']}/complete", {}), 404, "not_found")
    assert oscar.delete(f"/activities/{a['id']}").status_code == 404
    assert oscar.get("/activities").json()["items"] == []
    with workspace_context(world.ws_a):
        row = Activity.objects.get(pk=a["id"])
        assert row.subject == "secret" and row.status == "open"


def test_read_only_key_cannot_write(world, customers, api_for):  # noqa: F811
    api = api_for(world.sam, scopes=("read",))
    assert api.post("/activities", {"subject": "x", "customer_id": customers["sam_c"].pk}).status_code == 403
