"""The tickets API: CRUD, messages with attachments, assign, status, merge, split, keyset list, outsider 404."""

from __future__ import annotations

import base64

from django.core import mail

from guanxi.core.context import workspace_context
from guanxi.service.models import Ticket, TicketAttachment, TicketMessage
from tests.api.conftest import _fresh_rate_limits, api_for, make_key  # noqa: F401
from tests.api.support import assert_error

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def _open(api, customer_id, **kw):
    r = api.post("/tickets", {"customer_id": customer_id, "subject": kw.pop("subject", "打印机卡纸"), **kw})
    assert r.status_code == 201, r.content
    return r.json()


def test_create_reply_and_close(world, customers, api_for, django_capture_on_commit_callbacks):  # noqa: F811
    with workspace_context(world.ws_a):
        c = customers["sam_c"]
        c.email = "zhang@example.cn"
        c.save()
    api = api_for(world.alice)
    t = _open(api, c.pk, priority="high", description="第二页开始卡纸")
    assert t["status"] == "new" and t["priority"] == "high" and t["channel"] == "api"
    r = api.post(f"/tickets/{t['id']}/messages", {"kind": "note", "body": "检查过滤网"})
    assert r.status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        r = api.post(
            f"/tickets/{t['id']}/messages",
            {
                "kind": "reply",
                "body": "您好，请按说明书第 5 页清理。",
                "attachments": [{"name": "步骤.png", "content_base64": base64.b64encode(PNG).decode()}],
            },
        )
    assert r.status_code == 201, r.content
    assert r.json()["attachments"][0]["content_type"] == "image/png"
    assert len(mail.outbox) == 1  # only the reply is mailed, not the note
    sent = mail.outbox[0]
    assert sent.to == ["zhang@example.cn"] and f"#{t['id']}" in sent.subject
    assert sent.extra_headers["Message-ID"] and sent.attachments[0][0].endswith(".png")
    got = api.get(f"/tickets/{t['id']}").json()
    assert got["status"] == "open" and got["first_response_at"]
    msgs = api.get(f"/tickets/{t['id']}/messages").json()
    assert [m["kind"] for m in msgs] == ["note", "reply"] and msgs[1]["emailed_at"]
    r = api.post(f"/tickets/{t['id']}/status", {"status": "closed"})
    assert r.status_code == 200 and r.json()["closed_at"]
    body = assert_error(
        api.post(f"/tickets/{t['id']}/messages", {"kind": "note", "body": "x"}), 422, "validation_error"
    )
    assert body["fields"][0]["field"] == "body"


def test_bad_attachments_are_refused_and_nothing_changes(world, customers, api_for):  # noqa: F811
    api = api_for(world.alice)
    t = _open(api, customers["sam_c"].pk)
    exe = base64.b64encode(b"MZ\x90\x00").decode()
    for name, content in [("virus.exe", exe), ("fake.pdf", exe), ("bad.png", "!!notbase64")]:
        r = api.post(
            f"/tickets/{t['id']}/messages",
            {"kind": "reply", "body": "x", "attachments": [{"name": name, "content_base64": content}]},
        )
        body = assert_error(r, 422, "validation_error")
        assert body["fields"][0]["field"].startswith("attachments")
    with workspace_context(world.ws_a):
        assert TicketMessage.objects.count() == 0 and TicketAttachment.objects.count() == 0


def test_patch_assign_and_workflow_errors(world, customers, api_for):  # noqa: F811
    api = api_for(world.olivia)
    t = _open(api, customers["sam_c"].pk)
    r = api.patch(f"/tickets/{t['id']}", {"priority": "urgent", "subject": "新标题"})
    assert r.status_code == 200 and r.json()["priority"] == "urgent" and r.json()["subject"] == "新标题"
    r = api.post(f"/tickets/{t['id']}/assign", {"assignee_id": world.alice.user_id})
    assert r.status_code == 200 and r.json()["assignee_id"] == world.alice.user_id
    body = assert_error(
        api.post(f"/tickets/{t['id']}/assign", {"assignee_id": world.oscar.user_id}), 422, "validation_error"
    )
    assert body["fields"][0]["field"] == "assignee_id"
    api.post(f"/tickets/{t['id']}/status", {"status": "resolved"})
    body = assert_error(
        api.post(f"/tickets/{t['id']}/status", {"status": "pending"}), 422, "validation_error"
    )
    assert body["fields"][0]["field"] == "status"


