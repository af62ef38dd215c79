"""Cursor (keyset) pagination: every row exactly once, also when rows share a timestamp; bad cursors are 400."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer
from tests.api.support import assert_error


def _walk(api, path, limit, **params):
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": limit, **params}
        if cursor:
            query["cursor"] = cursor
        r = api.get(path, **query)
        assert r.status_code == 200, r.content
        body = r.json()
        assert set(body) == {"items", "next_cursor"}
        assert len(body["items"]) <= limit
        seen += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return seen, pages


def test_it_walks_every_row_exactly_once_even_with_shared_timestamps(world, api_for):
    with workspace_context(world.ws_a):
        rows = [Customer.objects.create(name=f"客户{i:02d}", owner=world.olivia.user) for i in range(23)]
        same = timezone.now() - dt.timedelta(days=1)
        # three groups of rows that share one created_at each: the id breaks the tie
        for i, c in enumerate(rows):
            Customer.objects.filter(pk=c.pk).update(created_at=same + dt.timedelta(seconds=i // 8))
    seen, pages = _walk(api_for(world.olivia), "/customers", limit=5)
    ids = [c["id"] for c in seen]
    assert sorted(ids) == sorted(c.pk for c in rows)
    assert len(ids) == len(set(ids)) == 23
    assert pages == 5
    keys = [(c["created_at"], c["id"]) for c in seen]
    assert keys == sorted(keys, reverse=True)  # newest first, then highest id


def test_a_full_last_page_has_no_next_cursor(world, api_for, customers):
    body = api_for(world.olivia).get("/customers", limit=3).json()
    assert len(body["items"]) == 3
    assert body["next_cursor"] is None


def test_default_and_maximum_page_size(world, api_for):
    with workspace_context(world.ws_a):
        Customer.objects.bulk_create([Customer(name=f"c{i}", workspace=world.ws_a) for i in range(205)])
    api = api_for(world.olivia)
    assert len(api.get("/customers").json()["items"]) == 50
    assert len(api.get("/customers", limit=200).json()["items"]) == 200
    body = assert_error(api.get("/customers", limit=201), 422, "validation_error")
    assert body["fields"][0]["field"] == "limit"


def test_it_rejects_a_tampered_or_foreign_cursor(world, api_for, customers):
    api = api_for(world.olivia)
    cursor = api.get("/customers", limit=1).json()["next_cursor"]
    assert cursor
    for bad in ("garbage", cursor[:-2] + "xx", cursor.replace(":", "", 1)):
        body = assert_error(api.get("/customers", cursor=bad), 400, "invalid_cursor")
        assert body["fields"][0]["field"] == "cursor"
    # a cursor of the members list is not a cursor of the customers list
    members_cursor = api.get("/members", limit=1).json()["next_cursor"]
    assert_error(api.get("/customers", cursor=members_cursor), 400, "invalid_cursor")


def test_members_walk_in_name_order(world, api_for):
    seen, _pages = _walk(api_for(world.sam), "/members", limit=2)
    names = [m["user"]["username"] for m in seen]
    assert names == sorted(["olivia", "mark", "sam", "sue", "alice", "rita"])
