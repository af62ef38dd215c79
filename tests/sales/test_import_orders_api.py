# ruff: noqa: F811  (pytest fixtures imported from other test modules)
"""Order imports through the API: upload, start (a background job), status; the outsider gets 404."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from guanxi.core.context import workspace_context
from guanxi.sales.importing.mapping import guess_mapping
from guanxi.sales.models import Order, OrderImportJob
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


def test_pages_upload_map_preview_start_progress_and_report(
    world, erp_world, django_capture_on_commit_callbacks
):  # noqa: F811
    c = world.client_for(world.olivia)
    assert "No order imports yet" in c.get("/sales/orders/import/").content.decode()
    bad = body() + b"BAD,1,C-1,,,2020-02-30,ERP-01,,1,1.00,,\n"
    r = c.post("/sales/orders/import/", {"file": SimpleUploadedFile("订单.csv", bad)})
    job = OrderImportJob.all_workspaces.get(workspace=world.ws_a)
    assert r.status_code == 302 and r["Location"] == f"/sales/orders/import/{job.pk}/"
    page = c.get(r["Location"]).content.decode()
    assert 'name="col_0"' in page and "row-bad" in page and "Start import" in page and "2020-02-30" in page
    # a half mapping is saved for the preview; starting with it names what is missing and imports nothing
    c.post(f"/sales/orders/import/{job.pk}/mapping/", {"col_0": "order_id", "action": "save"})
    c.post(f"/sales/orders/import/{job.pk}/mapping/", {"col_0": "order_id", "action": "start"})
    page = c.get(f"/sales/orders/import/{job.pk}/").content.decode()
    assert "is not mapped" in page
    post = {f"col_{i}": t for i, t in guess_mapping(HEADER).items()} | {"action": "start"}
    with django_capture_on_commit_callbacks(execute=True):
        c.post(f"/sales/orders/import/{job.pk}/mapping/", post)
    page = c.get(f"/sales/orders/import/{job.pk}/").content.decode()
    assert 'data-testid="count-created">3<' in page and 'data-testid="count-rejected">1<' in page
    r = c.get(f"/sales/orders/import/{job.pk}/rejected/")
    assert r.status_code == 200 and "2020-02-30" in b"".join(r.streaming_content).decode("utf-8-sig")
    r = c.get(f"/sales/orders/import/{job.pk}/progress/", HTTP_HX_REQUEST="true")
    assert r["HX-Refresh"] == "true"
    assert "Import orders" in c.get("/sales/orders/").content.decode()


def test_pages_refuse_members_without_sales_edit_and_outsiders(world, erp_world):  # noqa: F811
    assert world.client_for(world.rita).get("/sales/orders/import/").status_code == 403
    c = world.client_for(world.olivia)
    c.post("/sales/orders/import/", {"file": SimpleUploadedFile("o.csv", body())})
    job = OrderImportJob.all_workspaces.get(workspace=world.ws_a)
    assert world.client_for(world.oscar).get(f"/sales/orders/import/{job.pk}/").status_code == 404
    r = world.client_for(world.sam).post(
        "/sales/orders/import/", {"file": SimpleUploadedFile("o.csv", body())}
    )
    assert r.status_code == 422  # own-scope sales members may not import every owner's orders
