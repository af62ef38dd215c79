"""/api-keys and the API-key services: create (shown once), list own, revoke own / admin any, validation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from guanxi.core.context import workspace_context
from guanxi.core.errors import NotFound, ValidationFailed
from guanxi.ledger.models import AuditEvent
from guanxi.workspaces.apikeys import apikey_create, apikey_list, apikey_revoke
from guanxi.workspaces.models import ApiKey
from tests.api.support import Api, assert_error


def _keys(ws):
    with workspace_context(ws):
        return list(ApiKey.objects.order_by("pk").values())


def test_create_over_the_session_shows_the_key_once_and_it_works(world):
    session = Api(client=world.client_for(world.sam))
    r = session.post("/api-keys", {"name": "同步脚本", "scopes": ["read"]})
    assert r.status_code == 201, r.content
    created = r.json()
    assert created["key"].startswith(f"gx_{created['prefix']}_")
    assert created["scopes"] == ["read"]
    listed = session.get("/api-keys").json()["items"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0]  # never shown again
    assert Api(created["key"]).get("/me").json()["user"]["username"] == "sam"
    event = AuditEvent.all_workspaces.get(action="apikey.create")
    assert created["key"] not in str(event.changes) and "key_hash" not in event.changes


def test_write_scope_implies_read(world):
    r = Api(client=world.client_for(world.sam)).post("/api-keys", {"name": "w", "scopes": ["write"]})
    assert r.json()["scopes"] == ["read", "write"]


def test_a_read_key_cannot_mint_a_write_key(world, api_for):
    read_api = api_for(world.sam, scopes=("read",))
    before = _keys(world.ws_a)
    assert_error(read_api.post("/api-keys", {"name": "x", "scopes": ["write"]}), 403, "insufficient_scope")
    assert len(_keys(world.ws_a)) == len(before)


def test_create_refuses_bad_input_naming_the_field(world):
    session = Api(client=world.client_for(world.sam))
    before = _keys(world.ws_a)
    past = (timezone.now() - dt.timedelta(days=1)).isoformat()
    body = assert_error(session.post("/api-keys", {"name": "x", "expires_at": past}), 422, "validation_error")
    assert [f["field"] for f in body["fields"]] == ["expires_at"]
    body = assert_error(session.post("/api-keys", {"name": " ", "scopes": []}), 422, "validation_error")
    assert [f["field"] for f in body["fields"]] == ["scopes"]
    assert _keys(world.ws_a) == before


def test_service_validation(world):
    with pytest.raises(ValidationFailed) as exc:
        apikey_create(actor=world.sam, name="", scopes=["admin"])
    assert set(exc.value.fields) == {"name", "scopes"}


def test_list_shows_only_own_keys_unless_an_admin_asks_for_all(world, make_key):
    mine, _ = make_key(world.sam)
    theirs, _ = make_key(world.sue)
    sam = Api(client=world.client_for(world.sam))
    assert [k["id"] for k in sam.get("/api-keys").json()["items"]] == [mine.pk]
    assert_error(sam.get("/api-keys", all="true"), 403, "forbidden")
    olivia = Api(client=world.client_for(world.olivia))
    assert {k["id"] for k in olivia.get("/api-keys", all="true").json()["items"]} == {mine.pk, theirs.pk}


def test_revoke_own_key(world, make_key):
    key, raw = make_key(world.sam)
    r = Api(client=world.client_for(world.sam)).delete(f"/api-keys/{key.pk}")
    assert r.status_code == 204
    assert_error(Api(raw).get("/me"), 401, "revoked_api_key")
    assert AuditEvent.all_workspaces.filter(action="apikey.revoke", object_id=str(key.pk)).exists()


def test_a_key_can_revoke_itself(world, make_key):
    key, raw = make_key(world.sam)
    assert Api(raw).delete(f"/api-keys/{key.pk}").status_code == 204
    assert_error(Api(raw).get("/me"), 401, "revoked_api_key")


def test_a_member_cannot_revoke_a_colleagues_key(world, make_key):
    key, raw = make_key(world.sue)
    before = _keys(world.ws_a)
    assert_error(Api(client=world.client_for(world.sam)).delete(f"/api-keys/{key.pk}"), 404, "not_found")
    assert _keys(world.ws_a) == before
    assert Api(raw).get("/me").status_code == 200


def test_an_owner_can_revoke_any_key_in_the_workspace(world, make_key):
    key, raw = make_key(world.sue)
    assert Api(client=world.client_for(world.olivia)).delete(f"/api-keys/{key.pk}").status_code == 204
    assert_error(Api(raw).get("/me"), 401, "revoked_api_key")


def test_outsider_cannot_revoke_or_see_workspace_a_keys(world, make_key, api_for):
    key, raw = make_key(world.sam)
    before = _keys(world.ws_a)
    oscar = api_for(world.oscar)
    assert_error(oscar.delete(f"/api-keys/{key.pk}"), 404, "not_found")
    assert key.pk not in {k["id"] for k in oscar.get("/api-keys", all="true").json()["items"]}
    assert _keys(world.ws_a) == before
    with workspace_context(world.ws_b), pytest.raises(NotFound):
        apikey_revoke(actor=world.oscar, key_id=key.pk)


def test_revoking_twice_changes_nothing(world, make_key):
    key, _raw = make_key(world.sam)
    with workspace_context(world.ws_a):
        first = apikey_revoke(actor=world.sam, key_id=key.pk).revoked_at
        assert apikey_revoke(actor=world.sam, key_id=key.pk).revoked_at == first
    assert AuditEvent.all_workspaces.filter(action="apikey.revoke").count() == 1


def test_apikey_list_service(world, make_key):
    make_key(world.sam)
    make_key(world.sue)
    with workspace_context(world.ws_a):
        assert {k.user_id for k in apikey_list(actor=world.sam)} == {world.sam.user_id}
        assert {k.user_id for k in apikey_list(actor=world.sam, all_members=True)} == {world.sam.user_id}
        everyone = {k.user_id for k in apikey_list(actor=world.olivia, all_members=True)}
        assert everyone == {world.sam.user_id, world.sue.user_id}


def test_api_keys_list_query_count_is_fixed(world, make_key, api_for, django_assert_num_queries):
    for _ in range(5):
        make_key(world.sam)
    api = api_for(world.sam)
    api.get("/api-keys")
    with django_assert_num_queries(3):  # key, membership, the page
        assert api.get("/api-keys").status_code == 200
