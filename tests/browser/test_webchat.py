"""Web chat in a real browser (issue 7 item 5, done-when): a visitor on a website (another origin, a test page that
embeds the widget with one script tag) starts a chat; it is routed to the agent with the widget's skill (two agents
available, only bob speaks English), who sees the offer and the screen pop with the matched customer, accepts and
answers; the visitor sees the answer live, writes again, and the agent sees it.

Debian's chromium, headless, driven by Playwright against a real `guanxi serve` subprocess (embedded mode).
"""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.test_flow import CHROMIUM, CHROMIUM_ARGS
from tests.ops.helpers import ROOT, free_port, stop, sub_env, wait_http

pytestmark = pytest.mark.browser

OWNER, ALICE, BOB, PASSWORD = "olga", "alice", "bob", "Webchat-Flow-2026!x"

SETUP = """
import json
from guanxi.contact_center import routing
from guanxi.contact_center.models import Presence
from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer
from guanxi.webchat.services import widget_create
from guanxi.workspaces.models import Membership, Role, User, Workspace

ws = Workspace.objects.get()
with workspace_context(ws):
    owner = Membership.objects.get(user__username=OWNER)
    members = {}
    for name in (ALICE, BOB):
        user = User.objects.create_user(username=name, password=PASSWORD, first_name=name.title())
        members[name] = Membership.objects.create(user=user, role=Role.SERVICE)
    queue = routing.queue_create(actor=owner, name="Website", reservation_timeout=120)
    routing.workflow_create(actor=owner, name="default", is_default=True, steps=[{"queue_id": queue.pk}])
    routing.skill_get_or_create(actor=owner, name="English")
    routing.agent_configure(actor=owner, member=members[ALICE], queue_ids=[queue.pk])
    routing.agent_configure(actor=owner, member=members[BOB], queue_ids=[queue.pk], skills={"English": 7})
    routing.agent_set_presence(actor=members[ALICE], presence=Presence.AVAILABLE)
    ann = Customer.objects.create(name="Ann Lee", email="ann@example.com", owner=owner.user)
    w = widget_create(actor=owner, name="Site", queue_id=queue.pk, skills=[{"skill": "English", "min_level": 3}],
                      allowed_origins=[SITE])
    print(json.dumps({"key": w.public_key, "customer": ann.pk}))
"""

