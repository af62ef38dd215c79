"""An email thread round-trips through real mail servers with the agent working in a real browser (issue 7, done
when): a customer's mail lands in a Dovecot IMAP mailbox; the mailbox is polled (the supervisor's "poll now" API,
as the minute job does) in the server process; the offer pops in the agent's console with the customer's card; she
accepts and answers with Ctrl+Enter; the answer reaches the SMTP server (aiosmtpd) once, threaded with In-Reply-To
and References; the customer's answer to it, delivered to Dovecot, joins the same conversation on the open console.

Debian's chromium, headless, driven by Playwright against a real `guanxi serve` subprocess (embedded mode).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage as Mail
from pathlib import Path

import pytest

from tests.browser.test_flow import CHROMIUM, CHROMIUM_ARGS
from tests.channels.mailservers import (
    IMAP_PASSWORD,
    IMAP_USER,
    start_dovecot,
    start_smtp,
    stop_dovecot,
)
from tests.ops.helpers import ROOT, free_port, stop, sub_env, wait_http

pytestmark = pytest.mark.browser

OWNER, AGENT, PASSWORD = "olga", "alice", "Email-Flow-2026!x"
WAIT_S = 10

SETUP = """
import json
from guanxi.channels import email as channel_email
from guanxi.contact_center import routing
from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer
from guanxi.workspaces.apikeys import apikey_create
from guanxi.workspaces.models import Membership, Role, User, Workspace

ws = Workspace.objects.get()
with workspace_context(ws):
    owner = Membership.objects.get(user__username=OWNER)
    user = User.objects.create_user(username=AGENT, password=PASSWORD)
    alice = Membership.objects.create(user=user, role=Role.SERVICE)
    queue = routing.queue_create(actor=owner, name="邮件队列", reservation_timeout=600)
    routing.workflow_create(actor=owner, name="邮件流程", is_default=True, steps=[{"queue_id": queue.pk}])
    routing.agent_configure(actor=owner, member=alice, queue_ids=[queue.pk])
    wang = Customer.objects.create(name="王小明", email="wang.xm@kehu.cn", owner=owner.user)
    channel_email.email_account_create(
        actor=owner, name="Acme 客服", address=IMAP_USER, imap_host="127.0.0.1", imap_port=IMAP_PORT,
        imap_security="none", imap_user=IMAP_USER, imap_password=IMAP_PASSWORD,
        smtp_host="127.0.0.1", smtp_port=SMTP_PORT, smtp_security="none",
    )
    _k, key = apikey_create(actor=owner, name="mail poller", scopes=["read", "write"])
    print(json.dumps({"key": key, "customer": wang.pk}))
"""

RESULT = """
import json
from guanxi.channels.models import EmailMessage
from guanxi.contact_center.models import Conversation
from guanxi.core.context import workspace_context
from guanxi.workspaces.models import Workspace

with workspace_context(Workspace.objects.get()):
    convs = list(Conversation.objects.all())
    conv = convs[0]
    print(json.dumps({
        "conversations": len(convs),
        "channel": conv.channel,
        "messages": list(conv.messages.filter(kind="message").order_by("id").values_list("direction", "body")),
        "mail": sorted(EmailMessage.objects.values_list("direction", "status")),
    }))
