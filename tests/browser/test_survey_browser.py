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


SLA_SETUP = """
import datetime as dt, json
from django.utils import timezone
from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer
from guanxi.service.models import Survey, Ticket
from guanxi.service.services.calendars import sla_policy_create
from guanxi.service.services.surveys import survey_create
from guanxi.service.services.tickets import ticket_create
from guanxi.workspaces.models import Membership, Workspace

ws = Workspace.objects.get(name=%(ws)r)
with workspace_context(ws):
    owner = Membership.objects.get(user__username=%(owner)r)
    if not Survey.objects.filter(send_on_close=True).exists():  # when this test runs alone
        survey_create(actor=owner, name="服务回访", send_on_close=True, questions=[
            {"kind": "rating", "text": "您对本次服务满意吗？"}, {"kind": "nps", "text": "您有多大可能向朋友推荐我们？"}])
    sla_policy_create(actor=owner, name="标准", first_response_minutes=60, resolution_minutes=480, warn_share="0.5")
    customer = Customer.objects.create(name="李莫愁", email="li@example.com")
    ticket = ticket_create(actor=owner, customer=customer, subject="洗衣机漏水", channel="phone",
                           assignee_id=owner.user_id)
    assert ticket.sla_policy_id and ticket.resolution_warn_at, "the policy did not apply"
    # time passes: the resolution warning line (half of 8 business hours) is behind us
    Ticket.objects.filter(pk=ticket.pk).update(resolution_warn_at=timezone.now() - dt.timedelta(minutes=1))
    print(json.dumps({"ticket": ticket.pk}))
"""

SLA_JOB = """
import json
from guanxi.service.tasks import sla_check_all
sla_check_all.call_local()  # the job the worker runs every minute
print(json.dumps({}))
"""

SLA_STATE = """
import json
from guanxi.core.context import workspace_context
from guanxi.service.models import Ticket, TicketMessage
from guanxi.workspaces.models import Workspace

with workspace_context(Workspace.objects.get(name=%(ws)r)):
    t = Ticket.objects.get(pk=%(ticket)d)
    print(json.dumps({
        "warned": t.resolution_warned_at is not None, "status": t.status,
        "replies": list(TicketMessage.objects.filter(ticket=t, kind="reply").values_list("body", flat=True)),
    }))
"""


def test_ticket_sla_warning_reply_close_survey_and_follow_up(server):
    """The whole loop of issue 5's "Done when": ticket -> SLA warning (the minute job) -> the agent sees it and
    replies in the browser -> closes -> the survey mail -> a detractor's answer on the public page -> a follow-up."""
    base, env = server
    ticket = _django(env, SLA_SETUP % {"ws": WS, "owner": OWNER})["ticket"]
    _django(env, SLA_JOB)
    assert _django(env, SLA_STATE % {"ws": WS, "ticket": ticket})["warned"]

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(locale="en-US")
            page.goto(f"{base}/accounts/login/")
            page.fill("#id_username", OWNER)
            page.fill("#id_password", PASSWORD)
            with page.expect_navigation():
                page.click("form.stack button[type=submit]")
            # the queue shows the warning on the ticket's row
            page.goto(f"{base}/service/")
            row = page.locator("tr", has_text="洗衣机漏水")
            assert row.locator(".badge.warn").count() == 1, row.inner_html()
            row.get_by_role("link", name="洗衣机漏水").click()
            page.wait_for_url(f"**/service/tickets/{ticket}/")
            assert page.locator(".badge.warn").first.is_visible()
            page.fill("#m-body", "您好，师傅明天上午上门检修。")
            with page.expect_navigation():
                page.click("button[name=kind][value=reply]")
            assert page.get_by_text("您好，师傅明天上午上门检修。").first.is_visible()
            page.select_option("#a-status", "closed")
            with page.expect_navigation():
                page.locator("form:has(#a-status) button[type=submit]").click()
        finally:
            browser.close()
    state = _django(env, SLA_STATE % {"ws": WS, "ticket": ticket})
    assert state["status"] == "closed" and state["replies"] == ["您好，师傅明天上午上门检修。"]

    # the survey goes out on close; the customer answers as a detractor on the public page
    deadline, link = time.monotonic() + 60, None
    while time.monotonic() < deadline and link is None:
        bodies = _django(env, OUTBOX.replace("zhang@example.com", "li@example.com"))
        found = [re.search(r"(http://\S+/s/[A-Za-z0-9_-]+/)", b) for b in bodies if f"#{ticket}" in b]
        link = next((m.group(1) for m in found if m), None)
        if link is None:
            time.sleep(1)
    assert link, "no survey mail for the ticket arrived"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 375, "height": 740}, locale="zh-CN")
            page.goto(link)
            page.locator("fieldset").nth(0).get_by_label("1", exact=True).check()
            page.locator("fieldset").nth(1).get_by_label("0", exact=True).check()
            page.get_by_role("button").click()
            page.get_by_test_id("survey-thanks").wait_for()
        finally:
            browser.close()
    follow = _django(env, FOLLOWUP % {"ws": WS, "ticket": ticket})
    assert follow["nps"] == 0 and follow["followup"] is not None and follow["followup_channel"] == "survey"


FOLLOWUP = """
import json
from guanxi.core.context import workspace_context
from guanxi.service.models import SurveyInvitation, Ticket
from guanxi.workspaces.models import Workspace

with workspace_context(Workspace.objects.get(name=%(ws)r)):
    inv = SurveyInvitation.objects.get(ticket_id=%(ticket)d)
    follow = Ticket.objects.filter(pk=inv.followup_ticket_id).first()
    print(json.dumps({
        "nps": inv.response.nps if hasattr(inv, "response") else None,
        "followup": inv.followup_ticket_id,
        "followup_channel": follow.channel if follow else None,
    }))
"""
