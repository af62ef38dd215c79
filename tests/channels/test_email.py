"""The email channel against real mail servers on this machine: a Dovecot IMAP mailbox (polled) and an aiosmtpd
SMTP server (the agent's reply goes there). A mail arrives by IMAP -> a conversation and a routing task offered to
the agent; she accepts and replies in the console -> the mail reaches the SMTP server with Message-ID, In-Reply-To
and References -> the customer's answer joins the same conversation. Loop protection: automatic mail and a flood
from one sender are flagged, get no acknowledgement and are not offered. The SMTP hook stores mail the same way."""

from __future__ import annotations

import datetime as dt
import smtplib
from email import policy
from email.message import EmailMessage as Mail

import pytest
from django.urls import reverse
from django.utils import timezone

from guanxi.channels import email as channel_email
from guanxi.channels.models import EmailAccount, EmailMessage, EmailStatus
from guanxi.channels.smtp_hook import make_controller
from guanxi.channels.tasks import email_poll_workspaces
from guanxi.contact_center import routing
from guanxi.contact_center.models import Conversation, Presence, Reservation, Task, TaskStatus
from guanxi.core.context import workspace_context
from guanxi.core.errors import ValidationFailed
from guanxi.customers.models import Interaction
from tests.channels.mailservers import (
    IMAP_PASSWORD,
    IMAP_USER,
    free_port,
    start_dovecot,
    start_smtp,
    stop_dovecot,
)

pytestmark = pytest.mark.django_db(transaction=True)  # servers and on-commit work see committed rows


@pytest.fixture
def dovecot():
    d = start_dovecot()
    try:
        yield d
    finally:
        stop_dovecot(d)


@pytest.fixture
def smtp():
    sink = start_smtp()
    try:
        yield sink
    finally:
        sink.controller.stop()


def _routing(world) -> None:  # type: ignore[no-untyped-def]
    with workspace_context(world.ws_a):
        queue = routing.queue_create(actor=world.olivia, name="邮件队列", reservation_timeout=600)
        routing.workflow_create(
            actor=world.olivia, name="邮件流程", is_default=True, steps=[{"queue_id": queue.pk}]
        )
        routing.agent_configure(actor=world.olivia, member=world.alice, queue_ids=[queue.pk])
        routing.agent_set_presence(actor=world.alice, presence=Presence.AVAILABLE)


def _account(world, dovecot=None, smtp=None, **kw) -> EmailAccount:  # type: ignore[no-untyped-def]
    with workspace_context(world.ws_a):
        return channel_email.email_account_create(
            actor=world.olivia, name="Acme 客服", address=IMAP_USER,
            imap_host="127.0.0.1" if dovecot else "", imap_port=dovecot.port if dovecot else 993,
            imap_security="none", imap_user=IMAP_USER, imap_password=IMAP_PASSWORD,
            smtp_host="127.0.0.1" if smtp else "", smtp_port=smtp.port if smtp else 25, smtp_security="none",
            **kw,
        )  # fmt: skip


def _mail(*, msgid: str, subject: str = "空调不制冷", body: str = "我家的空调不制冷了，请派人来看看。",
          sender: str = "王小明 <wang.xm@kehu.cn>", **headers: str) -> Mail:  # fmt: skip
    m = Mail()
    m["From"] = sender
    m["To"] = IMAP_USER
    m["Subject"] = subject
    m["Message-ID"] = msgid
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    m.set_content(body)
    return m


