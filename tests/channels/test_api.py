"""The channels API: a supervisor adds a mailbox (passwords write-only, stored encrypted) and polls it; an agent is
refused (403) and the outsider's workspace sees none of it."""

from __future__ import annotations

from guanxi.channels.models import EmailAccount
from guanxi.core.context import workspace_context
from tests.contact_center.test_api import bearer


def test_a_supervisor_adds_and_lists_mailboxes_others_cannot(world):
    olivia = bearer(world, world.olivia)
    body = {
        "name": "客服", "address": "Kefu@Acme.example", "smtp_host": "127.0.0.1", "smtp_port": 2525,
        "smtp_security": "none", "smtp_password": "s3cret-smtp",
    }  # fmt: skip
    r = olivia.post("/channels/email/accounts", body)
    assert r.status_code == 201, r.json()
    out = r.json()
    assert out["address"] == "kefu@acme.example" and "smtp_password" not in out
    with workspace_context(world.ws_a):
        assert "s3cret-smtp" not in EmailAccount.objects.get().smtp_password
    dup = olivia.post("/channels/email/accounts", body)
    assert dup.status_code == 422 and dup.json()["fields"][0]["field"] == "address"
    assert olivia.post("/channels/email/accounts", {**body, "smtp_security": "tls"}).status_code == 422
    assert [a["address"] for a in olivia.get("/channels/email/accounts").json()] == ["kefu@acme.example"]
    assert olivia.post("/channels/email/poll").json() == []  # no IMAP host: nothing to poll

    sam = bearer(world, world.sam)
    assert sam.get("/channels/email/accounts").status_code == 403
    assert sam.post("/channels/email/accounts", {**body, "address": "x@acme.example"}).status_code == 403
    oscar = bearer(world, world.oscar)
    assert oscar.get("/channels/email/accounts").json() == []
    with workspace_context(world.ws_a):
        assert EmailAccount.objects.count() == 1
