"""Lead to cash in a real browser (issue 4's "done when"):

lead -> conversion -> opportunity dragged across kanban stages (a stage gate refuses a skip and the card goes back)
-> quote with a discount above the salesperson's limit -> a manager approves it -> PDF -> accepted -> order ->
partial return; then the customer's timeline shows every step and the forecast shows the deal as best case and
weighted pipeline in its close month, then as won once it is moved to 赢单, with numbers worked out here
independently.

Debian's chromium, headless, driven by Playwright against a real `guanxi serve` subprocess (embedded mode).
Two people: sam (sales, may give at most 10 % discount without approval) and the owner olga, who approves.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.browser.test_flow import CHROMIUM, CHROMIUM_ARGS, RESULTS
from tests.ops.helpers import ROOT, free_port, stop, sub_env, wait_http

pytestmark = pytest.mark.browser

OWNER, SALES, PASSWORD = "olga", "sam", "Sales-Flow-2026!x"
CENT = Decimal("0.01")

SETUP = f"""
from guanxi.core.context import workspace_context
from guanxi.workspaces.models import Membership, Role, User, Workspace
ws = Workspace.objects.get()  # the only one
with workspace_context(ws):
    user = User.objects.create_user(username={SALES!r}, password={PASSWORD!r}, email="sam@example.com")
    Membership.objects.create(user=user, role=Role.SALES)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.skip("needs chromium for the browser test: apt-get install -y chromium (CI does)")
    pytest.importorskip("playwright")
    data = tmp_path_factory.mktemp("sales-browser")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = sub_env(
        GUANXI_DATA_DIR=str(data), GUANXI_DATABASE_URL="", GUANXI_REDIS_URL="", GUANXI_BASE_URL=base
    )
    gx = [sys.executable, "-m", "guanxi"]
    run = {"cwd": ROOT, "env": env, "check": True, "timeout": 180, "capture_output": True}
    subprocess.run([*gx, "migrate"], **run)
    subprocess.run(
        [*gx, "workspace", "create", "--name", "星河 Sales", "--owner", OWNER, "--password", PASSWORD], **run
    )
    subprocess.run([*gx, "manage", "shell", "-c", SETUP], **run)
    proc = subprocess.Popen(
        [*gx, "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_http(f"{base}/healthz", proc)
        yield base
    finally:
        stop(proc)


def _login(browser, base: str, username: str):  # type: ignore[no-untyped-def]
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("form:has(#id_username) button[type=submit]")
    return page


def _submit(page, selector: str) -> None:  # type: ignore[no-untyped-def]
    with page.expect_navigation():
        page.click(selector)


# the default pipeline, named in the workspace's language (Chinese here): 初步接触 10 %, 需求确认 30 % (needs amount),
# 方案报价 60 % (amount, close date), 商务谈判 80 % (also competitors), 赢单, 输单
CONTACT, NEEDS, PROPOSAL, NEGOTIATION, WON = 0, 1, 2, 3, 4


def _column(page, index: int):  # type: ignore[no-untyped-def]
    return page.locator("section[data-stage]").nth(index)


def _money(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def test_lead_to_cash(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the workspace's time zone decides periods
    close = today + timedelta(days=30)
    RESULTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        sam = _login(browser, server, SALES)
        olga = _login(browser, server, OWNER)
        try:
            # 1. a lead, by hand
            sam.goto(f"{server}/sales/leads/new/")
            sam.fill("#id_name", "周杰")
            sam.fill("#id_company", "星河电子")
            sam.fill("#id_phone", "13912345678")
            sam.fill("#id_email", "zhoujie@xinghe.example")
            _submit(sam, "form.card button[type=submit]")
            assert "/sales/leads/" in sam.url, sam.locator("body").inner_text()[:1500]

            # 2. converted into customer + opportunity (no existing customer matches, so "new" is chosen)
            _submit(sam, "a.btn:text-is('Convert')")
            expect(sam.locator("input[name=choice][value=new]")).to_be_checked()
            sam.fill("#id_opportunity_name", "星河电子 服务器采购")
            sam.fill("#id_amount", "100000")
            sam.fill("#id_expected_close_date", close.isoformat())
            _submit(sam, "form.card button[type=submit]")
            assert re.search(r"/sales/opportunities/\d+/$", sam.url), sam.locator("body").inner_text()[:1500]
            opp_url = sam.url
            customer_href = sam.locator("dd a[href^='/customers/']").first.get_attribute("href")

            # 3. the board: drag the card across stages with the mouse (HTML5 drag and drop in kanban.js)
            _submit(sam, "dd a[href^='/sales/pipelines/']")
            board_url = sam.url
            card = sam.locator("[data-card]", has=sam.locator("a:text-is('星河电子 服务器采购')"))
            expect(card).to_have_count(1)
            first_col = sam.locator("section[data-stage]").first
            expect(first_col.locator("[data-card]")).to_have_count(1)
            summary = sam.locator(".board-summary").inner_text()
            assert "1 open opportunity" in summary and "100000" in summary.replace(",", ""), summary

            with sam.expect_response(lambda r: "/move/" in r.url) as moved:
                card.drag_to(_column(sam, NEEDS))
            assert moved.value.ok
            expect(_column(sam, NEEDS).locator("[data-card]")).to_have_count(1)
            expect(_column(sam, NEEDS).locator("[data-count]")).to_have_text("1")

            # skipping to Negotiation needs competitors: refused, message shown, card goes back
            with sam.expect_response(lambda r: "/move/" in r.url) as refused:
                card.drag_to(_column(sam, NEGOTIATION))
            assert refused.value.status in (400, 409, 422)
            error = sam.locator("[data-board-error]")
            expect(error).to_be_visible()
            assert "ompetitor" in error.inner_text(), error.inner_text()
            expect(_column(sam, NEEDS).locator("[data-card]")).to_have_count(1)
            expect(_column(sam, NEGOTIATION).locator("[data-card]")).to_have_count(0)

            with sam.expect_response(lambda r: "/move/" in r.url) as moved:
                card.drag_to(_column(sam, PROPOSAL))
            assert moved.value.ok
            sam.reload()  # the server agrees: after a reload the card is in Proposal / quote
            expect(_column(sam, PROPOSAL).locator("[data-card]")).to_have_count(1)
            assert "100000" in _column(sam, PROPOSAL).inner_text().replace(",", "")

            # 4. a quote with 15 % discount: above sam's 10 %, so it needs a manager's approval
            sam.goto(opp_url)
            _submit(sam, "a:text-is('New quote for this opportunity')")
            sam.fill("#id_title", "服务器报价")
            sam.fill("input[name=description_0]", "机架式服务器")
            sam.fill("input[name=quantity_0]", "10")
            sam.fill("input[name=unit_price_0]", "8000")
            sam.fill("input[name=discount_pct_0]", "15")
            sam.fill("input[name=tax_rate_0]", "13")
            _submit(sam, "form.card button[type=submit]:text-is('Save')")
            assert re.search(r"/sales/quotes/\d+/$", sam.url), sam.locator("body").inner_text()[:2000]
            quote_url = sam.url
            amount = Decimal(10) * Decimal(8000)
            discount = (amount * Decimal("0.15")).quantize(CENT, ROUND_HALF_UP)
            tax = ((amount - discount) * Decimal("0.13")).quantize(CENT, ROUND_HALF_UP)
            total = amount - discount + tax  # 76,840.00
            body = sam.locator("main").inner_text().replace(",", "")
            assert f"{total:.2f}" in body, body[:2000]
            quote_no = re.search(r"Q\d{8}-\d{3}", body).group(0)
            assert sam.locator("button:text-is('Send quote by email')").count() == 0  # not before approval
            sam.fill("form:has(input[value=request_approval]) #id_comment", "大客户，年度框架")
            _submit(sam, "button:text-is('Ask for approval')")

            expect(sam.locator("main")).to_contain_text("waiting for a manager")
            assert sam.locator("button:text-is('Ask for approval')").count() == 0
            olga.goto(f"{server}/sales/approvals/")
            expect(olga.locator("main")).to_contain_text("星河电子")
            olga.fill("form:has(input[name=approval_id]) #id_comment", "同意")
            _submit(olga, "button[name=decision][value=approve]")

            # 5. approved: the PDF renders (Chinese font embedded), the quote is sent and accepted
            sam.goto(quote_url)
            pdf_href = sam.locator("a[href$='/pdf/']").first.get_attribute("href")
            pdf = sam.request.get(f"{server}{pdf_href}")
            assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
            assert pdf.body().startswith(b"%PDF") and b"STSong-Light" in pdf.body()
            sam.fill("form:has(input[value=send]) #id_email", "zhoujie@xinghe.example")
            _submit(sam, "button:text-is('Send quote by email')")
            for _ in range(
                60
            ):  # the mail (PDF attached) goes out from a background job; embedded mode keeps it
                outbox = sam.request.get(f"{server}/accounts/outbox/").text()
                if "zhoujie@xinghe.example" in outbox:
                    break
                sam.wait_for_timeout(500)
            assert "zhoujie@xinghe.example" in outbox, "the quote mail never reached the outbox"
            _submit(sam, "button[name=action][value=accept]")
            _submit(sam, "button[name=action][value=order]")
            assert re.search(r"/sales/orders/\d+/$", sam.url), sam.locator("body").inner_text()[:2000]
            order_no = re.search(r"SO\d{8}-\d{3}", sam.locator("h1").inner_text()).group(0)

            # 6. a partial return: 3 of 10, refund pro rata
            qty_input = sam.locator("input[id^=id_qty_]").first
            qty_input.fill("3")
            sam.fill("form:has(input[id^=id_qty_]) #id_reason", "三台外观损坏")
            _submit(sam, "button:text-is('Record return')")
            refund = (total * Decimal(3) / Decimal(10)).quantize(CENT, ROUND_HALF_UP)  # 23,052.00
            body = sam.locator("main").inner_text().replace(",", "")
            assert f"{refund:.2f}" in body and "三台外观损坏" in body, body[:2000]

            # 7. the customer's timeline tells the story, with the same numbers
            sam.goto(f"{server}{customer_href}")
            timeline = sam.locator("main").inner_text().replace(",", "")
            entries = timeline[timeline.index("Timeline") :]
            for expected in (
                "Lead converted: 周杰 (星河电子)",
                "moved from 初步接触 to 需求确认",
                "moved from 需求确认 to 方案报价",
                f"Quote {quote_no} v1 sent",
                f"Quote {quote_no} v1 accepted",
                f"Order {order_no} placed: CNY {total:.2f}",
                f"Return on order {order_no}: 三台外观损坏 (refund CNY {refund:.2f})",
            ):
                assert expected in entries, (expected, entries)
            assert "商务谈判" not in entries  # the refused move left no trace

            # 8. the forecast: in the expected close month the open opportunity (方案报价, 60 %: "best case" by default)
            # counts 100,000 in best case, nothing in commit, 60,000 weighted; once dragged to 赢单 it is won this month
            def forecast_total(day):  # type: ignore[no-untyped-def]
                sam.goto(f"{server}/sales/forecast/?period=month&start={day.isoformat()}")
                row = sam.locator("#forecast-table tfoot tr").first
                return {
                    c: row.locator(f"td.{c}").inner_text().replace(",", "")
                    for c in ("won", "commit", "best-case", "weighted")
                }

            amount = Decimal(100000)
            figures = forecast_total(close)
            assert figures["best-case"] == f"{amount:.2f}" and figures["commit"] == "0.00", figures
            assert figures["weighted"] == f"{amount * Decimal('0.60'):.2f}", figures
            sam.goto(board_url)  # this time the card's Move menu (the keyboard path, no drag)
            card.locator("summary").click()
            card.locator("select[name=stage_id]").select_option(label="赢单")
            with sam.expect_navigation():
                card.locator("form button[type=submit]").click()
            expect(_column(sam, WON).locator("[data-card]")).to_have_count(1)
            figures = forecast_total(today)
            assert figures["won"].startswith(f"{amount:.2f}") and "(1)" in figures["won"], figures
            sam.goto(
                f"{server}/sales/forecast/?period=month&start={close.isoformat()}"
            )  # no longer open pipeline
            expect(sam.locator("#forecast-table tfoot td.weighted")).to_have_count(0)
            expect(sam.locator("#forecast-table tfoot")).to_contain_text("—")
        except Exception:
            sam.screenshot(path=str(tmp_path / "sam.png"), full_page=True)
            sam.screenshot(path=str(RESULTS / "sales-flow-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
