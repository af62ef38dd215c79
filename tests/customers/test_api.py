"""/api/v1/customers and friends: filters, sort and keyset cursors, masking, 409 duplicates, timeline, notes,
reveal, bulk, tags, custom fields, saved views; pinned query counts; the outsider gets 404 and changes nothing."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from guanxi.core.context import workspace_context
from guanxi.customers.models import (
    Customer,
    CustomerTag,
    CustomFieldDefinition,
    Interaction,
    SavedView,
    Tag,
)
from guanxi.customers.services import customer_create, customfield_create, savedview_save, tag_create
from guanxi.customers.timeline import interaction_record
from guanxi.ledger.models import AuditEvent
from guanxi.workspaces.apikeys import apikey_create
from tests.api.support import Api, assert_error

from .conftest import ID_CARD


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api_for(world):
    def make(m):
        with workspace_context(m.workspace):
            _k, raw = apikey_create(actor=m, name="t", scopes=["read", "write"])
        return Api(raw)

    return make


@pytest.fixture
def rich(world):
    """Three customers of sam's with details, one of sue's, a custom field."""
    with workspace_context(world.ws_a):
        customfield_create(actor=world.olivia, key="budget", label="预算", field_type="number")
        out = {}
        for i, (name, city, budget) in enumerate(
            [("安娜", "上海", "50"), ("白云", "北京", "500"), ("陈晨", "上海", "5000")]
        ):
            out[name] = customer_create(
                actor=world.sam,
                name=name,
                phones=[f"1380013800{i}"],
                emails=[f"c{i}@example.com"],
                city=city,
                tags=["VIP"] if i else [],
                custom={"budget": budget},
                id_card=ID_CARD if i == 0 else "",
            )
        out["sue"] = customer_create(actor=world.sue, name="丁一", phones=["13900139000"], city="上海")
    return out


def _names(r):
    assert r.status_code == 200, r.content
    return [c["name"] for c in r.json()["items"]]


def test_filters_on_standard_and_custom_fields(world, api_for, rich):
    api = api_for(world.olivia)
    assert sorted(_names(api.get("/customers", city="上海"))) == ["丁一", "安娜", "陈晨"]
    assert _names(api.get("/customers", tag="VIP", sort="name")) == ["白云", "陈晨"]
    assert _names(api.get("/customers", **{"custom.budget__gte": "100", "sort": "name"})) == ["白云", "陈晨"]
    assert _names(api.get("/customers", owner_id=str(world.sue.user_id))) == ["丁一"]
    assert _names(api.get("/customers", created_after="2000-01-01", city="北京")) == ["白云"]
    body = assert_error(api.get("/customers", **{"custom.budget__gte": "many"}), 422, "validation_error")
    assert body["fields"][0]["field"] == "custom.budget__gte"
    assert_error(api.get("/customers", **{"custom.nope": "1"}), 422, "validation_error")
    assert_error(api.get("/customers", sort="phone"), 422, "validation_error")


@pytest.mark.parametrize("sort", ["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"])
def test_every_sort_pages_with_a_cursor_that_carries_the_sort_key(world, api_for, rich, sort):
    api = api_for(world.olivia)
    seen, cursor = [], None
    while True:
        params = {"sort": sort, "limit": 1}
        if cursor:
            params["cursor"] = cursor
        r = api.get("/customers", **params)
        seen += _names(r)
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    all_at_once = _names(api.get("/customers", sort=sort))
    assert seen == all_at_once and len(seen) == 4
    if sort == "name":
        assert seen == sorted(seen)
    # a cursor of one sort is refused by another
    first = api.get("/customers", sort=sort, limit=1).json()["next_cursor"]
    other = "name" if sort != "name" else "-name"
    assert_error(api.get("/customers", sort=other, cursor=first), 400, "invalid_cursor")


def test_list_masks_for_marketing_but_not_for_the_owner(world, api_for, rich, maya):
    r = api_for(maya).get("/customers", city="北京")
    item = r.json()["items"][0]
    assert item["phone"] == "138****8001" and item["email"] == "c***@example.com" and item["masked"]
    mine = api_for(world.sam).get("/customers", city="北京").json()["items"][0]
    assert mine["phone"] == "+8613800138001" and not mine["masked"]
    assert "13800138001" not in r.content.decode()


@pytest.mark.parametrize("rows", [2, 25])
def test_list_query_count_is_pinned(world, api_for, rows, django_assert_num_queries):
    with workspace_context(world.ws_a):
        for i in range(rows):
            customer_create(actor=world.olivia, name=f"客户{i}", tags=["A", "B"], allow_duplicate=True)
    api = api_for(world.mark)
    api.get("/customers")
    # key, membership, role-policy overrides, the manager's teams and their members (personal-data team scope),
    # the page, the page's tags: the same for 2 rows as for 25
    with django_assert_num_queries(7):
        assert len(_names(api.get("/customers"))) == rows


def test_create_with_details_and_duplicate_409(world, api_for):
    api = api_for(world.sam)
    body = {
        "name": "张三丰",
        "phones": [{"number": "13800138000"}, {"number": "021-6000 1234", "kind": "landline"}],
        "emails": [{"email": "z@example.com"}],
        "addresses": [
            {"province": "上海市", "city": "上海市", "district": "浦东新区", "street": "世纪大道1号"}
        ],
        "tags": ["新客户"],
        "consent_sms": True,
        "id_card": ID_CARD,
    }
    r = api.post("/customers", body)
    assert r.status_code == 201, r.content
    out = r.json()
    assert [p["number"] for p in out["phones"]] == ["+8613800138000", "+862160001234"]
    assert out["id_card"] == "•••• 002X" and ID_CARD not in r.content.decode()
    assert out["tags"] == ["新客户"] and out["city"] == "上海市"
    dup = api.post("/customers", {"name": "别人", "phones": [{"number": "+86 138 0013 8000"}]})
    err = assert_error(dup, 409, "duplicate")
    assert err["fields"] == [{"field": "duplicate", "message": str(out["id"])}]
    r = api.post(
        "/customers", {"name": "别人", "phones": [{"number": "13800138000"}], "allow_duplicate": True}
    )
    assert r.status_code == 201


def test_bad_phone_names_the_row_and_nothing_changes(world, api_for):
    r = api_for(world.sam).post(
        "/customers", {"name": "x", "phones": [{"number": "13800138000"}, {"number": "1"}]}
    )
    body = assert_error(r, 422, "validation_error")
    assert body["fields"][0]["field"] == "phones.1.number"
    with workspace_context(world.ws_a):
        assert not Customer.objects.exists()


def test_detail_and_patch(world, api_for, rich, maya):
    c = rich["安娜"]
    out = api_for(maya).get(f"/customers/{c.pk}").json()
    assert out["phones"][0]["number"] == "138****8000" and out["may_reveal"] is False
    r = api_for(world.sam).patch(f"/customers/{c.pk}", {"tags": ["VIP", "回访"], "custom": {"budget": "75"}})
    assert r.status_code == 200, r.content
    assert r.json()["tags"] == ["VIP", "回访"] and r.json()["custom"] == {"budget": "75"}
    body = assert_error(
        api_for(world.sam).patch(f"/customers/{c.pk}", {"custom": {"budget": "x"}}), 422, "validation_error"
    )
    assert body["fields"][0]["field"] == "custom.budget"


def test_reveal(world, api_for, rich):
    c = rich["安娜"]
    assert_error(api_for(world.sam).post(f"/customers/{c.pk}/reveal", {"field": "id_card"}), 403, "forbidden")
    r = api_for(world.olivia).post(f"/customers/{c.pk}/reveal", {"field": "id_card"})
    assert r.json() == {"field": "id_card", "value": ID_CARD}
    with workspace_context(world.ws_a):
        assert AuditEvent.objects.filter(action="customer.reveal").count() == 1


def test_timeline_and_notes(world, api_for, rich):
    c = rich["安娜"]
    api = api_for(world.sam)
    r = api.post(f"/customers/{c.pk}/notes", {"body": "电话沟通，客户有兴趣"})
    assert r.status_code == 201 and r.json()["kind"] == "note"
    from django.utils import timezone

    interaction_record(workspace=world.ws_a, customer_id=c.pk, kind="call", occurred_at=timezone.now())
    items = api.get(f"/customers/{c.pk}/timeline").json()["items"]
    assert [i["kind"] for i in items] == ["call", "note"]
    assert [i["kind"] for i in api.get(f"/customers/{c.pk}/timeline", kind="note").json()["items"]] == [
        "note"
    ]
    assert_error(api.get(f"/customers/{c.pk}/timeline", kind="telepathy"), 422, "validation_error")


def test_bulk_by_ids_reports_refused_rows(world, api_for, rich):
    ids = [rich["安娜"].pk, rich["sue"].pk]
    r = api_for(world.sam).post("/customers/bulk", {"action": "delete", "ids": ids})
    assert r.json()["done_ids"] == [rich["安娜"].pk] and r.json()["refused_ids"] == [rich["sue"].pk]
    r = api_for(world.olivia).post(
        "/customers/bulk", {"action": "tag", "filter": {"city": "上海"}, "tags": ["沪"]}
    )
    assert r.json()["done"] == 2
    r = api_for(world.olivia).post(
        "/customers/bulk",
        {"action": "assign_owner", "filter": {"city": "上海"}, "owner_id": world.sam.user_id},
    )
    assert r.json()["done"] == 2
    assert_error(api_for(world.olivia).post("/customers/bulk", {"action": "delete"}), 422, "validation_error")


def test_tags_custom_fields_and_saved_views(world, api_for):
    api = api_for(world.olivia)
    t = api.post("/tags", {"name": "重点"}).json()
    assert api.patch(f"/tags/{t['id']}", {"name": "核心"}).json()["name"] == "核心"
    assert [x["name"] for x in api.get("/tags").json()] == ["核心"]
    assert api.delete(f"/tags/{t['id']}").status_code == 204
    f = api.post(
        "/custom-fields", {"key": "level", "label": "等级", "field_type": "choice", "choices": ["A"]}
    )
    assert f.status_code == 201, f.content
    fid = f.json()["id"]
    assert api.patch(f"/custom-fields/{fid}", {"choices": ["A", "B"]}).json()["choices"] == ["A", "B"]
    assert api.delete(f"/custom-fields/{fid}").json()["is_active"] is False
    assert api.get("/custom-fields").json() == []
    assert_error(
        api_for(world.sam).post("/custom-fields", {"key": "k", "label": "k", "field_type": "text"}),
        403,
        "forbidden",
    )
    v = api.post("/saved-views", {"name": "上海", "params": {"city": "上海"}})
    assert v.status_code == 201 and api.get("/saved-views").json()[0]["params"] == {"city": "上海"}
    assert api_for(world.sam).get("/saved-views").json() == []
    assert_error(api_for(world.sam).delete(f"/saved-views/{v.json()['id']}"), 404, "not_found")
    assert api.delete(f"/saved-views/{v.json()['id']}").status_code == 204


def test_outsider_gets_404_on_every_object_route_and_nothing_changes(world, api_for, customers):
    with workspace_context(world.ws_a):
        c = customers["sam_c"]
        customer_create(actor=world.olivia, name="带证件", id_card=ID_CARD)
        tag = tag_create(actor=world.olivia, name="A 的标签")
        field = customfield_create(actor=world.olivia, key="a_field", label="A", field_type="text")
        view = savedview_save(actor=world.sam, name="A 的视图", params={})
        interaction_record(workspace=world.ws_a, customer_id=c.pk, kind="call", occurred_at=c.created_at)

    def state():
        with workspace_context(world.ws_a):
            return (
                list(Customer.objects.order_by("pk").values()),
                list(Tag.objects.values()),
                list(CustomFieldDefinition.objects.values()),
                list(SavedView.objects.values()),
                list(Interaction.objects.values()),
                list(CustomerTag.objects.values()),
            )

    before = state()
    api = api_for(world.oscar)
    calls = [
        api.get(f"/customers/{c.pk}"),
        api.patch(f"/customers/{c.pk}", {"name": "hacked"}),
        api.delete(f"/customers/{c.pk}"),
        api.get(f"/customers/{c.pk}/timeline"),
        api.post(f"/customers/{c.pk}/notes", {"body": "x"}),
        api.post(f"/customers/{c.pk}/reveal", {"field": "id_card"}),
        api.patch(f"/tags/{tag.pk}", {"name": "x"}),
        api.delete(f"/tags/{tag.pk}"),
        api.patch(f"/custom-fields/{field.pk}", {"label": "x"}),
        api.delete(f"/custom-fields/{field.pk}"),
        api.delete(f"/saved-views/{view.pk}"),
    ]
    for r in calls:
        assert_error(r, 404, "not_found")
    bulk = api.post("/customers/bulk", {"action": "delete", "ids": [c.pk]}).json()
    assert bulk["done"] == 0 and bulk["missing_ids"] == [c.pk]
    assert api.get("/customers", **{"custom.a_field": "x"}).status_code == 422  # A's field is unknown in B
    assert state() == before