RESULT = """
import json
from guanxi.contact_center.models import Conversation, Reservation, Task
from guanxi.core.context import workspace_context
from guanxi.workspaces.models import Workspace

with workspace_context(Workspace.objects.get()):
    conv = Conversation.objects.get(external_id__startswith="webchat:")
    task = Task.objects.get(conversation=conv)
    print(json.dumps({
        "agent": task.agent.user.username,
        "offered_to": sorted(Reservation.objects.filter(task=task).values_list("agent__user__username", flat=True)),
        "customer": conv.customer_id,
        "messages": list(conv.messages.filter(kind="message").order_by("id").values_list("direction", "body")),
    }))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, str, dict, dict]]:
    if not Path(CHROMIUM).exists():
        pytest.skip("needs chromium for the browser test: apt-get install -y chromium (CI does)")
    pytest.importorskip("playwright")
    data = tmp_path_factory.mktemp("webchat-browser")
    port, site_port = free_port(), free_port()
    base, site = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{site_port}"
    env = sub_env(
        GUANXI_DATA_DIR=str(data), GUANXI_DATABASE_URL="", GUANXI_REDIS_URL="", GUANXI_BASE_URL=base
    )
    gx = [sys.executable, "-m", "guanxi"]
    run = {"cwd": ROOT, "env": env, "check": True, "timeout": 180, "capture_output": True}
    subprocess.run([*gx, "migrate"], **run)
    subprocess.run(
        [*gx, "workspace", "create", "--name", "Star Shop", "--owner", OWNER, "--password", PASSWORD], **run
    )
    consts = f"SITE={site!r}\nOWNER={OWNER!r}\nALICE={ALICE!r}\nBOB={BOB!r}\nPASSWORD={PASSWORD!r}\n"
    out = subprocess.run([*gx, "manage", "shell", "-c", consts + SETUP], text=True, **run)
    made = json.loads(out.stdout.strip().splitlines()[-1])

    # the customer's website: another origin, one script tag
    www = tmp_path_factory.mktemp("site")
    (www / "index.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Star Shop</title></head>'
        f'<body><h1>Star Shop</h1><script src="{base}/webchat/widget.js" data-key="{made["key"]}" async>'
        "</script></body></html>",
        encoding="utf-8",
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", site_port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    proc = subprocess.Popen([*gx, "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_http(f"{base}/healthz", proc)
        yield base, site, env, made
    finally:
        stop(proc)
        httpd.shutdown()


def test_a_widget_chat_reaches_the_skilled_agent_who_answers(server):
    base, site, env, made = server
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            agent_ctx = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
            agent_ctx.set_default_timeout(20_000)
            agent = agent_ctx.new_page()
            agent.goto(f"{base}/accounts/login/")
            agent.fill("#id_username", BOB)
            agent.fill("#id_password", PASSWORD)
            with agent.expect_navigation():
                agent.click("form:has(#id_username) button[type=submit]")
            agent.goto(f"{base}/contact-center/")
            expect(agent.get_by_role("heading", name="坐席工作台")).to_be_visible()
            expect(agent.get_by_test_id("cc-live")).to_have_attribute("data-state", "on")
            agent.get_by_test_id("cc-available").click()
            expect(agent.get_by_test_id("cc-presence")).to_have_attribute("data-presence", "available")

            visitor_ctx = browser.new_context(locale="en-US")
            visitor_ctx.set_default_timeout(20_000)
            visitor = visitor_ctx.new_page()
            visitor.goto(f"{site}/index.html")
            visitor.get_by_test_id("gx-launch").click()
            expect(visitor.get_by_test_id("gx-status")).to_have_text("An agent is online. Start the chat.")
            visitor.get_by_test_id("gx-name").fill("Ann")
            visitor.get_by_test_id("gx-email").fill("ann@example.com")
            visitor.get_by_test_id("gx-first").fill("Hello, where is my parcel?")
            visitor.get_by_test_id("gx-start").click()
            expect(visitor.get_by_test_id("gx-msg-mine")).to_have_text("YouHello, where is my parcel?")

            # bob (the English speaker) gets the offer with the screen pop of the matched customer
            offer = agent.get_by_test_id("cc-offer")
            offer.wait_for(timeout=10_000)
            expect(offer.get_by_test_id("cc-pop").get_by_test_id("cc-pop-name")).to_have_text("Ann Lee")
            expect(visitor.get_by_test_id("gx-status")).to_have_text("Connecting you to an agent…")
            agent.locator("body").press("a")
            task = agent.get_by_test_id("cc-task")
            expect(task.get_by_test_id("cc-messages")).to_contain_text("Hello, where is my parcel?")
            expect(visitor.get_by_test_id("gx-status")).to_have_text("Bob is answering you.")
            agent.keyboard.type("It ships today.")
            agent.keyboard.press("Control+Enter")

            # the visitor sees the answer live, and answers back
            expect(visitor.get_by_test_id("gx-msg-agent")).to_have_text("BobIt ships today.", timeout=10_000)
            visitor.get_by_test_id("gx-input").fill("Great, thanks!")
            visitor.get_by_test_id("gx-input").press("Enter")
            expect(task.get_by_test_id("cc-messages")).to_contain_text("Great, thanks!", timeout=10_000)
            expect(visitor.locator("[data-testid=gx-msg-mine].pending")).to_have_count(0)
        finally:
            browser.close()

    out = subprocess.run(
        [sys.executable, "-m", "guanxi", "manage", "shell", "-c", RESULT],
        cwd=ROOT, env=env, check=True, timeout=120, capture_output=True, text=True,
    )  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["agent"] == BOB and result["offered_to"] == [BOB]  # alice was available but lacks English
    assert result["customer"] == made["customer"]
    assert result["messages"] == [
        ["in", "Hello, where is my parcel?"], ["out", "It ships today."], ["in", "Great, thanks!"],
    ]  # fmt: skip