def test_merge_and_split(world, customers, api_for):  # noqa: F811
    api = api_for(world.alice)
    a = _open(api, customers["sam_c"].pk, subject="A")
    b = _open(api, customers["sam_c"].pk, subject="B")
    other = _open(api, customers["sue_c"].pk, subject="C")
    api.post(f"/tickets/{a['id']}/messages", {"kind": "note", "body": "from A"})
    body = assert_error(
        api.post(f"/tickets/{a['id']}/merge", {"target_id": other["id"]}), 422, "validation_error"
    )
    assert body["fields"][0]["field"] == "target_id"
    assert_error(api.post(f"/tickets/{a['id']}/merge", {"target_id": a["id"]}), 422, "validation_error")
    r = api.post(f"/tickets/{a['id']}/merge", {"target_id": b["id"]})
    assert r.status_code == 200 and r.json()["id"] == b["id"]
    src = api.get(f"/tickets/{a['id']}").json()
    assert src["status"] == "closed" and src["merged_into_id"] == b["id"]
    msgs = api.get(f"/tickets/{b['id']}/messages").json()
    assert [m["body"] for m in msgs][0] == "from A" and f"#{a['id']}" in msgs[1]["body"]
    r = api.post(f"/tickets/{b['id']}/split", {"message_ids": [msgs[0]["id"]], "subject": "另一个问题"})
    assert r.status_code == 201, r.content
    new = r.json()
    assert new["customer_id"] == customers["sam_c"].pk and new["subject"] == "另一个问题"
    assert [m["body"] for m in api.get(f"/tickets/{new['id']}/messages").json()] == ["from A"]
    body = assert_error(
        api.post(f"/tickets/{b['id']}/split", {"message_ids": [10**9], "subject": "x"}),
        422,
        "validation_error",
    )
    assert body["fields"][0]["field"] == "message_ids"


def test_list_by_queue_status_assignee_with_keyset(world, customers, api_for):  # noqa: F811
    api = api_for(world.olivia)
    ids = [
        _open(api, customers["sam_c"].pk, subject=f"t{i}", team_id=world.team_east.pk)["id"] for i in range(5)
    ]
    _open(api, customers["sam_c"].pk, subject="no queue")
    api.post(f"/tickets/{ids[0]}/assign", {"assignee_id": world.alice.user_id})
    page1 = api.get(f"/tickets?team_id={world.team_east.pk}&limit=3").json()
    assert [t["id"] for t in page1["items"]] == ids[::-1][:3]
    page2 = api.get(f"/tickets?team_id={world.team_east.pk}&limit=3&cursor={page1['next_cursor']}").json()
    assert [t["id"] for t in page2["items"]] == ids[::-1][3:] and page2["next_cursor"] is None
    mine = api.get(f"/tickets?assignee_id={world.alice.user_id}").json()["items"]
    assert [t["id"] for t in mine] == [ids[0]]
    assert len(api.get("/tickets?status=new").json()["items"]) == 6


def test_outsider_gets_404_and_nothing_changes(world, customers, api_for):  # noqa: F811
    t = _open(api_for(world.alice), customers["sam_c"].pk)
    oscar = api_for(world.oscar)
    assert_error(oscar.get(f"/tickets/{t['id']}"), 404, "not_found")
    assert_error(oscar.post(f"/tickets/{t['id']}/status", {"status": "closed"}), 404, "not_found")
    assert_error(oscar.post(f"/tickets/{t['id']}/messages", {"kind": "note", "body": "x"}), 404, "not_found")
    body = assert_error(
        oscar.post("/tickets", {"customer_id": customers["sam_c"].pk, "subject": "x"}),
        422,
        "validation_error",
    )
    assert body["fields"][0]["field"] == "customer_id"
    assert oscar.get("/tickets").json()["items"] == []
    with workspace_context(world.ws_a):
        assert Ticket.objects.get(pk=t["id"]).status == "new" and TicketMessage.objects.count() == 0
