"""The customer portal in a real browser, at phone width and in Chinese: a customer opens their signed link, sees only
their own ticket (not another customer's), confirms the result of their complaint, writes an answer and opens a new
ticket; the agent side then has the confirmation, the answer and the new portal ticket. Debian's chromium, headless,
driven by Playwright against a real `guanxi serve` subprocess (embedded mode)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.ops.helpers import CHROMIUM, django_shell, embedded_server

pytestmark = pytest.mark.browser

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
OWNER, PASSWORD, WS = "mei", "Portal-Browser-2026!", "Portal Browser"

SETUP = """
import json
from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer
from guanxi.service import portal
from guanxi.service.services.complaints import complaint_record, complaint_report_result
from guanxi.service.services.messages import ticket_message_add
from guanxi.service.services.tickets import ticket_create
from guanxi.workspaces.models import Membership, Workspace

ws = Workspace.objects.get(name=%(ws)r)
with workspace_context(ws):
    owner = Membership.objects.get(user__username=%(owner)r)
    zhang = Customer.objects.create(name="张三丰", email="zhang@example.com")
    li = Customer.objects.create(name="李四", email="li@example.com")
    mine = ticket_create(actor=owner, customer=zhang, subject="冰箱不制冷", channel="phone")
    ticket_message_add(actor=owner, ticket=mine, kind="note", body="内部备注：压缩机批次有问题")
    complaint_record(actor=owner, ticket=mine, classification="product", severity="major")
    complaint_report_result(actor=owner, ticket=mine, result="已为您上门更换压缩机")
    other = ticket_create(actor=owner, customer=li, subject="李四的发票问题", channel="phone")
    link = portal.portal_link_create(actor=owner, customer_id=zhang.pk, days=7)
    print(json.dumps({"mine": mine.pk, "other": other.pk, "url": link.url}))
"""

RESULT = """
import json
from guanxi.core.context import workspace_context
from guanxi.service.models import Complaint, Ticket, TicketMessage
from guanxi.workspaces.models import Workspace

with workspace_context(Workspace.objects.get(name=%(ws)r)):
    c = Complaint.objects.get(ticket_id=%(mine)s)
    print(json.dumps({
        "satisfied": c.customer_satisfied,
        "answers": list(TicketMessage.objects.filter(ticket_id=%(mine)s, kind="customer").values_list("body", flat=True)),
        "new": list(Ticket.objects.filter(channel="portal").values_list("subject", "customer__name")),
    }, ensure_ascii=False))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, dict]]:
    data = tmp_path_factory.mktemp("portal-browser")
    yield from embedded_server(data, workspace=WS, owner=OWNER, password=PASSWORD)


def _django(env: dict, code: str) -> dict:
    return django_shell(env, code)


def test_customer_portal_flow(server):
    base, env = server
    made = _django(env, SETUP % {"ws": WS, "owner": OWNER})
    link = made["url"]
    assert link.startswith(base) and "/f/portal/" in link

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 375, "height": 740}, locale="zh-CN")
            page.goto(link)
            assert page.get_by_role("link", name="冰箱不制冷").is_visible()
            assert "李四的发票问题" not in page.content()
            assert page.evaluate("document.documentElement.scrollWidth") <= 375 + 1
            page.get_by_role("link", name="冰箱不制冷").click()
            page.get_by_text("已为您上门更换压缩机").first.wait_for()
            assert "内部备注" not in page.content()
            page.get_by_role("button", name="满意", exact=True).click()
            page.wait_for_load_state()
            assert page.get_by_role("button", name="满意", exact=True).count() == 0  # asked once
            page.locator("#id_body").fill("谢谢，现在正常了")
            page.get_by_role("button", name="提交").click()
            page.get_by_text("谢谢，现在正常了").wait_for()
            # another customer's ticket by its number: not found
            other = page.goto(link + f"tickets/{made['other']}/")
            assert other is not None and other.status == 404 and "李四的发票问题" not in page.content()
            page.goto(link)
            page.locator("#id_subject").fill("想再买一台")
            page.locator("#id_description").fill("请联系我")
            page.get_by_role("button", name="提交").click()
            page.get_by_role("heading", name=re.compile("想再买一台")).wait_for()
        finally:
            browser.close()

    result = _django(env, RESULT % {"ws": WS, "mine": made["mine"]})
    assert result["satisfied"] is True
    assert result["answers"] == ["谢谢，现在正常了"]
    assert result["new"] == [["想再买一台", "张三丰"]]
