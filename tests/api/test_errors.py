"""One JSON error shape for every failure, in the request's language."""

from __future__ import annotations

import pytest
from django.test import Client

from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer
from tests.api.support import assert_error


def test_unknown_path_is_404_in_the_error_shape(world, api_for):
    api = api_for(world.sam)
    assert_error(api.get("/no-such-thing"), 404, "not_found")
    assert_error(api.get("/"), 404, "not_found")
    assert_error(Client().get("/api/v1/nothing/here"), 404, "not_found")  # even unauthenticated


def test_missing_object_is_404(world, api_for):
    body = assert_error(api_for(world.sam).get("/customers/999999"), 404, "not_found")
    assert body["fields"] == []


def test_wrong_method_is_405_with_allow(world, api_for):
    r = api_for(world.sam).client.put("/api/v1/customers")
    assert_error(r, 405, "method_not_allowed")
    assert set(r["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}


def test_validation_errors_name_readable_fields_and_change_nothing(world, api_for):
    api = api_for(world.sam)
    with workspace_context(world.ws_a):
        before = Customer.objects.count()
    r = api.post("/customers", {"name": 5, "kind": "robot", "phone": "1" * 40})
    body = assert_error(r, 422, "validation_error")
    fields = {f["field"]: f["message"] for f in body["fields"]}
    assert set(fields) == {"name", "kind", "phone"}
    assert fields["phone"] == "At most 32 characters."
    r = api.post("/customers", {})
    assert [f["field"] for f in assert_error(r, 422, "validation_error")["fields"]] == ["name"]
    # nested paths read like items.0.price
    r = api.post("/api-keys", {"name": "k", "scopes": ["read", "admin"]})
    assert [f["field"] for f in assert_error(r, 422, "validation_error")["fields"]] == ["scopes.1"]
    # query parameters too
    r = api.get("/customers", kind="robot")
    assert [f["field"] for f in assert_error(r, 422, "validation_error")["fields"]] == ["kind"]
    with workspace_context(world.ws_a):
        assert Customer.objects.count() == before


def test_service_validation_errors_use_the_same_shape(world, api_for):
    r = api_for(world.sam).post("/customers", {"name": "   ", "email": "not-an-email"})
    body = assert_error(r, 422, "validation_error")
    assert {f["field"] for f in body["fields"]} == {"name", "email"}


def test_a_body_that_is_not_json_is_400(world, api_for):
    api = api_for(world.sam)
    r = api.client.post("/api/v1/customers", "{oops", content_type="application/json", **api._headers())
    body = assert_error(r, 400, "bad_request")
    assert body["fields"][0]["field"] == "body"


def test_unexpected_errors_are_500_in_the_error_shape(world, api_for, monkeypatch):
    import guanxi.customers.api as customers_api

    def boom(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(customers_api, "customer_filter", boom)
    body = assert_error(api_for(world.sam).get("/customers"), 500, "server_error")
    assert "fire" not in body["message"]  # internals never leak to the caller


@pytest.mark.parametrize(
    ("call", "status", "code", "chinese"),
    [
        (lambda api: api.get("/customers/999999"), 404, "not_found", "未找到"),
        (
            lambda api: api.client.put("/api/v1/customers", **api._headers()),
            405,
            "method_not_allowed",
            "不允许",
        ),
        (lambda api: api.post("/customers", {}), 422, "validation_error", "字段"),
        (lambda api: api.get("/audit"), 403, "forbidden", "权限"),
    ],
)
def test_messages_follow_accept_language(world, api_for, call, status, code, chinese):
    body = assert_error(call(api_for(world.sam, lang="zh-Hans")), status, code)
    assert chinese in body["message"], body


def test_field_messages_are_translated_too(world, api_for):
    body = assert_error(api_for(world.sam, lang="zh-Hans").post("/customers", {}), 422, "validation_error")
    assert body["fields"] == [{"field": "name", "message": "此字段为必填项。"}]


def test_auth_errors_are_translated(world):
    r = Client().get("/api/v1/me", HTTP_AUTHORIZATION="Bearer x", HTTP_ACCEPT_LANGUAGE="zh-Hans")
    assert "格式" in assert_error(r, 401, "malformed_api_key")["message"]
    r = Client().get("/api/v1/me", HTTP_ACCEPT_LANGUAGE="zh-Hans")
    assert "登录" in assert_error(r, 401, "unauthenticated")["message"]


def test_chinese_text_is_sent_as_utf8(world, api_for, customers):
    r = api_for(world.sam).get(f"/customers/{customers['sam_c'].pk}")
    assert "张三丰".encode() in r.content
    assert r["Content-Type"] == "application/json; charset=utf-8"
