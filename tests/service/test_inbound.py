"""Email in: a new message opens a ticket; an answer joins the thread by In-Reply-To; malformed, huge or refused
attachments are clear errors and change nothing."""

from __future__ import annotations

import base64
from email.message import EmailMessage

from django.core import mail

from guanxi.core.context import workspace_context
from guanxi.service.models import Ticket, TicketAttachment, TicketMessage
from guanxi.service.services.messages import ticket_message_add
from tests.api.conftest import _fresh_rate_limits, api_for, make_key  # noqa: F401
from tests.api.support import Api, assert_error

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def _email(
    subject="发票问题", body="发票抬头开错了", msgid="<m1@kehu.cn>", reply_to=None, attach=None
) -> bytes:
    m = EmailMessage()
    m["From"] = "王小明 <Wang.XM@Kehu.cn>"
    m["To"] = "service@acme.example"
    m["Subject"] = subject
    m["Message-ID"] = msgid
    if reply_to:
        m["In-Reply-To"] = reply_to
        m["References"] = reply_to
    m.set_content(body)
    if attach:
        name, content, maintype, subtype = attach
        m.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return bytes(m)


def _post(api: Api, raw: bytes):
    return api.client.post("/api/v1/inbound/email", data=raw, content_type="message/rfc822", **api._headers())


def test_new_mail_opens_a_ticket_and_the_answer_joins_it(
    world,
    customers,
    api_for,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    api = api_for(world.alice)
    r = _post(api, _email(attach=("截图.png", PNG, "image", "png")))
    assert r.status_code == 201, r.content
    tid = r.json()["ticket_id"]
    assert _post(api, _email()).json() == {"ticket_id": tid, "created": False}  # redelivered: same ticket
    with workspace_context(world.ws_a):
        t = Ticket.objects.get(pk=tid)
        assert t.channel == "email" and t.subject == "发票问题" and t.description == "发票抬头开错了"
        assert t.customer.emails.get().email == "wang.xm@kehu.cn" and t.customer.name == "王小明"
        assert TicketAttachment.objects.get(ticket=t).filename.endswith(".png")
        with django_capture_on_commit_callbacks(execute=True):
            reply = ticket_message_add(actor=world.alice, ticket=t, kind="reply", body="已重开")
        assert mail.outbox[-1].extra_headers["Message-ID"] == reply.message_id
    r = _post(
        api,
        _email(subject="Re: 发票问题", body="收到，谢谢", msgid="<m2@kehu.cn>", reply_to=reply.message_id),
    )
    assert r.status_code == 200 and r.json() == {"ticket_id": tid, "created": False}
    with workspace_context(world.ws_a):
        assert list(TicketMessage.objects.filter(ticket_id=tid).values_list("kind", "body")) == [
            ("reply", "已重开"),
            ("customer", "收到，谢谢"),
        ]
        assert Ticket.objects.count() == 1


def test_bad_mail_is_refused_and_nothing_changes(world, customers, api_for):  # noqa: F811
    api = api_for(world.alice)
    body = assert_error(_post(api, b"this is not an email at all"), 422, "validation_error")
    assert body["fields"][0]["field"] == "message"
    body = assert_error(
        _post(api, _email(attach=("run.exe", b"MZ\x90", "application", "octet-stream"))),
        422,
        "validation_error",
    )
    assert body["fields"][0]["field"] == "attachments"
    raw = _email(attach=("a.png", PNG, "image", "png")).decode()
    b64 = base64.b64encode(PNG).decode()
    broken = raw.replace(b64, "!!!!" + b64[4:-4] + "@@").encode()
    body = assert_error(_post(api, broken), 422, "validation_error")
    assert body["fields"][0]["field"] == "attachments"
    huge = _email(attach=("big.pdf", b"%PDF-" + b"0" * (3 * 1024 * 1024), "application", "pdf"))
    body = assert_error(_post(api, huge), 422, "validation_error")
    assert "too large" in body["fields"][0]["message"]
    with workspace_context(world.ws_a):
        assert Ticket.objects.count() == 0 and TicketAttachment.objects.count() == 0
    assert_error(_post(api_for(world.rita), _email()), 403, "forbidden")
