"""Ticket pages: list, open from the customer page, conversation with upload, actions, 360 page, public web form."""

from __future__ import annotations

import time

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer
from guanxi.service import webform
from guanxi.service.models import Ticket, TicketAttachment, TicketMessage
from guanxi.service.services.tickets import ticket_create

pytestmark = pytest.mark.django_db
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


@pytest.fixture
def ticket(world, customers):
    with workspace_context(world.ws_a):
        return ticket_create(
            actor=world.alice, customer=customers["sam_c"], subject="网络断开", description="昨晚开始"
        )


def test_open_a_ticket_from_the_customer_page(world, customers):
    c = world.client_for(world.alice)
    cid = customers["sam_c"].pk
    page = c.get(f"/customers/{cid}/")
    assert page.status_code == 200 and f"/service/tickets/new/?customer={cid}" in page.content.decode()
    r = c.post(
        f"/service/tickets/new/?customer={cid}", {"subject": "", "priority": "normal", "type": "ticket"}
    )
    assert r.status_code == 422
    r = c.post(
        f"/service/tickets/new/?customer={cid}",
        {"subject": "无法登录", "priority": "high", "type": "ticket", "channel": "phone"},
    )
    assert r.status_code == 302
    with workspace_context(world.ws_a):
        t = Ticket.objects.get()
    assert t.priority == "high" and t.channel == "phone"
    page = c.get(f"/customers/{cid}/").content.decode()
    assert "无法登录" in page and f"/service/tickets/{t.pk}/" in page


def test_list_filters_and_detail(world, customers, ticket):
    c = world.client_for(world.alice)
    body = c.get("/service/").content.decode()
    assert "网络断开" in body and "/f/tickets/" in body
    assert "网络断开" not in c.get("/service/?mine=1").content.decode()
    assert "网络断开" not in c.get("/service/?status=closed").content.decode()
    assert "网络断开" in c.get(f"/service/tickets/{ticket.pk}/").content.decode()


def test_reply_with_attachment_note_and_close(world, customers, ticket, django_capture_on_commit_callbacks):
    with workspace_context(world.ws_a):
        Customer.objects.filter(pk=customers["sam_c"].pk).update(email="sam.c@example.cn")
    c = world.client_for(world.alice)
    with django_capture_on_commit_callbacks(execute=True):
        r = c.post(
            f"/service/tickets/{ticket.pk}/messages/",
            {
                "kind": "reply",
                "body": "请重启路由器",
                "files": [SimpleUploadedFile("图.png", PNG, "image/png")],
            },
        )
    assert r.status_code == 302 and len(mail.outbox) == 1
    r = c.post(
        f"/service/tickets/{ticket.pk}/messages/",
        {
            "kind": "note",
            "body": "x",
            "files": [SimpleUploadedFile("a.exe", b"MZ", "application/octet-stream")],
        },
        follow=True,
    )
    assert "not accepted" in r.content.decode()
    with workspace_context(world.ws_a):
        assert TicketMessage.objects.count() == 1
        att = TicketAttachment.objects.get()
    got = c.get(f"/service/attachments/{att.pk}/")
    assert got.status_code == 200 and b"".join(got.streaming_content) == PNG
    assert world.client_for(world.oscar).get(f"/service/attachments/{att.pk}/").status_code == 404
    c.post(f"/service/tickets/{ticket.pk}/status/", {"status": "closed"})
    with workspace_context(world.ws_a):
        assert Ticket.objects.get(pk=ticket.pk).status == "closed"


def test_outsider_and_readonly(world, customers, ticket):
    oscar = world.client_for(world.oscar)
    assert oscar.get(f"/service/tickets/{ticket.pk}/").status_code == 404
    assert oscar.post(f"/service/tickets/{ticket.pk}/status/", {"status": "closed"}).status_code == 404
    rita = world.client_for(world.rita)
    assert rita.get(f"/service/tickets/{ticket.pk}/").status_code == 200
    assert rita.post(f"/service/tickets/{ticket.pk}/status/", {"status": "closed"}).status_code == 403
    with workspace_context(world.ws_a):
        assert Ticket.objects.get(pk=ticket.pk).status == "new"


def _form_post(client, token, **values):
    stamp = webform.issue_stamp(webform.workspace_for_token(token), now=time.time() - 10)
    return client.post(f"/f/tickets/{token}/", {"ts": stamp, "nonce": "n1", **values})


def test_public_form_creates_customer_and_ticket_once(world, customers):
    cache.clear()
    token = webform.ticket_form_token(world.ws_a)
    c = Client()
    assert c.get(f"/f/tickets/{token}/").status_code == 200
    r = _form_post(c, token, name="赵六", email="Zhao6@Example.com", subject="")
    assert r.status_code == 422 and "subject" in r.context["errors"]
    with workspace_context(world.ws_a):
        assert not Customer.objects.filter(name="赵六").exists()
    r = _form_post(
        c, token, name="赵六", email="Zhao6@Example.com", subject="发票开错了", description="抬头错误"
    )
    assert r.status_code == 200 and "#" in r.content.decode()
    _form_post(c, token, name="赵六", email="Zhao6@Example.com", subject="发票开错了")  # a double submit
    with workspace_context(world.ws_a):
        t = Ticket.objects.get()
        assert t.channel == "web_form" and t.customer.name == "赵六"
        assert t.customer.emails.get().email == "zhao6@example.com"
    r = _form_post(c, token, name="赵六", phone="13800138000", subject="bot", website="http://spam")
    assert r.status_code == 200
    with workspace_context(world.ws_a):
        assert Ticket.objects.count() == 1
    assert Client().get("/f/tickets/forged/").status_code == 404
