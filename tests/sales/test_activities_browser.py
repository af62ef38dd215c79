"""Activities in a real browser: create an activity from the customer 360 page, find it in the calendar (moving
there by keyboard), complete it, and find it on the customer's timeline. Debian's chromium, headless, driven by
Playwright against a real `guanxi serve` subprocess (embedded mode, temp data folder)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.ops.helpers import ROOT, free_port, stop, sub_env, wait_http

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
OWNER, PASSWORD = "mei", "Activity-Browser-2026!"
RESULTS = ROOT / "test-results"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.skip("needs chromium for the browser test: apt-get install -y chromium (CI does)")
    pytest.importorskip("playwright")
    data = tmp_path_factory.mktemp("activities-browser")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = sub_env(
        GUANXI_DATA_DIR=str(data), GUANXI_DATABASE_URL="", GUANXI_REDIS_URL="", GUANXI_BASE_URL=base
    )
    guanxi = [sys.executable, "-m", "guanxi"]
    subprocess.run([*guanxi, "migrate"], cwd=ROOT, env=env, check=True, timeout=180, capture_output=True)
    subprocess.run([*guanxi, "workspace", "create", "--name", "Activity Co", "--owner", OWNER, "--password",
                    PASSWORD], cwd=ROOT, env=env, check=True, timeout=60, capture_output=True)  # fmt: skip
    proc = subprocess.Popen([*guanxi, "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_http(f"{base}/healthz", proc)
        yield base
    finally:
        stop(proc)


def test_create_see_in_calendar_complete_and_find_on_timeline(server):
    from playwright.sync_api import expect, sync_playwright

    due = (dt.datetime.now(ZoneInfo("Asia/Shanghai")) + dt.timedelta(days=2)).replace(
        hour=10, minute=30, second=0, microsecond=0
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        ctx.set_default_timeout(20_000)
        page = ctx.new_page()
        try:
            page.goto(f"{server}/accounts/login/")
            page.fill("#id_username", OWNER)
            page.fill("#id_password", PASSWORD)
            with page.expect_navigation():
                page.click("form:has(#id_username) button[type=submit]")
            # a customer to work with
            page.goto(f"{server}/customers/new/")
            page.fill("#id_name", "陈小明")
            with page.expect_navigation():
                page.click("main form button[type=submit]:not([name])")
            customer_url = page.url
            assert "/customers/" in customer_url, page.locator("body").inner_text()[:1500]
            # create the activity from the 360 page
            with page.expect_navigation():
                page.get_by_test_id("add-activity").click()
            page.select_option("#id_kind", "meeting")
            page.fill("#id_subject", "季度复盘会")
            page.fill("#id_due_at", due.strftime("%Y-%m-%dT%H:%M"))
            page.fill("#id_ends_at", (due + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
            page.fill("#id_location", "上海办公室")
            with page.expect_navigation():
                page.click("form[data-activity-form] button[type=submit]")
            assert page.url == customer_url, page.locator("body").inner_text()[:1500]
            assert page.get_by_text("季度复盘会").count() >= 1
            # the calendar: today's month, then by keyboard to the activity's day
            page.goto(f"{server}/sales/activities/calendar/?date={due.date().isoformat()}")
            item = page.locator("[data-testid^=cal-activity-]")
            assert item.count() == 1 and "季度复盘会" in item.inner_text()
            cell = page.locator(f"td[data-date='{due.date().isoformat()}']")
            assert cell.get_attribute("tabindex") == "0"
            cell.focus()
            page.keyboard.press("ArrowRight")
            nxt = (due.date() + dt.timedelta(days=1)).isoformat()
            focused = page.evaluate("document.activeElement.dataset.date")
            if focused is None:  # the next day was in another month: the page moved there
                page.wait_for_load_state()
                focused = page.evaluate("document.activeElement.dataset.date")
            assert focused == nxt
            page.keyboard.press("ArrowLeft")
            page.wait_for_load_state()
            assert page.evaluate("document.activeElement.dataset.date") == due.date().isoformat()
            with page.expect_navigation():
                page.keyboard.press("Enter")  # the day's week
            assert "view=week" in page.url
            with page.expect_navigation():
                page.locator("[data-testid^=cal-activity-]").first.click()
            # complete it
            page.fill("#id_outcome", "确定明年续约")
            with page.expect_navigation():
                page.get_by_test_id("complete-activity").click()
            assert page.get_by_test_id("activity-status").inner_text().strip() == "Done"
            # on the customer's timeline
            page.goto(customer_url)
            timeline = page.locator("#timeline").inner_text()
            assert "季度复盘会" in timeline and "确定明年续约" in timeline
            # and in 简体中文 the calendar speaks Chinese
            page.goto(f"{server}/sales/activities/calendar/")
            with page.expect_navigation():
                page.select_option("[data-testid=language-switch]", "zh-hans")
            expect(page.locator("h1")).to_contain_text("日历")
        except Exception:
            RESULTS.mkdir(exist_ok=True)
            page.screenshot(path=str(RESULTS / "activities-browser-failure.png"), full_page=True)
            raise
        finally:
            ctx.close()
