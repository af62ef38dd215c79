"""Forecast screens and an expense claim in a real browser (Debian's chromium via Playwright, against a real
`guanxi serve` in embedded mode): file a claim with two items and a receipt and submit it; set a quota in the quota
grid and see it, with its gap, on the forecast page."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.test_import_browser import ARGS, CHROMIUM, ROOT, _free_port, _wait

pytestmark = pytest.mark.browser
OWNER, PASSWORD = "fang", "Forecast-Browser-2026!"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.skip("needs chromium for the browser test: apt-get install -y chromium (CI does)")
    pytest.importorskip("playwright")
    data = tmp_path_factory.mktemp("forecast-browser")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(GUANXI_DATA_DIR=str(data), GUANXI_DATABASE_URL="", GUANXI_REDIS_URL="", GUANXI_BASE_URL=base)
    guanxi = [sys.executable, "-m", "guanxi"]
    subprocess.run([*guanxi, "migrate"], cwd=ROOT, env=env, check=True, timeout=180, capture_output=True)
    subprocess.run([*guanxi, "workspace", "create", "--name", "Browser Forecast", "--owner", OWNER, "--password",
                    PASSWORD], cwd=ROOT, env=env, check=True, timeout=60, capture_output=True)  # fmt: skip
    proc = subprocess.Popen([*guanxi, "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        _wait(f"{base}/healthz", proc)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_claim_and_quota_in_the_browser(server, tmp_path):
    from playwright.sync_api import sync_playwright

    receipt = tmp_path / "发票.pdf"
    receipt.write_bytes(PDF)
    day = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    today = dt.date.today()
    quarter_start = dt.date(today.year, (today.month - 1) // 3 * 3 + 1, 1).isoformat()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
        ctx.set_default_timeout(20_000)
        page = ctx.new_page()
        try:
            page.goto(f"{server}/accounts/login/")
            page.fill("#id_username", OWNER)
            page.fill("#id_password", PASSWORD)
            with page.expect_navigation():
                page.click("form:has(#id_username) button[type=submit]")
            # an expense claim: two items, a receipt, submitted
            page.goto(f"{server}/sales/expenses/new/")
            page.fill("#id_title", "杭州出差")
            page.fill("input[name=spent_on_0]", day)
            page.select_option("select[name=category_0]", "travel")
            page.fill("input[name=amount_0]", "1280.10")
            page.fill("input[name=spent_on_1]", day)
            page.select_option("select[name=category_1]", "meals")
            page.fill("input[name=amount_1]", "0.20")
            with page.expect_navigation():
                page.click("form.card button[type=submit]")
            assert page.locator("#claim-total").inner_text() == "CNY 1280.30", page.locator(
                "body"
            ).inner_text()[:1500]
            page.set_input_files("#id_file", str(receipt))
            with page.expect_navigation():
                page.click("form:has(#id_file) button[type=submit]")
            assert page.get_by_role("link", name="发票.pdf").count() == 1
            with page.expect_navigation():
                page.click("button[value=submit]")
            assert page.locator("#claim-status").inner_text() == "Submitted"
            assert page.locator("#id_file").count() == 0  # no more uploads after submission
            # a quota in the grid, then the forecast shows it with its gap
            page.goto(f"{server}/sales/quotas/?period=quarter&year={today.year}")
            cell = page.locator(f"input[name$='_{quarter_start}']").first
            cell.fill("-5")
            with page.expect_navigation():
                page.click("#quota-grid button[type=submit]")
            assert "The amount cannot be negative." in page.locator("body").inner_text()
            page.locator(f"input[name$='_{quarter_start}']").first.fill("88000")
            with page.expect_navigation():
                page.click("#quota-grid button[type=submit]")
            assert page.locator(f"input[name$='_{quarter_start}']").first.input_value() == "88000.00"
            page.goto(f"{server}/sales/forecast/?period=quarter")
            row = page.locator("#forecast-table tbody tr[data-currency=CNY]").first
            assert row.locator("td.quota").inner_text() == "88000.00"
            assert row.locator("td.gap").inner_text() == "88000.00"
            assert row.locator("td.attainment").inner_text() == "0.0%"
        finally:
            ctx.close()
            browser.close()
