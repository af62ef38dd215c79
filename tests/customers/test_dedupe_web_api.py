"""Duplicates through the API and the web pages, as a member would use them."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache

from guanxi.cli import main as cli_main
from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer, CustomerMerge, DuplicateCandidate, DuplicateScan, Interaction
from guanxi.customers.models.dedupe import DuplicateStatus
from guanxi.workspaces.apikeys import apikey_create
from tests.api.support import Api, assert_error

from .test_dedupe_support import make_customer


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def dup(world):
    """Two records of sam's customer sharing a phone, and a pair of sue's, each with a scanned candidate."""
    with workspace_context(world.ws_a):
        a = make_customer("刘洋", phones=["13800138001"], owner=world.sam.user, city="上海")
        b = make_customer("劉洋", phones=["13800138001"], owner=world.sam.user)
        Interaction.objects.create(customer=b, kind="call", occurred_at="2025-01-01T10:00:00+08:00")
        c = make_customer("王芳", emails=["fang@example.com"], owner=world.sue.user)
        d = make_customer("王芳", emails=["FANG@example.com"], owner=world.sue.user)
        scan = DuplicateScan.objects.create()
    from guanxi.customers.dedupe import duplicate_scan_run

    with workspace_context(world.ws_a):
        duplicate_scan_run(scan_id=scan.pk)
        ab = DuplicateCandidate.objects.get(customer_a=a, customer_b=b)
        cd = DuplicateCandidate.objects.get(customer_a=c, customer_b=d)
    return {"a": a, "b": b, "c": c, "d": d, "ab": ab, "cd": cd, "scan": scan}


def api(m, scopes=("read", "write")) -> Api:
    with workspace_context(m.workspace):
        _k, raw = apikey_create(actor=m, name="t", scopes=list(scopes))
    return Api(raw)


def test_api_queue_lists_pairs_best_first_with_reasons(world, dup):
    r = api(world.olivia).get("/duplicates")
    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["id"] for i in items] == [dup["ab"].id, dup["cd"].id] or [i["score"] for i in items] == sorted(
        (i["score"] for i in items), reverse=True
    )
    first = next(i for i in items if i["id"] == dup["ab"].id)
    assert "phone" in first["reasons"] and "traditional" in first["reasons"]
    assert first["customer_a"]["name"] == "刘洋"


def test_api_scan_start_and_progress(world, dup, django_capture_on_commit_callbacks):
    client = api(world.olivia)
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post("/duplicates/scans")
    assert r.status_code == 201, r.content
    scan_id = r.json()["id"]
    done = client.get(f"/duplicates/scans/{scan_id}").json()
    assert done["status"] == "done" and done["progress"] == 100 and done["candidates_found"] == 2


def test_api_merge_and_undo(world, dup):
    client = api(world.sam)
    r = client.post(
        "/merges", {"survivor_id": dup["a"].pk, "merged_id": dup["b"].pk, "choices": {"name": "merged"}}
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["moved"]["customers.interaction.customer"]
    with workspace_context(world.ws_a):
        assert Customer.objects.get(pk=dup["a"].pk).name == "劉洋"
        assert Customer.objects.get(pk=dup["b"].pk).merged_into_id == dup["a"].pk
        assert DuplicateCandidate.objects.get(pk=dup["ab"].pk).status == DuplicateStatus.MERGED
    assert client.get(f"/merges/{body['id']}").json()["undone_at"] is None
    r = client.post(f"/merges/{body['id']}/undo")
    assert r.status_code == 200 and r.json()["undone_at"]
    with workspace_context(world.ws_a):
        assert Customer.objects.get(pk=dup["a"].pk).name == "刘洋"
        assert Interaction.objects.filter(customer_id=dup["b"].pk, kind="call").count() == 1
    assert_error(client.post(f"/merges/{body['id']}/undo"), 409, "conflict")


def test_api_merge_refusals_name_the_field_and_change_nothing(world, dup):
    with workspace_context(world.ws_b):
        other = make_customer("刘洋", phones=["13800138001"], owner=world.oscar.user)
    sam = api(world.sam)
    body = assert_error(
        sam.post("/merges", {"survivor_id": dup["a"].pk, "merged_id": other.pk}), 404, "not_found"
    )
    assert body["fields"] == [{"field": "merged_id", "message": "No such customer in this workspace."}]
    body = assert_error(
        sam.post("/merges", {"survivor_id": dup["a"].pk, "merged_id": dup["c"].pk}), 403, "forbidden"
    )
    assert body["fields"][0]["field"] == "merged_id"
    body = assert_error(
        sam.post("/merges", {"survivor_id": dup["a"].pk, "merged_id": dup["b"].pk, "choices": {"name": "x"}}),
        422,
        "validation_error",
    )
    assert body["fields"][0]["field"] == "choices.name"
    with workspace_context(world.ws_a):
        assert not CustomerMerge.objects.exists()
        assert not Customer.objects.filter(merged_into__isnull=False).exists()
    with workspace_context(world.ws_b):
        assert Customer.objects.get(pk=other.pk).merged_into_id is None


def test_api_dismiss_needs_edit_rights_on_both(world, dup):
    assert_error(api(world.sam).post(f"/duplicates/{dup['cd'].id}/dismiss"), 403, "forbidden")
    r = api(world.sue).post(f"/duplicates/{dup['cd'].id}/dismiss")
    assert r.status_code == 200 and r.json()["status"] == "dismissed"


def test_api_customer_duplicates_check(world, dup):
    r = api(world.olivia).get(f"/customers/{dup['a'].pk}/duplicates")
    assert r.status_code == 200
    assert r.json() == [{"customer_id": dup["b"].pk, "score": 1.0, "reasons": ["phone"]}]


def test_outsider_gets_404_on_every_dedupe_route(world, dup):
    with workspace_context(world.ws_a):
        merge = CustomerMerge.objects.create(survivor=dup["c"], merged=dup["d"])
    oscar = api(world.oscar)
    assert oscar.get("/duplicates").json()["items"] == []
    assert_error(oscar.get(f"/duplicates/{dup['ab'].id}"), 404, "not_found")
    assert_error(oscar.post(f"/duplicates/{dup['ab'].id}/dismiss"), 404, "not_found")
    assert_error(oscar.get(f"/duplicates/scans/{dup['scan'].id}"), 404, "not_found")
    assert_error(oscar.get(f"/customers/{dup['a'].pk}/duplicates"), 404, "not_found")
    assert_error(oscar.get(f"/merges/{merge.pk}"), 404, "not_found")
    assert_error(oscar.post(f"/merges/{merge.pk}/undo"), 404, "not_found")
    web = world.client_for(world.oscar)
    for url in (
        f"/duplicates/scans/{dup['scan'].id}/",
        f"/duplicates/merge/?survivor={dup['a'].pk}&merged={dup['b'].pk}",
        f"/duplicates/merges/{merge.pk}/",
        f"/duplicates/merges/{merge.pk}/undo/",
    ):
        assert web.get(url).status_code == 404, url
    assert web.post(f"/duplicates/{dup['ab'].id}/dismiss/").status_code == 404
    assert "刘洋" not in web.get("/duplicates/").content.decode()
    with workspace_context(world.ws_a):
        assert DuplicateCandidate.objects.get(pk=dup["ab"].pk).status == DuplicateStatus.OPEN
        assert CustomerMerge.objects.get(pk=merge.pk).undone_at is None


def test_web_queue_merge_and_undo(world, dup):
    web = world.client_for(world.sam)
    page = web.get("/duplicates/").content.decode()
    assert "刘洋" in page and "劉洋" in page and "电话相同" not in page  # English by default
    assert "Same phone" in page
    form = web.get(f"/duplicates/merge/?survivor={dup['a'].pk}&merged={dup['b'].pk}")
    assert form.status_code == 200 and 'name="choice:name"' in form.content.decode()
    r = web.post(
        "/duplicates/merge/",
        {
            "survivor": dup["a"].pk,
            "merged": dup["b"].pk,
            "choice:name": "merged",
            "choice:region": "survivor",
        },
    )
    assert r.status_code == 302
    with workspace_context(world.ws_a):
        merge = CustomerMerge.objects.get()
        assert Customer.objects.get(pk=dup["a"].pk).name == "劉洋"
    assert r["Location"] == f"/duplicates/merges/{merge.pk}/"
    assert "Undo merge" in web.get(r["Location"]).content.decode()
    confirm = web.get(f"/duplicates/merges/{merge.pk}/undo/")
    assert confirm.status_code == 200
    with workspace_context(world.ws_a):
        assert CustomerMerge.objects.get().undone_at is None  # asking is not doing
    r = web.post(f"/duplicates/merges/{merge.pk}/undo/")
    assert r.status_code == 302 and r["Location"] == f"/customers/{dup['b'].pk}/"
    with workspace_context(world.ws_a):
        assert Customer.objects.get(pk=dup["b"].pk).merged_into_id is None


def test_web_merge_of_a_customer_outside_edit_scope_is_refused(world, dup):
    web = world.client_for(world.sam)
    r = web.post("/duplicates/merge/", {"survivor": dup["a"].pk, "merged": dup["c"].pk})
    assert r.status_code == 403
    with workspace_context(world.ws_a):
        assert not CustomerMerge.objects.exists()


def test_web_dismiss_hides_the_pair(world, dup):
    web = world.client_for(world.sue)
    assert web.post(f"/duplicates/{dup['cd'].id}/dismiss/").status_code == 302
    page = world.client_for(world.olivia).get("/duplicates/").content.decode()
    assert f"/duplicates/{dup['cd'].id}/dismiss/" not in page
    assert f"/duplicates/{dup['ab'].id}/dismiss/" in page


def test_web_scan_start_shows_progress(world, django_capture_on_commit_callbacks):
    web = world.client_for(world.olivia)
    empty = web.get("/duplicates/").content.decode()
    assert "No scan yet" in empty
    with django_capture_on_commit_callbacks(execute=True):
        r = web.post("/duplicates/scan/", HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    with workspace_context(world.ws_a):
        scan = DuplicateScan.objects.get()
    assert scan.pk
    fragment = web.get(f"/duplicates/scans/{scan.pk}/").content.decode()
    assert "Last scan" in fragment
    assert world.client_for(world.rita).post("/duplicates/scan/").status_code == 403


def test_cli_dedupe_scan(world, dup, capsys):
    assert cli_main(["dedupe", "scan", "--workspace", world.ws_a.slug, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "done" and out["candidates_found"] == 2
    assert cli_main(["dedupe", "scan", "--workspace", "no-such-workspace", "--json"]) == 1
