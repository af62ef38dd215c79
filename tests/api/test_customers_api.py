"""/customers: CRUD through the services, permission cases, and isolation (outsider gets 404, nothing changes)."""

from __future__ import annotations

import pytest

from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer
from guanxi.ledger.models import AuditEvent
from tests.api.support import assert_error


def _snapshot(ws):
    with workspace_context(ws):
        return list(Customer.objects.order_by("pk").values())


def test_list_shows_what_the_member_may_see(world, api_for, customers):
    names = {c["name"] for c in api_for(world.rita).get("/customers").json()["items"]}
    assert names == {"张三丰", "李四", "王五有限公司"}  # read-only sees the workspace, never B's


def test_list_filters(world, api_for, customers):
    api = api_for(world.olivia)
    assert [c["name"] for c in api.get("/customers", kind="company").json()["items"]] == ["王五有限公司"]
    assert [c["name"] for c in api.get("/customers", q="三丰").json()["items"]] == ["张三丰"]
    mine = api.get("/customers", owner_id=world.sue.user_id).json()["items"]
    assert [c["name"] for c in mine] == ["李四"]


@pytest.mark.parametrize("rows", [3, 30])
def test_list_query_count_does_not_grow_with_rows(world, api_for, customers, rows, django_assert_num_queries):
    with workspace_context(world.ws_a):
        Customer.objects.bulk_create(
            [Customer(name=f"c{i}", owner=world.sue.user, workspace=world.ws_a) for i in range(rows)]
        )
    api = api_for(world.sam)
    api.get("/customers")  # first use writes last_used_at
    # key, membership, role-policy overrides, the page, the page's tags
    with django_assert_num_queries(5):
        assert api.get("/customers").status_code == 200


def test_create_returns_201_and_writes_the_audit_trail(world, api_for):
    r = api_for(world.sam).post("/customers", {"name": "赵六", "phone": "+8613700137000", "city": "上海"})
    assert r.status_code == 201
    body = r.json()
    assert body["name"] == "赵六" and body["city"] == "上海" and body["owner_id"] == world.sam.user_id
    event = AuditEvent.all_workspaces.get(action="customer.create", object_id=str(body["id"]))
    assert event.workspace_id == world.ws_a.pk and event.actor_id == world.sam.user_id


def test_readonly_cannot_create_and_nothing_changes(world, api_for, customers):
    before = _snapshot(world.ws_a)
    assert_error(api_for(world.rita).post("/customers", {"name": "x"}), 403, "forbidden")
    assert _snapshot(world.ws_a) == before


def test_sales_cannot_create_for_someone_else(world, api_for, customers):
    before = _snapshot(world.ws_a)
    r = api_for(world.sam).post("/customers", {"name": "x", "owner_id": world.sue.user_id})
    assert_error(r, 403, "forbidden")
    assert _snapshot(world.ws_a) == before


def test_get_one(world, api_for, customers):
    r = api_for(world.sam).get(f"/customers/{customers['sue_c'].pk}")
    assert r.status_code == 200
    assert r.json()["name"] == "李四"


def test_patch_changes_only_the_fields_sent(world, api_for, customers):
    c = customers["sam_c"]
    r = api_for(world.sam).patch(f"/customers/{c.pk}", {"city": "杭州"})
    assert r.status_code == 200, r.content
    assert r.json()["city"] == "杭州"
    assert r.json()["phone"] == "+8613800138000"
    event = AuditEvent.all_workspaces.get(action="customer.update", object_id=str(c.pk))
    assert event.changes == {"city": ["", "杭州"], "updated_at": event.changes["updated_at"]}


def test_patch_refuses_null_and_bad_values_naming_the_field(world, api_for, customers):
    c = customers["sam_c"]
    before = _snapshot(world.ws_a)
    api = api_for(world.sam)
    body = assert_error(api.patch(f"/customers/{c.pk}", {"phone": None}), 422, "validation_error")
    assert body["fields"][0]["field"] == "phone"
    body = assert_error(api.patch(f"/customers/{c.pk}", {"name": ""}), 422, "validation_error")
    assert body["fields"][0]["field"] == "name"
    assert _snapshot(world.ws_a) == before


def test_sales_cannot_patch_or_delete_a_colleagues_customer(world, api_for, customers):
    before = _snapshot(world.ws_a)
    api = api_for(world.sam)
    assert_error(api.patch(f"/customers/{customers['sue_c'].pk}", {"city": "x"}), 403, "forbidden")
    assert_error(api.delete(f"/customers/{customers['sue_c'].pk}"), 403, "forbidden")
    assert _snapshot(world.ws_a) == before


def test_manager_edits_team_rows_only(world, api_for, customers):
    api = api_for(world.mark)
    assert api.patch(f"/customers/{customers['sue_c'].pk}", {"city": "杭州"}).status_code == 200
    assert_error(api.patch(f"/customers/{customers['olivia_c'].pk}", {"city": "x"}), 403, "forbidden")


def test_delete(world, api_for, customers):
    c = customers["sam_c"]
    r = api_for(world.sam).delete(f"/customers/{c.pk}")
    assert r.status_code == 204
    with workspace_context(world.ws_a):
        assert not Customer.objects.filter(pk=c.pk).exists()
    assert AuditEvent.all_workspaces.filter(action="customer.delete", object_id=str(c.pk)).exists()


def test_outsider_gets_404_for_every_object_route_and_nothing_changes(world, api_for, customers):
    target = customers["sam_c"].pk
    before = _snapshot(world.ws_a)
    events = AuditEvent.all_workspaces.filter(workspace=world.ws_a).count()
    api = api_for(world.oscar)  # owner of workspace B: full rights there, none in A
    assert_error(api.get(f"/customers/{target}"), 404, "not_found")
    assert_error(api.patch(f"/customers/{target}", {"name": "hacked"}), 404, "not_found")
    assert_error(api.delete(f"/customers/{target}"), 404, "not_found")
    listed = api.get("/customers").json()["items"]
    assert [c["name"] for c in listed] == ["Beta Customer"]
    # a create lands in B, whatever the caller sends
    r = api.post("/customers", {"name": "B 的新客户", "owner_id": world.sam.user_id})
    assert_error(r, 422, "validation_error")  # sam is not a member of B
    assert _snapshot(world.ws_a) == before
    assert AuditEvent.all_workspaces.filter(workspace=world.ws_a).count() == events


def test_missing_and_not_yours_look_the_same(world, api_for, customers):
    api = api_for(world.oscar)
    foreign = api.get(f"/customers/{customers['sam_c'].pk}").json()
    missing = api.get("/customers/987654").json()
    assert foreign == missing
