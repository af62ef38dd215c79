"""The customer portal: a signed, expiring link per customer shows that customer's tickets and replies (never an
internal note), takes their answer and a new ticket; nothing of another customer (same workspace or another one) is
reachable; a forged, altered or expired link is refused and changes nothing."""

from __future__ import annotations

import datetime as dt
import re
import time
from unittest import mock

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from guanxi.core.context import workspace_context
from guanxi.ledger.models import AuditEvent
from guanxi.service import portal
from guanxi.service.models import Ticket, TicketMessage
from guanxi.service.services.complaints import complaint_record, complaint_report_result
from guanxi.service.services.messages import ticket_message_add
from guanxi.service.services.tickets import ticket_create, ticket_set_status
from tests.api.conftest import _fresh_rate_limits, api_for, make_key  # noqa: F401
from tests.api.support import assert_error

pytestmark = pytest.mark.django_db
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


@pytest.fixture
def tickets(world, customers):
    with workspace_context(world.ws_a):
        own = ticket_create(actor=world.alice, customer=customers["sam_c"], subject="张三丰 的路由器坏了")
        ticket_message_add(actor=world.alice, ticket=own, kind="note", body="内部：疑似用户摔坏")
        ticket_message_add(actor=world.alice, ticket=own, kind="reply", body="请重启路由器试试")
        other = ticket_create(actor=world.alice, customer=customers["sue_c"], subject="李四 的账单问题")
    with workspace_context(world.ws_b):
        b_ticket = ticket_create(actor=world.oscar, customer=customers["oscar_c"], subject="Beta 的工单")
    return {"own": own, "other": other, "b": b_ticket}


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def _link(world, customer, days=30) -> str:
    with workspace_context(world.ws_a):
        return _path(portal.portal_link_create(actor=world.alice, customer_id=customer.pk, days=days).url)


def test_the_customer_sees_only_their_own_tickets_and_no_notes(world, customers, tickets):
    home = _link(world, customers["sam_c"])
    c = Client()
    page = c.get(home).content.decode()
    assert "张三丰 的路由器坏了" in page and "李四 的账单问题" not in page and "Beta 的工单" not in page
    detail = c.get(f"{home}tickets/{tickets['own'].pk}/")
    assert detail.status_code == 200
    text = detail.content.decode()
    assert "请重启路由器试试" in text and "内部：疑似用户摔坏" not in text
    # another customer's ticket in the same workspace, and another workspace's ticket: the same 404
    for t in (tickets["other"], tickets["b"]):
        r = c.get(f"{home}tickets/{t.pk}/")
        assert r.status_code == 404 and t.subject not in r.content.decode()
        r = c.post(f"{home}tickets/{t.pk}/", {"body": "我来冒充"})
        assert r.status_code == 404
    with workspace_context(world.ws_a):
        assert not TicketMessage.objects.filter(body="我来冒充").exists()
    with workspace_context(world.ws_b):
        assert not TicketMessage.objects.filter(body="我来冒充").exists()


def test_the_customer_answers_and_opens_a_ticket(world, customers, tickets):
    cache.clear()
    home = _link(world, customers["sam_c"])
    c = Client()
    with workspace_context(world.ws_a):
        ticket_set_status(actor=world.alice, ticket=tickets["own"], status="pending")
    r = c.post(
        f"{home}tickets/{tickets['own'].pk}/",
        {"body": "重启后还是不行", "files": SimpleUploadedFile("照片.png", PNG, content_type="image/png")},
    )
    assert r.status_code == 302
    with workspace_context(world.ws_a):
        t = Ticket.objects.get(pk=tickets["own"].pk)
        msg = t.messages.get(kind="customer")
        assert t.status == "open" and msg.body == "重启后还是不行" and msg.attachments.count() == 1
    r = c.post(f"{home}tickets/{tickets['own'].pk}/", {"body": ""})
    assert r.status_code == 422
    r = c.post(home, {"subject": "", "description": "没有标题"})
    assert r.status_code == 422 and 'id="err-subject"' in r.content.decode()
    r = c.post(home, {"subject": "想加装一台", "description": "客厅", "nonce": "n1"})
    assert r.status_code == 302
    c.post(home, {"subject": "想加装一台", "description": "客厅", "nonce": "n1"})  # resent: the same ticket
    with workspace_context(world.ws_a):
        new = Ticket.objects.get(subject="想加装一台")
        assert new.customer_id == customers["sam_c"].pk and new.channel == "portal"


def test_the_customer_confirms_a_complaint_result(
    world, customers, tickets, django_capture_on_commit_callbacks
):
    with workspace_context(world.ws_a):
        complaint_record(actor=world.alice, ticket=tickets["own"], classification="product")
        with django_capture_on_commit_callbacks(execute=True):
            complaint_report_result(actor=world.alice, ticket=tickets["own"], result="已为您更换新机")
    home = _link(world, customers["sam_c"])
    c = Client()
    url = f"{home}tickets/{tickets['own'].pk}/"
    assert "已为您更换新机" in c.get(url).content.decode()
    assert c.post(url, {"action": "confirm", "satisfied": "yes"}).status_code == 302
    with workspace_context(world.ws_a):
        comp = tickets["own"].complaint
        comp.refresh_from_db()
        assert comp.customer_satisfied is True


