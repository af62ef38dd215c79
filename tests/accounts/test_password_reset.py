import re
import socket
from datetime import datetime, timedelta
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client, override_settings

from guanxi.accounts.models import OutboxMessage
from guanxi.accounts.tokens import reset_tokens
from guanxi.workspaces.models import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
RESET = "/accounts/password/reset/"
OUTBOX = override_settings(EMAIL_BACKEND="guanxi.accounts.mail.OutboxBackend")
NEW_PASSWORD = "another-Strong-pass-77"


def _link_path(body: str) -> str:
    return re.search(r"https?://[^/\s]+(/accounts/password/reset/[^/\s]+/[^/\s]+/)", body).group(1)


def test_it_mails_a_one_time_link_that_sets_a_new_password(world, on_commit, mailoutbox):
    c = Client()
    with on_commit():
        r = c.post(RESET, {"login": "sam"})
    assert r.status_code == 302 and r["Location"] == "/accounts/password/reset/sent/"
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["sam@example.com"]
    path = _link_path(mailoutbox[0].body)
    assert c.get(path).status_code == 200
    # mismatch and weak passwords are refused with the field named, password unchanged
    r = c.post(path, {"password": NEW_PASSWORD, "password2": NEW_PASSWORD + "x"})
    assert r.status_code == 422 and 'id="err-password2"' in r.content.decode()
    r = c.post(path, {"password": "12345678", "password2": "12345678"})
    assert r.status_code == 422 and 'id="err-password"' in r.content.decode()
    assert User.objects.get(pk=world.sam.user_id).check_password(PASSWORD)
    r = c.post(path, {"password": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert r.status_code == 302 and r["Location"] == "/accounts/login/"
    user = User.objects.get(pk=world.sam.user_id)
    assert user.check_password(NEW_PASSWORD)
    # the link works once
    assert c.get(path).status_code == 404
    r = c.post(path, {"password": "yet-another-Pass-99", "password2": "yet-another-Pass-99"})
    assert r.status_code == 404
    assert User.objects.get(pk=world.sam.user_id).check_password(NEW_PASSWORD)
    assert Client().post("/accounts/login/", {"username": "sam", "password": NEW_PASSWORD}).status_code == 302


def test_it_finds_the_account_by_email_case_insensitively(world, on_commit, mailoutbox):
    with on_commit():
        Client().post(RESET, {"login": "SUE@Example.com"})
    assert [m.to for m in mailoutbox] == [["sue@example.com"]]


def test_it_answers_the_same_for_an_unknown_account(world, on_commit, mailoutbox):
    with on_commit():
        known = Client().post(RESET, {"login": "sam"})
        unknown = Client().post(RESET, {"login": "nobody-here"})
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert len(mailoutbox) == 1


def test_it_sends_nothing_to_an_account_without_email(world, on_commit, mailoutbox):
    User.objects.filter(pk=world.sam.user_id).update(email="")
    with on_commit():
        r = Client().post(RESET, {"login": "sam"})
    assert r.status_code == 302 and mailoutbox == []


def test_an_empty_request_names_the_field(db, mailoutbox):
    r = Client().post(RESET, {"login": "  "})
    assert r.status_code == 422 and 'id="err-login"' in r.content.decode()
    assert mailoutbox == []


def test_an_expired_or_forged_link_is_refused(world, on_commit, mailoutbox, monkeypatch):
    with on_commit():
        Client().post(RESET, {"login": "sam"})
    path = _link_path(mailoutbox[0].body)
    monkeypatch.setattr(reset_tokens, "_now", lambda: datetime.now() + timedelta(hours=3))
    assert Client().get(path).status_code == 404
    monkeypatch.undo()
    assert Client().get(path).status_code == 200
    forged = re.sub(r"/[^/]+/$", "/abc-0123456789abcdef/", path)
    assert Client().get(forged).status_code == 404
    assert Client().get("/accounts/password/reset/Zm9v/abc-123/").status_code == 404


@OUTBOX
def test_embedded_mode_keeps_the_mail_in_the_outbox_page(world, on_commit):
    with on_commit():
        Client().post(RESET, {"login": "sam"})
    msg = OutboxMessage.objects.get()
    assert msg.recipients == "sam@example.com"
    local = Client()  # the test client comes from 127.0.0.1
    listing = local.get("/accounts/outbox/").content.decode()
    assert msg.subject in listing
    detail = local.get(f"/accounts/outbox/{msg.pk}/").content.decode()
    path = _link_path(msg.body)
    assert f'href="{settings.GUANXI_BASE_URL}{path}"' in detail
    assert local.get(path).status_code == 200


@OUTBOX
def test_the_outbox_is_hidden_from_other_machines_and_proxies(world, on_commit):
    with on_commit():
        Client().post(RESET, {"login": "sam"})
    msg = OutboxMessage.objects.get()
    for client in (Client(REMOTE_ADDR="192.168.1.20"), Client(HTTP_X_FORWARDED_FOR="198.51.100.7")):
        assert client.get("/accounts/outbox/").status_code == 404
        assert client.get(f"/accounts/outbox/{msg.pk}/").status_code == 404


def test_the_outbox_is_hidden_when_mail_goes_out_by_smtp(world):
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend"):
        assert Client().get("/accounts/outbox/").status_code == 404


class _Collect:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.rcpt_tos, envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_it_sends_the_reset_mail_through_a_real_smtp_server(world, on_commit):
    handler = _Collect()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with (
            override_settings(
                EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
                EMAIL_HOST="127.0.0.1",
                EMAIL_PORT=port,
                EMAIL_HOST_USER="",
                EMAIL_HOST_PASSWORD="",
                EMAIL_USE_TLS=False,
                EMAIL_USE_SSL=False,
                EMAIL_TIMEOUT=10,
            ),
            on_commit(),
        ):
            r = Client().post(RESET, {"login": "sam"})
        assert r.status_code == 302
    finally:
        controller.stop()
    assert len(handler.messages) == 1
    rcpt, raw = handler.messages[0]
    assert rcpt == ["sam@example.com"]
    parsed = message_from_bytes(raw)
    body = parsed.get_payload(decode=True).decode(parsed.get_content_charset() or "utf-8")
    path = _link_path(body)
    assert not mail.outbox  # it really went out by SMTP
    c = Client()
    r = c.post(path, {"password": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert r.status_code == 302
    assert c.post("/accounts/login/", {"username": "sam", "password": NEW_PASSWORD}).status_code == 302
    assert int(c.session[SESSION_KEY]) == world.sam.user_id


def test_the_mail_is_in_the_users_language(world, on_commit, mailoutbox):
    User.objects.filter(pk=world.sam.user_id).update(language="zh-hans")
    with on_commit():
        Client().post(RESET, {"login": "sam"})
    assert "重置" in mailoutbox[0].subject
