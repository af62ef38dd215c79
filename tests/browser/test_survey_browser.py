"""Closing the loop in a real browser: a ticket is closed, the satisfaction survey goes out by email, the customer
answers on the public page (no sign-in, phone width) as a detractor, and a follow-up ticket exists. Debian's
chromium, headless, driven by Playwright against a real `guanxi serve` subprocess (embedded mode: the mail job runs
in the server's job threads and the mail lands in the local outbox)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from tests.ops.helpers import CHROMIUM, django_shell, embedded_server

pytestmark = pytest.mark.browser

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
OWNER, PASSWORD, WS = "lan", "Survey-Browser-2026!", "Survey Browser"

SETUP = """
import json
from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer
from guanxi.service.services import surveys as svc
from guanxi.service.services.tickets import ticket_close, ticket_create
from guanxi.workspaces.models import Membership, Workspace

ws = Workspace.objects.get(name=%(ws)r)
with workspace_context(ws):
    owner = Membership.objects.get(user__username=%(owner)r)
    survey = svc.survey_create(actor=owner, name="服务回访", send_on_close=True, questions=[
        {"kind": "rating", "text": "您对本次服务满意吗？"},
        {"kind": "nps", "text": "您有多大可能向朋友推荐我们？"},
        {"kind": "text", "text": "其他建议", "required": False},
    ])
    customer = Customer.objects.create(name="张三丰", email="zhang@example.com")
    ticket = ticket_create(actor=owner, customer=customer, subject="空调不制冷", channel="phone")
    ticket_close(actor=owner, ticket=ticket)
    print(json.dumps({"ticket": ticket.pk}))
"""

OUTBOX = """
import json
from guanxi.accounts.models import OutboxMessage
print(json.dumps([m.body for m in OutboxMessage.objects.filter(recipients__contains="zhang@example.com")]))
"""

RESULT = """
import json
from guanxi.core.context import workspace_context
from guanxi.service.models import SurveyInvitation, SurveyResponse, Ticket
from guanxi.workspaces.models import Workspace

with workspace_context(Workspace.objects.get(name=%(ws)r)):
    inv = SurveyInvitation.objects.get()
    print(json.dumps({
        "responses": SurveyResponse.objects.count(),
        "nps": SurveyResponse.objects.get().nps,
        "followups": list(Ticket.objects.filter(channel="survey").values_list("id", flat=True)),
        "invitation_followup": inv.followup_ticket_id,
    }))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, dict]]:
    data = tmp_path_factory.mktemp("survey-browser")
    yield from embedded_server(data, workspace=WS, owner=OWNER, password=PASSWORD)


def _django(env: dict, code: str) -> object:
    return django_shell(env, code)


def test_closed_ticket_survey_detractor_follow_up(server):
    base, env = server
    ticket = _django(env, SETUP % {"ws": WS, "owner": OWNER})["ticket"]
    # the mail job runs in the server's job threads: wait for the mail in the outbox
    deadline, bodies = time.monotonic() + 60, []
    while time.monotonic() < deadline and not bodies:
        bodies = _django(env, OUTBOX)
        if not bodies:
            time.sleep(1)
    assert bodies, "no survey mail arrived"
    link = re.search(r"(http://\S+/s/[A-Za-z0-9_-]+/)", bodies[0]).group(1)
    assert link.startswith(base) and f"#{ticket}" in bodies[0]

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 375, "height": 740}, locale="zh-CN")
            page.goto(link)
            assert page.get_by_text("您对本次服务满意吗？").is_visible()
            # phone width: nothing wider than the screen
            assert page.evaluate("document.documentElement.scrollWidth") <= 375 + 1
            page.locator("fieldset").nth(0).get_by_label("2", exact=True).check()
            page.locator("fieldset").nth(1).get_by_label("3", exact=True).check()
            page.locator("textarea").fill("等了三天才有人联系")
            page.get_by_role("button").click()
            page.get_by_test_id("survey-thanks").wait_for()
            # the same link again: a clear message, nothing changed
            page.goto(link)
            assert page.get_by_test_id("survey-error").is_visible()
            page.goto(link + "?lang=en")
            assert "already been answered" in page.content()
        finally:
            browser.close()

    result = _django(env, RESULT % {"ws": WS})
    assert result["responses"] == 1 and result["nps"] == 3
    assert len(result["followups"]) == 1 and result["invitation_followup"] == result["followups"][0]
