"""Email in by SMTP: the real aiosmtpd server on loopback, spoken to by a real SMTP client (smtplib). A new message
opens a ticket and the answer joins it, exactly as through the HTTP hook; a damaged attachment is refused with a
permanent error naming the field and stores nothing; an unknown recipient and an oversized message are refused; and
``guanxi mail serve-inbound`` serves it from the command line."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import threading
import time
from email import policy
from email.message import EmailMessage
from unittest import mock

import pytest

from guanxi.core.context import workspace_context
from guanxi.service.models import Ticket, TicketAttachment, TicketMessage
from guanxi.service.smtp_inbound import make_controller

pytestmark = pytest.mark.django_db(transaction=True)  # the server stores from its own thread and connection
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _email(
    *, subject="发票抬头错了", body="请重开发票", msgid="<a1@kehu.cn>", reply_to=None, attach=None
) -> EmailMessage:
    m = EmailMessage()
    m["From"] = "王小明 <wang.xm@kehu.cn>"
    m["To"] = "service@acme.example"
    m["Subject"] = subject
    m["Message-ID"] = msgid
    if reply_to:
        m["In-Reply-To"] = reply_to
    m.set_content(body)
    if attach:
        m.add_attachment(attach[1], maintype="image", subtype="png", filename=attach[0])
    return m


@pytest.fixture
def server(world):
    port = _free_port()
    controller = make_controller(
        workspace_id=world.ws_a.pk, host="127.0.0.1", port=port, recipients=["service@acme.example"]
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def _send(port: int, msg: EmailMessage | bytes, rcpt: str = "service@acme.example") -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo()
        raw = (
            msg if isinstance(msg, bytes) else msg.as_bytes(policy=policy.SMTP)
        )  # CRLF, as a mail client sends
        code, text = s.mail("wang.xm@kehu.cn")
        assert code == 250
        code, text = s.rcpt(rcpt)
        if code != 250:
            return code, text
        return s.data(raw)


def test_a_new_mail_opens_a_ticket_and_the_answer_joins_it(world, server):
    code, text = _send(server, _email(attach=("截图.png", PNG)))
    assert code == 250, text
    with workspace_context(world.ws_a):
        t = Ticket.objects.get()
        assert f"#{t.pk}".encode() in text
        assert (t.channel, t.subject, t.description) == ("email", "发票抬头错了", "请重开发票")
        assert t.customer.emails.get().email == "wang.xm@kehu.cn"
        assert TicketAttachment.objects.get(ticket=t).filename.endswith(".png")
    # the same message again (a retry after a lost 250): the same ticket, nothing new
    code, _text = _send(server, _email(attach=("截图.png", PNG)))
    assert code == 250
    code, _text = _send(server, _email(subject="Re: 发票抬头错了", body="补充：税号是 123", msgid="<a2@kehu.cn>",
                                        reply_to="<a1@kehu.cn>"))  # fmt: skip
    assert code == 250
    with workspace_context(world.ws_a):
        assert Ticket.objects.count() == 1
        assert TicketMessage.objects.get(kind="customer").body == "补充：税号是 123"
    with workspace_context(world.ws_b):
        assert not Ticket.objects.exists()


def test_bad_mail_is_refused_and_nothing_is_stored(world, server):
    damaged = (
        b"From: x@kehu.cn\r\nTo: service@acme.example\r\nSubject: bad\r\nMessage-ID: <bad@kehu.cn>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
        b"Content-Type: text/plain\r\n\r\nhello\r\n--B\r\nContent-Type: image/png\r\n"
        b'Content-Disposition: attachment; filename="a.png"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        b"!!!not base64!!!\r\n--B--\r\n"
    )
    code, text = _send(server, damaged)
    assert code == 554 and b"attachments" in text, text
    code, text = _send(server, _email(attach=("tool.exe", b"MZ\x90\x00")))
    assert code == 554 and b"attachments" in text, text
    code, text = _send(server, b"Subject: no sender\r\n\r\nhello\r\n")
    assert code == 554 and b"message" in text, text
    code, _text = _send(server, _email(), rcpt="someone@else.example")
    assert code == 550
    with workspace_context(world.ws_a):
        assert not Ticket.objects.exists() and not TicketAttachment.objects.exists()


def test_an_oversized_message_is_refused(world):
    port = _free_port()
    with mock.patch("guanxi.service.services.inbound.MAX_MESSAGE_BYTES", 4096):
        controller = make_controller(workspace_id=world.ws_a.pk, host="127.0.0.1", port=port)
    controller.start()
    try:
        code, _text = _send(port, _email(body="很长的内容\n" * 2000))
    finally:
        controller.stop()
    assert code == 552
    with workspace_context(world.ws_a):
        assert not Ticket.objects.exists()


def test_the_cli_serves_inbound_mail(world):
    from guanxi import cli

    port = _free_port()
    replies: list[tuple[int, bytes]] = []
    errors: list[BaseException] = []

    def client() -> None:
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            replies.append(_send(port, _email(msgid="<cli@kehu.cn>")))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # the command stops on SIGTERM

    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(target=client)
    thread.start()
    try:
        rc = cli.main(["mail", "serve-inbound", "--workspace", world.ws_a.slug, "--port", str(port)])
    finally:
        thread.join(30)
        for s, handler in old.items():
            signal.signal(s, handler)
    assert not errors, errors
    assert rc == 0 and replies and replies[0][0] == 250, replies
    with workspace_context(world.ws_a):
        assert Ticket.objects.get().source_ref == "email:<cli@kehu.cn>"
