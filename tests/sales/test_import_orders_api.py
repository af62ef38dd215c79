"""Order imports through the API: upload, start (a background job), status; the outsider gets 404."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from guanxi.core.context import workspace_context
from guanxi.sales.models import Order
from guanxi.workspaces.apikeys import apikey_create
from tests.sales.test_import_orders import GOOD, HEADER, erp_world  # noqa: F401

pytestmark = pytest.mark.django_db


def bearer(member):
    with workspace_context(member.workspace):
        _k, plain = apikey_create(actor=member, name="t", scopes=["read", "write"])
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}")


def body() -> bytes:
    lines = [",".join(HEADER)] + [",".join(r) for r in GOOD]
    return ("\n".join(lines) + "\n").encode("gb18030")


def test_api_upload_start_and_status(world, erp_world, django_capture_on_commit_callbacks):  # noqa: F811
    c = bearer(world.olivia)
    r = c.post("/api/v1/order-imports", {"file": SimpleUploadedFile("订单.csv", body())})
    assert r.status_code == 201, r.content
    job = r.json()
    assert job["total_rows"] == 4 and job["status"] == "uploaded"
    assert (
        job["mapping"]["0"] == "order_id"
        and job["mapping"]["6"] == "sku"
        and job["mapping"]["3"] == "customer_phone"
    )
    r = c.post(f"/api/v1/order-imports/{job['id']}/start", json.dumps({"mapping": {"0": "order_id"}}),
               content_type="application/json")  # fmt: skip
    assert r.status_code == 422 and {f["field"] for f in r.json()["fields"]} >= {"ordered_at", "customer"}
    with django_capture_on_commit_callbacks(execute=True):  # the Huey task runs at once under tests
        r = c.post(f"/api/v1/order-imports/{job['id']}/start", "{}", content_type="application/json")
    assert r.status_code == 200, r.content
    status = c.get(f"/api/v1/order-imports/{job['id']}").json()
    assert (status["status"], status["percent"], status["orders_created"], status["lines_written"]) == (
        "done", 100, 3, 4)  # fmt: skip
    assert (
        c.post(f"/api/v1/order-imports/{job['id']}/start", "{}", content_type="application/json").status_code
        == 422
    )


def test_api_outsider_gets_404_and_nothing_starts(world, erp_world):  # noqa: F811
    job_id = (
        bearer(world.olivia)
        .post("/api/v1/order-imports", {"file": SimpleUploadedFile("o.csv", body())})
        .json()["id"]
    )
    oscar = bearer(world.oscar)
    assert oscar.get(f"/api/v1/order-imports/{job_id}").status_code == 404
    r = oscar.post(f"/api/v1/order-imports/{job_id}/start", "{}", content_type="application/json")
    assert r.status_code == 404
    with workspace_context(world.ws_a):
        assert Order.objects.count() == 0
