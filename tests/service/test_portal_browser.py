"""The customer portal in a real browser, at phone width and in Chinese: a customer opens their signed link, sees only
their own ticket (not another customer's), confirms the result of their complaint, writes an answer and opens a new
ticket; the agent side then has the confirmation, the answer and the new portal ticket. Debian's chromium, headless,
driven by Playwright against a real `guanxi serve` subprocess (embedded mode)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.helpers import free_port, wait_http

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
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
    if not Path(CHROMIUM).exists():
        pytest.skip("needs chromium for the browser test: apt-get install -y chromium (CI does)")
    pytest.importorskip("playwright")
    data = tmp_path_factory.mktemp("portal-browser")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(GUANXI_DATA_DIR=str(data), GUANXI_DATABASE_URL="", GUANXI_REDIS_URL="", GUANXI_BASE_URL=base)
    guanxi = [sys.executable, "-m", "guanxi"]
    subprocess.run([*guanxi, "migrate"], cwd=ROOT, env=env, check=True, timeout=300, capture_output=True)
    subprocess.run([*guanxi, "workspace", "create", "--name", WS, "--owner", OWNER, "--password", PASSWORD],
                   cwd=ROOT, env=env, check=True, timeout=60, capture_output=True)  # fmt: skip
    proc = subprocess.Popen([*guanxi, "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_http(f"{base}/healthz", proc, timeout=90)
        yield base, env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _django(env: dict, code: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "guanxi", "manage", "shell", "-c", code],
        cwd=ROOT, env=env, check=True, timeout=120, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


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
