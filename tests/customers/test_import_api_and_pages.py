"""Import and export through the API (Bearer key) and the web pages (session), as a user would."""

from __future__ import annotations

import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer, ImportJob
from guanxi.workspaces.apikeys import apikey_create
from tests.customers.test_import import ROWS, csv_bytes


def bearer(member):
    with workspace_context(member.workspace):
        _k, plain = apikey_create(actor=member, name="t", scopes=["read", "write"])
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}")


def test_api_upload_mapping_preview_start_status_and_rejected_file(world, django_capture_on_commit_callbacks):
    c = bearer(world.olivia)
    r = c.post("/api/v1/imports", {"file": SimpleUploadedFile("c.csv", csv_bytes(ROWS, encoding="gbk"))})
    assert r.status_code == 201, r.content
    job = r.json()
    assert job["encoding"] == "gb18030" and job["mapping"]["0"] == "name" and job["total_rows"] == 6
    r = c.patch(
        f"/api/v1/imports/{job['id']}",
        json.dumps({"mapping": {"1": "phone"}}),
        content_type="application/json",
    )
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "name"
    r = c.patch(
        f"/api/v1/imports/{job['id']}",
        json.dumps({"on_duplicate": "update"}),
        content_type="application/json",
    )
    assert r.json()["on_duplicate"] == "update"
    preview = c.get(f"/api/v1/imports/{job['id']}/preview").json()
    assert [row["ok"] for row in preview["rows"]] == [True, True, False, False, False, True]
    with django_capture_on_commit_callbacks(execute=True):  # the Huey task runs at once under tests
        r = c.post(f"/api/v1/imports/{job['id']}/start")
    assert r.status_code == 202
    status = c.get(f"/api/v1/imports/{job['id']}").json()
    assert (status["status"], status["processed_rows"], status["percent"]) == ("done", 6, 100)
    assert (status["created"], status["updated"], status["rejected"]) == (2, 1, 3)
    r = c.get(f"/api/v1/imports/{job['id']}/rejected")
    body = b"".join(r.streaming_content)
    assert (
        r.status_code == 200
        and body.startswith(b"\xef\xbb\xbf")
        and body.decode("utf-8-sig").count("\n") == 4
    )
    assert c.post(f"/api/v1/imports/{job['id']}/start").status_code == 422


def test_api_outsider_gets_404_for_an_import(world):
    job_id = (
        bearer(world.olivia)
        .post("/api/v1/imports", {"file": SimpleUploadedFile("c.csv", csv_bytes(ROWS))})
        .json()["id"]
    )
    outsider = bearer(world.oscar)
    assert outsider.get(f"/api/v1/imports/{job_id}").status_code == 404
    assert outsider.post(f"/api/v1/imports/{job_id}/start").status_code == 404
    with workspace_context(world.ws_a):
        assert ImportJob.objects.get(pk=job_id).status == "uploaded"


def test_api_refuses_undecodable_upload_and_keeps_nothing(world):
    r = bearer(world.olivia).post(
        "/api/v1/imports", {"file": SimpleUploadedFile("c.csv", b"\x81\x00\xff" * 10)}
    )
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "file"
    with workspace_context(world.ws_a):
        assert not ImportJob.objects.exists()


def test_api_export_streams_masked_csv(world, customers):
    r = bearer(world.rita).get("/api/v1/exports/customers", {"format": "csv", "q": "张"})
    text = b"".join(r.streaming_content).decode("utf-8-sig")
    assert r.status_code == 200 and "张三丰" in text and "138****8000" in text and "李四" not in text
    assert bearer(world.rita).get("/api/v1/exports/customers", {"format": "pdf"}).status_code == 422


def test_pages_upload_map_start_and_report(world, django_capture_on_commit_callbacks):
    c = world.client_for(world.olivia)
    assert "No imports yet" in c.get("/customers/import/").content.decode()
    r = c.post("/customers/import/", {"file": SimpleUploadedFile("c.csv", csv_bytes(ROWS))})
    job = ImportJob.all_workspaces.get(workspace=world.ws_a)
    assert r.status_code == 302 and r["Location"] == f"/customers/import/{job.pk}/"
    page = c.get(r["Location"]).content.decode()
    assert 'name="col_0"' in page and "cell-bad" in page and "Start import" in page
    post = {f"col_{i}": t for i, t in job.mapping.items()} | {"on_duplicate": "skip", "action": "start"}
    with django_capture_on_commit_callbacks(execute=True):
        c.post(f"/customers/import/{job.pk}/mapping/", post)
    page = c.get(f"/customers/import/{job.pk}/").content.decode()
    assert 'data-testid="count-created">2<' in page and 'data-testid="count-rejected">3<' in page
    r = c.get(f"/customers/import/{job.pk}/rejected/")
    assert r.status_code == 200
    r = c.get(f"/customers/import/{job.pk}/progress/", HTTP_HX_REQUEST="true")
    assert r["HX-Refresh"] == "true"
    with workspace_context(world.ws_a):
        assert Customer.objects.count() == 2


def test_pages_mapping_without_name_shows_the_error_and_imports_nothing(world):
    c = world.client_for(world.olivia)
    c.post("/customers/import/", {"file": SimpleUploadedFile("c.csv", csv_bytes(ROWS))})
    job = ImportJob.all_workspaces.get(workspace=world.ws_a)
    c.post(f"/customers/import/{job.pk}/mapping/", {"col_0": "", "col_1": "phone", "action": "start"})
    page = c.get(f"/customers/import/{job.pk}/").content.decode()
    assert "is not mapped" in page
    with workspace_context(world.ws_a):
        assert not Customer.objects.exists()


def test_pages_refuse_readonly_members_and_export_downloads(world, customers):
    assert world.client_for(world.rita).get("/customers/import/").status_code == 403
    r = world.client_for(world.rita).get("/customers/export/", {"format": "vcard"})
    assert r.status_code == 200 and b"BEGIN:VCARD" in b"".join(r.streaming_content)
    assert "Download" in world.client_for(world.rita).get("/customers/export/").content.decode()