"""


@pytest.fixture(scope="module")
def mail() -> Iterator[tuple]:
    dovecot = start_dovecot()
    sink = start_smtp()
    try:
        yield dovecot, sink
    finally:
        sink.controller.stop()
        stop_dovecot(dovecot)


@pytest.fixture(scope="module")
def server(tmp_path_factory, mail) -> Iterator[tuple[str, dict, dict]]:
    if not Path(CHROMIUM).exists():
        pytest.skip("needs chromium for the browser test: apt-get install -y chromium (CI does)")
    pytest.importorskip("playwright")
    dovecot, sink = mail
    data = tmp_path_factory.mktemp("email-browser")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = sub_env(
        GUANXI_DATA_DIR=str(data), GUANXI_DATABASE_URL="", GUANXI_REDIS_URL="", GUANXI_BASE_URL=base
    )
    gx = [sys.executable, "-m", "guanxi"]
    run = {"cwd": ROOT, "env": env, "check": True, "timeout": 180, "capture_output": True}
    subprocess.run([*gx, "migrate"], **run)
    subprocess.run(
        [*gx, "workspace", "create", "--name", "星河 Service", "--owner", OWNER, "--password", PASSWORD],
        **run,
    )
    setup = (
        f"OWNER, AGENT, PASSWORD = {OWNER!r}, {AGENT!r}, {PASSWORD!r}\n"
        f"IMAP_USER, IMAP_PASSWORD = {IMAP_USER!r}, {IMAP_PASSWORD!r}\n"
        f"IMAP_PORT, SMTP_PORT = {dovecot.port}, {sink.port}\n" + SETUP
    )
    out = subprocess.run([*gx, "manage", "shell", "-c", setup], text=True, **run)
    made = json.loads(out.stdout.strip().splitlines()[-1])
    proc = subprocess.Popen([*gx, "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_http(f"{base}/healthz", proc)
        yield base, env, made
    finally:
        stop(proc)


def _poll(base: str, key: str) -> list[dict]:
    """The supervisor's "poll the mailboxes now": fetch new mail and send the waiting replies, in the server."""
    req = urllib.request.Request(
        f"{base}/api/v1/channels/email/poll", data=b"{}", method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def _mail(*, msgid: str, subject: str, body: str, **headers: str) -> Mail:
    m = Mail()
    m["From"] = "王小明 <wang.xm@kehu.cn>"
    m["To"] = IMAP_USER
    m["Subject"] = subject
    m["Message-ID"] = msgid
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    m.set_content(body)
    return m


def test_an_email_thread_round_trips_with_the_agent_in_the_browser(server, mail):
    base, env, made = server
    dovecot, sink = mail
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            ctx = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
            ctx.set_default_timeout(20_000)
            page = ctx.new_page()
            page.goto(f"{base}/accounts/login/")
            page.fill("#id_username", AGENT)
            page.fill("#id_password", PASSWORD)
            with page.expect_navigation():
                page.click("form:has(#id_username) button[type=submit]")
            page.goto(f"{base}/contact-center/")
            expect(page.get_by_test_id("cc-live")).to_have_attribute("data-state", "on")
            page.get_by_test_id("cc-available").click()
            expect(page.get_by_test_id("cc-presence")).to_have_attribute("data-presence", "available")

            # the customer's mail arrives in the IMAP mailbox; the poll turns it into an offer for alice
            dovecot.deliver(_mail(msgid="<q1@kehu.cn>", subject="空调不制冷", body="我家的空调不制冷了。"))
            [polled] = _poll(base, made["key"])
            assert (polled["fetched"], polled["stored"], polled["error"]) == (1, 1, "")
            offer = page.get_by_test_id("cc-offer")
            offer.wait_for(timeout=WAIT_S * 1000)
            expect(offer.get_by_test_id("cc-pop-name")).to_have_text("王小明")
            expect(offer.get_by_test_id("cc-pop-name")).to_have_attribute(
                "href", f"/customers/{made['customer']}/"
            )

            page.locator("body").press("a")
            task = page.get_by_test_id("cc-task")
            expect(task.get_by_test_id("cc-messages")).to_contain_text("我家的空调不制冷了")
            expect(task.get_by_test_id("cc-reply")).to_be_focused()
            page.keyboard.type("您好，师傅明天上午到。")
            page.keyboard.press("Control+Enter")
            expect(task.get_by_test_id("cc-messages")).to_contain_text("师傅明天上午到")

            # the answer goes out by SMTP: at once on commit, or by the next poll (the minute job): once either way
            deadline = time.monotonic() + 3
            while not sink.received and time.monotonic() < deadline:
                time.sleep(0.1)
            _poll(base, made["key"])
            [sent] = sink.received
            out = sent["msg"]
            assert sent["rcpt_tos"] == ["wang.xm@kehu.cn"]
            assert out["In-Reply-To"] == "<q1@kehu.cn>" and out["References"] == "<q1@kehu.cn>"
            assert out["Subject"] == "Re: 空调不制冷" and IMAP_USER in out["From"]
            assert out.get_content().strip() == "您好，师傅明天上午到。"

            # the customer answers that mail: it joins the conversation open on alice's console
            dovecot.deliver(
                _mail(msgid="<q2@kehu.cn>", subject="Re: 空调不制冷", body="好的，谢谢！",
                      In_Reply_To=out["Message-ID"], References=f"<q1@kehu.cn> {out['Message-ID']}")
            )  # fmt: skip
            [polled] = _poll(base, made["key"])
            assert (polled["fetched"], polled["stored"]) == (1, 1)
            expect(task.get_by_test_id("cc-messages")).to_contain_text("好的，谢谢！", timeout=WAIT_S * 1000)
            assert len(sink.received) == 1  # polling again sent nothing twice
        finally:
            browser.close()

    got = subprocess.run(
        [sys.executable, "-m", "guanxi", "manage", "shell", "-c", RESULT],
        cwd=ROOT, env=env, check=True, timeout=120, capture_output=True, text=True,
    )  # fmt: skip
    result = json.loads(got.stdout.strip().splitlines()[-1])
    assert result["conversations"] == 1 and result["channel"] == "email"
    assert result["messages"] == [
        ["in", "我家的空调不制冷了。"], ["out", "您好，师傅明天上午到。"], ["in", "好的，谢谢！"],
    ]  # fmt: skip
    assert result["mail"] == [["in", "received"], ["in", "received"], ["out", "sent"]]