def test_forged_altered_and_expired_links_are_refused(world, customers, tickets):
    home = _link(world, customers["sam_c"], days=1)
    token = home.rstrip("/").rsplit("/", 1)[1]
    c = Client()
    assert c.get("/f/portal/not-a-valid-token/").status_code == 404
    # another customer id under the same signature
    assert c.get(home.replace(token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))).status_code == 404
    forged = portal.portal_token(workspace_id=world.ws_a.pk, customer_id=customers["sue_c"].pk).replace(
        ":", ";", 1
    )
    assert c.get(f"/f/portal/{forged}/").status_code == 404
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    with mock.patch("django.core.signing.time.time", return_value=later.timestamp()):
        r = c.get(home)
        assert r.status_code == 404 and "expired" in r.content.decode()
        r = c.post(home, {"subject": "过期后提交"})
        assert r.status_code == 404
    with workspace_context(world.ws_a):
        assert not Ticket.objects.filter(subject="过期后提交").exists()
    assert c.get(home).status_code == 200  # still good within its day


def test_making_a_link(world, customers, api_for):  # noqa: F811
    api = api_for(world.alice)
    r = api.post(f"/customers/{customers['sam_c'].pk}/portal-link", {"days": 7})
    assert r.status_code == 201 and "/f/portal/" in r.json()["url"]
    assert Client().get(_path(r.json()["url"])).status_code == 200
    body = assert_error(
        api.post(f"/customers/{customers['sam_c'].pk}/portal-link", {"days": 0}), 422, "validation_error"
    )
    assert [f["field"] for f in body["fields"]] == ["days"]
    assert_error(
        api_for(world.oscar).post(f"/customers/{customers['sam_c'].pk}/portal-link", {}), 404, "not_found"
    )
    assert_error(
        api_for(world.rita).post(f"/customers/{customers['sam_c'].pk}/portal-link", {}), 403, "forbidden"
    )
    page = world.client_for(world.alice).post(f"/service/customers/{customers['sam_c'].pk}/portal-link/")
    assert page.status_code == 200 and "/f/portal/" in page.content.decode()
    assert world.client_for(world.oscar).post(
        f"/service/customers/{customers['sam_c'].pk}/portal-link/"
    ).status_code in (
        403,
        404,
    )


def test_withdrawing_a_customers_links(world, customers, tickets, api_for):  # noqa: F811
    """A withdrawn link answers 404 saying so, and changes nothing; a link made afterwards works; another customer's
    link is untouched; only members with service edit rights in the workspace may withdraw; audited."""
    old = _link(world, customers["sam_c"])
    other = _link(world, customers["sue_c"])
    c = Client()
    assert c.get(old).status_code == 200
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 5):
        older = _link(world, customers["sam_c"])  # made five seconds ago
    assert_error(
        api_for(world.rita).post(f"/customers/{customers['sam_c'].pk}/portal-link/revoke"), 403, "forbidden"
    )
    assert_error(
        api_for(world.oscar).post(f"/customers/{customers['sam_c'].pk}/portal-link/revoke"), 404, "not_found"
    )
    assert c.get(old).status_code == 200  # refused attempts changed nothing

    r = api_for(world.alice).post(f"/customers/{customers['sam_c'].pk}/portal-link/revoke")
    assert r.status_code == 200 and r.json()["revoked_at"]
    for link in (old, older):
        page = c.get(link)
        assert page.status_code == 404 and "withdrawn" in page.content.decode()
    r = c.post(old, {"subject": "撤销后提交"})
    assert r.status_code == 404
    with workspace_context(world.ws_a):
        assert not Ticket.objects.filter(subject="撤销后提交").exists()
        assert AuditEvent.objects.filter(
            action="portal.revoke", object_id=str(customers["sam_c"].pk)
        ).exists()
    assert c.get(other).status_code == 200  # another customer's link still works

    with mock.patch("django.core.signing.time.time", return_value=time.time() + 2):
        fresh = _link(world, customers["sam_c"])  # made after the withdrawal
    with mock.patch("django.core.signing.time.time", return_value=time.time() + 3):
        assert c.get(fresh).status_code == 200

    # the page: a confirmation first (GET changes nothing), then the POST withdraws
    web = world.client_for(world.alice)
    url = f"/service/customers/{customers['sue_c'].pk}/portal-link/revoke/"
    confirm = web.get(url)
    assert confirm.status_code == 200 and "portal-revoke-confirm" in confirm.content.decode()
    assert c.get(other).status_code == 200
    assert web.post(url).status_code == 302
    assert c.get(other).status_code == 404