def test_an_email_thread_round_trips_through_imap_and_smtp(world, customers, dovecot, smtp):
    _routing(world)
    _account(world, dovecot, smtp)
    with workspace_context(world.ws_a):
        sam_c = customers["sam_c"]
        sam_c.email = "wang.xm@kehu.cn"
        sam_c.save(update_fields=["email"])

    dovecot.deliver(_mail(msgid="<q1@kehu.cn>"))
    [res] = email_poll_workspaces(world.ws_a.pk)  # what the minute job runs
    assert (res.fetched, res.stored, res.error) == (1, 1, "")
    with workspace_context(world.ws_a):
        conv = Conversation.objects.get()
        assert (conv.channel, conv.address, conv.contact_name, conv.subject, conv.customer_id) == (
            "email", "wang.xm@kehu.cn", "王小明", "空调不制冷", sam_c.pk,
        )  # fmt: skip
        task = Task.objects.get(conversation=conv)
        res_offer = Reservation.objects.get(task=task)  # routed on commit: offered to alice
        assert res_offer.agent.user_id == world.alice.user_id
        assert (
            Interaction.objects.filter(external_key=f"cc:conversation:{conv.pk}", kind="email").count() == 1
        )

    # the agent accepts and answers from the console
    alice = world.client_for(world.alice)
    r = alice.post(reverse("contact_center:offer_accept", args=[res_offer.pk]), HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    r = alice.post(
        reverse("contact_center:reply", args=[conv.pk]),
        {"body": "您好，师傅明天上午到。"},
        HTTP_HX_REQUEST="true",
    )
    assert r.status_code == 200
    [sent] = smtp.received  # sent when the reply committed, not a minute later
    email_poll_workspaces(world.ws_a.pk)  # the minute job (the fallback) finds nothing left to send
    assert len(smtp.received) == 1
    out = sent["msg"]
    assert sent["rcpt_tos"] == ["wang.xm@kehu.cn"]
    assert out["In-Reply-To"] == "<q1@kehu.cn>" and out["References"] == "<q1@kehu.cn>"
    assert out["Subject"] == "Re: 空调不制冷" and IMAP_USER in out["From"]
    assert out.get_content().strip() == "您好，师傅明天上午到。"
    with workspace_context(world.ws_a):
        rec = EmailMessage.objects.get(direction="out")
        assert rec.message_id == out["Message-ID"] and rec.status == EmailStatus.SENT
    email_poll_workspaces(world.ws_a.pk)
    assert len(smtp.received) == 1  # sent once

    # the customer answers our mail: it joins the same conversation
    dovecot.deliver(
        _mail(msgid="<q2@kehu.cn>", subject="Re: 空调不制冷", body="好的，谢谢！",
              In_Reply_To=out["Message-ID"], References=f"<q1@kehu.cn> {out['Message-ID']}")
    )  # fmt: skip
    [res] = email_poll_workspaces(world.ws_a.pk)
    assert (res.fetched, res.stored) == (1, 1)
    with workspace_context(world.ws_a):
        assert Conversation.objects.count() == 1
        bodies = [(m.direction, m.body) for m in conv.messages.filter(kind="message").order_by("id")]
        assert bodies == [
            ("in", "我家的空调不制冷了，请派人来看看。"), ("out", "您好，师傅明天上午到。"), ("in", "好的，谢谢！"),
        ]  # fmt: skip
        assert Task.objects.filter(conversation=conv).count() == 1  # alice still holds it: no new offer
    # a second answer threads by References even without In-Reply-To; polling again fetches nothing new
    [res] = email_poll_workspaces(world.ws_a.pk)
    assert res.fetched == 0
    alice.post(reverse("contact_center:reply", args=[conv.pk]), {"body": "不客气"}, HTTP_HX_REQUEST="true")
    assert len(smtp.received) == 2
    email_poll_workspaces(world.ws_a.pk)
    assert len(smtp.received) == 2
    second = smtp.received[1]["msg"]
    assert second["In-Reply-To"] == "<q2@kehu.cn>"
    assert second["References"].split() == ["<q1@kehu.cn>", out["Message-ID"], "<q2@kehu.cn>"]


def test_a_reply_that_cannot_be_sent_on_commit_is_sent_once_by_the_job(world, smtp):
    """SMTP down when the agent replies: the reply is stored and the mail recorded as failed (the console does not
    fail); the minute job sends it once the server answers, once only."""
    _routing(world)
    acc = _account(world)
    with workspace_context(world.ws_a):
        acc.smtp_host, acc.smtp_port = "127.0.0.1", free_port()  # nothing listens there
        acc.save(update_fields=["smtp_host", "smtp_port"])
        received = channel_email.email_receive(account=acc, raw=_mail(msgid="<down1@kehu.cn>").as_bytes())
        conv = received.conversation
        offer = Reservation.objects.get(task__conversation=conv)
    alice = world.client_for(world.alice)
    alice.post(reverse("contact_center:offer_accept", args=[offer.pk]), HTTP_HX_REQUEST="true")
    r = alice.post(
        reverse("contact_center:reply", args=[conv.pk]), {"body": "收到，马上处理。"}, HTTP_HX_REQUEST="true"
    )
    assert r.status_code == 200
    with workspace_context(world.ws_a):
        rec = EmailMessage.objects.get(direction="out", is_auto=False)
        assert (rec.status, rec.attempts) == (EmailStatus.FAILED, 1) and rec.error
        assert conv.messages.filter(direction="out", body="收到，马上处理。").count() == 1
        acc.smtp_port = smtp.port  # the server is back
        acc.save(update_fields=["smtp_port"])
        later = timezone.now() + dt.timedelta(minutes=2)  # past the first back-off
        assert channel_email.email_outbox_send(now=later) == 1
        assert channel_email.email_outbox_send(now=later + dt.timedelta(minutes=30)) == 0
        channel_email.email_outbox_kick()
        rec.refresh_from_db()
        assert rec.status == EmailStatus.SENT
    assert [m["msg"].get_content().strip() for m in smtp.received] == ["收到，马上处理。"]


def test_loop_protection_flags_auto_replies_and_floods(world, dovecot, smtp):
    _routing(world)
    _account(world, dovecot, smtp, auto_reply="我们已收到您的邮件，会尽快回复。", max_per_minute=3)
    dovecot.deliver(_mail(msgid="<h1@kehu.cn>", subject="咨询"))
    dovecot.deliver(_mail(msgid="<ooo@kehu.cn>", subject="Out of office", Auto_Submitted="auto-replied"))
    dovecot.deliver(_mail(msgid="<bulk@kehu.cn>", subject="促销", Precedence="bulk"))
    dovecot.deliver(_mail(msgid="<xa@kehu.cn>", subject="自动回复", X_Autoreply="yes"))
    for i in range(4):  # the same person four times in a minute: the fourth is a flood
        dovecot.deliver(_mail(msgid=f"<f{i}@spam.cn>", subject=f"第{i}封", sender="loop@spam.cn"))
    [res] = email_poll_workspaces(world.ws_a.pk)
    assert (res.fetched, res.stored) == (8, 8)
    with workspace_context(world.ws_a):
        flags = dict(EmailMessage.objects.filter(direction="in").values_list("message_id", "flag"))
        assert flags == {
            "<h1@kehu.cn>": "", "<ooo@kehu.cn>": "auto_submitted", "<bulk@kehu.cn>": "bulk",
            "<xa@kehu.cn>": "autoreply_header", "<f0@spam.cn>": "", "<f1@spam.cn>": "", "<f2@spam.cn>": "",
            "<f3@spam.cn>": "flood",
        }  # fmt: skip
        routed = {
            EmailMessage.objects.get(conversation_id=t.conversation_id, direction="in").message_id
            for t in Task.objects.all()
        }
        assert routed == {"<h1@kehu.cn>", "<f0@spam.cn>", "<f1@spam.cn>", "<f2@spam.cn>"}
    # acknowledgements went only to the people, marked as automatic so their responders stay quiet
    acks = {m["rcpt_tos"][0]: m["msg"] for m in smtp.received}
    assert sorted(m["rcpt_tos"][0] for m in smtp.received) == ["loop@spam.cn"] * 3 + ["wang.xm@kehu.cn"]
    ack = acks["wang.xm@kehu.cn"]
    assert ack["Auto-Submitted"] == "auto-replied" and ack["In-Reply-To"] == "<h1@kehu.cn>"
    assert ack.get_content().strip() == "我们已收到您的邮件，会尽快回复。"


def test_redelivery_and_malformed_mail(world, dovecot, smtp):
    _routing(world)
    acc = _account(world, dovecot, smtp)
    raw = _mail(msgid="<r1@kehu.cn>").as_bytes(policy=policy.SMTP)
    with workspace_context(world.ws_a):
        first = channel_email.email_receive(raw=raw, account=acc)
        again = channel_email.email_receive(raw=raw, account=acc)
        assert first.created and not again.created and again.conversation.pk == first.conversation.pk
        with pytest.raises(ValidationFailed) as err:
            channel_email.email_receive(raw=b"Subject: no sender\r\n\r\nhello\r\n", account=acc)
        assert "message" in err.value.fields
        assert Conversation.objects.count() == 1 and EmailMessage.objects.count() == 1
    # the poll skips a refused mail and goes on with the next
    dovecot.deliver(b"Subject: no sender\r\nMessage-ID: <bad@x>\r\n\r\nhello\r\n")
    dovecot.deliver(_mail(msgid="<r2@kehu.cn>"))
    [res] = email_poll_workspaces(world.ws_a.pk)
    assert (res.fetched, res.stored, res.rejected) == (2, 1, 1)
    with workspace_context(world.ws_a):
        assert Conversation.objects.count() == 2


def test_a_wrong_imap_password_is_recorded_not_raised(world, dovecot):
    with workspace_context(world.ws_a):
        acc = channel_email.email_account_create(
            actor=world.olivia, name="x", address=IMAP_USER, imap_host="127.0.0.1", imap_port=dovecot.port,
            imap_security="none", imap_user=IMAP_USER, imap_password="wrong",
        )  # fmt: skip
    [res] = email_poll_workspaces(world.ws_a.pk)
    assert res.error
    with workspace_context(world.ws_a):
        acc.refresh_from_db()
        assert acc.last_error and acc.last_polled_at is not None and acc.poll_lease_until is None
        assert "wrong" not in acc.imap_password  # stored encrypted


def test_the_smtp_hook_stores_mail_as_a_conversation(world, smtp):
    _routing(world)
    acc = _account(world, smtp=smtp)
    port = free_port()
    controller = make_controller(
        workspace_id=world.ws_a.pk, account_id=acc.pk, address=acc.address, host="127.0.0.1", port=port
    )
    controller.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.send_message(_mail(msgid="<s1@kehu.cn>"))
            code, _text = s.mail("x@kehu.cn")
            assert s.rcpt("other@acme.example")[0] == 550  # not this mailbox
            s.rset()
            s.mail("x@kehu.cn")
            s.rcpt(IMAP_USER)
            code, text = s.data(b"Subject: no sender\r\n\r\nhello\r\n")
            assert code == 554 and b"message" in text
    finally:
        controller.stop()
    with workspace_context(world.ws_a):
        conv = Conversation.objects.get()
        assert conv.channel == "email" and Task.objects.get(conversation=conv).status == TaskStatus.RESERVED
        assert EmailMessage.objects.get().message_id == "<s1@kehu.cn>"


def test_only_supervisors_set_up_mailboxes_and_fields_are_checked(world):
    from guanxi.core.errors import Forbidden

    with workspace_context(world.ws_a):
        with pytest.raises(Forbidden):
            channel_email.email_account_create(actor=world.sam, name="x", address="a@b.cn")
        with pytest.raises(ValidationFailed) as err:
            channel_email.email_account_create(
                actor=world.olivia, name="x", address="not-an-address", imap_security="tls", smtp_port=70000
            )
        assert set(err.value.fields) == {"address", "imap_security", "smtp_port"}
        assert EmailAccount.objects.count() == 0


def test_a_reply_by_the_api_is_sent_on_commit_and_a_note_never(world, smtp):
    """The API calls the same service as the console: the agent's reply is mailed when it commits; an internal
    note is not mailed at all."""
    from tests.contact_center.test_api import bearer

    _routing(world)
    acc = _account(world, smtp=smtp)
    with workspace_context(world.ws_a):
        conv = channel_email.email_receive(
            account=acc, raw=_mail(msgid="<api1@kehu.cn>").as_bytes()
        ).conversation
        offer = Reservation.objects.get(task__conversation=conv)
    world.client_for(world.alice).post(
        reverse("contact_center:offer_accept", args=[offer.pk]), HTTP_HX_REQUEST="true"
    )
    api = bearer(world, world.alice)
    url = f"/contact-center/conversations/{conv.pk}/messages"
    r = api.post(url, {"body": "内部备注：客户是老用户", "kind": "note"})
    assert r.status_code == 201, r.json()
    assert smtp.received == []
    r = api.post(url, {"body": "您好，已为您安排维修。"})
    assert r.status_code == 201, r.json()
    assert [m["msg"].get_content().strip() for m in smtp.received] == ["您好，已为您安排维修。"]
    email_poll_workspaces(world.ws_a.pk)
    assert len(smtp.received) == 1
    with workspace_context(world.ws_a):
        assert EmailMessage.objects.filter(direction="out").count() == 1
