"""API authentication: API keys (good, malformed, unknown, revoked, expired, inactive, scopes) and the session."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer
from guanxi.ledger.models import AuditEvent
from guanxi.workspaces.apikeys import apikey_revoke, hash_key
from guanxi.workspaces.models import ApiKey, Membership
from tests.api.support import Api, assert_error


def _customer_count(ws) -> int:
    with workspace_context(ws):
        return Customer.objects.count()


def test_it_accepts_a_good_key_and_acts_as_its_member(world, make_key):
    _key, raw = make_key(world.sam)
    r = Api(raw).get("/me")
    assert r.status_code == 200
    body = r.json()
    assert body["user"]["username"] == "sam"
    assert body["workspace"]["id"] == world.ws_a.pk
    assert body["role"] == "sales"
    assert body["auth"] == "api_key"
    assert body["permissions"]["customers"] == {"view": "workspace", "edit": "own"}
    assert body["permissions"]["audit"] == {"view": "none", "edit": "none"}


def test_it_stores_only_the_hash_and_the_key_has_the_documented_format(world, make_key):
    key, raw = make_key(world.sam)
    assert raw.startswith(f"gx_{key.prefix}_")
    stored = ApiKey.all_workspaces.get(pk=key.pk)
    assert stored.key_hash == hash_key(raw)
    assert raw not in str(ApiKey.all_workspaces.filter(pk=key.pk).values().first())


@pytest.mark.parametrize(
    "header",
    ["Bearer nonsense", "Bearer gx_short_x", "Bearer ", "Bearer gx_0123456789ab_tooshort"],
)
def test_it_rejects_a_malformed_key_and_says_so(world, header):
    r = Client().get("/api/v1/me", HTTP_AUTHORIZATION=header)
    body = assert_error(r, 401, "malformed_api_key")
    assert "malformed" in body["message"]
    assert r["WWW-Authenticate"].startswith("Bearer")


def test_it_rejects_another_auth_scheme(world):
    r = Client().get("/api/v1/me", HTTP_AUTHORIZATION="Basic b2xpdmlhOnB3")
    assert_error(r, 401, "malformed_authorization")


def test_it_rejects_an_unknown_key(world, make_key):
    _key, raw = make_key(world.sam)
    prefix = raw.split("_")[1]
    forged = f"gx_{prefix}_{'A' * 43}"  # right prefix, wrong secret
    unknown = f"gx_{'0' * 12}_{'A' * 43}"
    for k in (forged, unknown):
        body = assert_error(Api(k).get("/me"), 401, "invalid_api_key")
        assert "not valid" in body["message"]


def test_a_failed_authentication_changes_nothing(world, make_key):
    key, raw = make_key(world.sam)
    before = _customer_count(world.ws_a)
    events = AuditEvent.all_workspaces.count()
    prefix = raw.split("_")[1]
    r = Api(f"gx_{prefix}_{'B' * 43}").post("/customers", {"name": "入侵者"})
    assert_error(r, 401, "invalid_api_key")
    assert _customer_count(world.ws_a) == before
    assert AuditEvent.all_workspaces.count() == events
    assert ApiKey.all_workspaces.get(pk=key.pk).last_used_at is None


def test_it_rejects_a_revoked_key(world, make_key):
    key, raw = make_key(world.sam)
    assert Api(raw).get("/me").status_code == 200
    with workspace_context(world.ws_a):
        apikey_revoke(actor=world.sam, key_id=key.pk)
    body = assert_error(Api(raw).get("/me"), 401, "revoked_api_key")
    assert "revoked" in body["message"]


def test_it_rejects_an_expired_key(world, make_key):
    key, raw = make_key(world.sam, expires_at=timezone.now() + dt.timedelta(hours=1))
    assert Api(raw).get("/me").status_code == 200
    ApiKey.all_workspaces.filter(pk=key.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    body = assert_error(Api(raw).get("/me"), 401, "expired_api_key")
    assert "expired" in body["message"]


def test_it_rejects_the_key_of_a_member_who_left(world, make_key):
    _key, raw = make_key(world.sam)
    Membership.all_workspaces.filter(pk=world.sam.pk).update(is_active=False)
    assert_error(Api(raw).get("/me"), 401, "inactive_member")


def test_a_read_key_cannot_write_and_nothing_changes(world, make_key, customers):
    _key, raw = make_key(world.sam, scopes=("read",))
    api = Api(raw)
    assert api.get("/customers").status_code == 200
    before = _customer_count(world.ws_a)
    body = assert_error(api.post("/customers", {"name": "新客户"}), 403, "insufficient_scope")
    assert "read-only" in body["message"]
    assert_error(api.delete(f"/customers/{customers['sam_c'].pk}"), 403, "insufficient_scope")
    assert _customer_count(world.ws_a) == before
    me = api.get("/me").json()
    assert me["credential_scopes"] == ["read"]
    assert me["permissions"]["customers"] == {"view": "workspace", "edit": "none"}


def test_a_write_key_can_write(world, api_for):
    r = api_for(world.sam).post("/customers", {"name": "新客户"})
    assert r.status_code == 201
    assert r.json()["owner_id"] == world.sam.user_id


def test_it_updates_last_used_at_at_most_once_a_minute(world, make_key, django_assert_num_queries):
    key, raw = make_key(world.sam)
    api = Api(raw)
    api.get("/workspace")
    first = ApiKey.all_workspaces.get(pk=key.pk).last_used_at
    assert first is not None
    with django_assert_num_queries(2):  # key + membership; no UPDATE within the minute
        api.get("/workspace")
    assert ApiKey.all_workspaces.get(pk=key.pk).last_used_at == first
    ApiKey.all_workspaces.filter(pk=key.pk).update(last_used_at=first - dt.timedelta(minutes=2))
    api.get("/workspace")
    assert ApiKey.all_workspaces.get(pk=key.pk).last_used_at > first


def test_a_key_binds_its_own_workspace_even_with_a_session_of_another(world, make_key):
    _key, raw = make_key(world.oscar)
    client = world.client_for(world.olivia)  # signed in to A in the browser
    r = Api(raw, client=client).get("/workspace")
    assert r.json()["id"] == world.ws_b.pk


def test_no_credentials_is_401(world):
    assert_error(Client().get("/api/v1/customers"), 401, "unauthenticated")


def test_the_session_authenticates_and_reads(world, customers):
    r = Api(client=world.client_for(world.rita)).get("/me")
    assert r.status_code == 200
    assert r.json()["auth"] == "session"
    assert r.json()["user"]["username"] == "rita"


def test_the_session_needs_csrf_for_writes(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.sam.user)
    api = Api(client=client)
    before = _customer_count(world.ws_a)
    body = assert_error(api.post("/customers", {"name": "无令牌"}), 403, "csrf_failed")
    assert "CSRF" in body["message"]
    assert _customer_count(world.ws_a) == before
    # with the token (as the browser sends it after loading any page) the write goes through
    client.get("/api/v1/docs")
    token = client.cookies["csrftoken"].value
    r = client.post(
        "/api/v1/customers",
        '{"name": "有令牌"}',
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert r.status_code == 201, r.content
    assert _customer_count(world.ws_a) == before + 1


def test_a_signed_in_user_without_a_workspace_is_refused(db):
    from guanxi.workspaces.models import User

    client = Client()
    client.force_login(User.objects.create_user(username="nomad", password="x-long-password-1"))
    assert_error(Api(client=client).get("/me"), 403, "no_workspace")
