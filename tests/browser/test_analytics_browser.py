"""The analytics dashboards and a customer's profile panel in a real browser (headless chromium, `guanxi serve`).

Data: a new workspace with a planted shop's orders (tests.analytics.factories.shop), analysed with
`guanxi analyze` before the server starts. The dashboard's plotly charts must draw from the locally served
plotly.js (the page makes no request to another host), each linking to its run and its CSV.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.browser.test_flow import CHROMIUM, CHROMIUM_ARGS, RESULTS
from tests.ops.helpers import ROOT, free_port, stop, sub_env, wait_http

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]  # the fixture seeds and analyses a workspace
USERNAME = "tea-owner"
PASSWORD = "Analytics-Browser-2026!x"

SEED = """
import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
django.setup()
from guanxi.core.context import workspace_context
from guanxi.workspaces.models import Workspace
from tests.analytics.factories import shop
ws = Workspace.objects.get(slug=__import__("sys").argv[1])
with workspace_context(ws):
    shop(40)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.skip("needs chromium for the browser test: apt-get install -y chromium (CI does)")
    data = tmp_path_factory.mktemp("analytics-browser")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = sub_env(
        GUANXI_DATA_DIR=str(data), GUANXI_DATABASE_URL="", GUANXI_REDIS_URL="", GUANXI_BASE_URL=base
    )
    run = lambda *a: subprocess.run([sys.executable, *a], cwd=ROOT, env=env, check=True, timeout=300)  # noqa: E731
    run("-m", "guanxi", "migrate")
    run(
        "-m",
        "guanxi",
        "workspace",
        "create",
        "--name",
        "Tea Shop",
        "--owner",
        USERNAME,
        "--password",
        PASSWORD,
    )
    slug = subprocess.run(
        [sys.executable, "-m", "guanxi", "manage", "shell", "-c",
         "from guanxi.workspaces.models import Workspace; print(Workspace.objects.order_by('pk').first().slug)"],
        cwd=ROOT, env=env, check=True, timeout=120, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    run("-c", SEED, slug)
    run("-m", "guanxi", "analyze", "--workspace", slug)
    proc = subprocess.Popen(
        [sys.executable, "-m", "guanxi", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_http(f"{base}/healthz", proc)
        yield base
    finally:
        stop(proc)


def test_a_manager_opens_the_dashboards_and_a_customer_profile(server):
    from playwright.sync_api import sync_playwright

    RESULTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        context.set_default_timeout(30_000)
        page = context.new_page()
        hosts: set[str] = set()
        page.on("request", lambda r: hosts.add(urlparse(r.url).netloc))
        try:
            page.goto(f"{server}/accounts/login/")
            page.fill("#id_username", USERNAME)
            page.fill("#id_password", PASSWORD)
            with page.expect_navigation():
                page.click("form.stack button[type=submit]")
            page.get_by_role("link", name="Analytics").first.click()
            page.wait_for_url("**/analytics/")
            for name in ("tiers", "stages", "revenue", "rules", "clusters"):
                page.wait_for_selector(f"#chart-{name}[data-drawn='1']")
            assert page.locator("#chart-tiers .modebar").count() == 1  # the PNG export lives in the modebar
            run_link = page.locator("[data-chart='tiers'] a", has_text="From run #").first
            assert run_link.count() == 1
            csv_href = page.locator("[data-chart='tiers'] a", has_text="Data (CSV)").get_attribute("href")
            assert csv_href and "chart=tiers" in csv_href
            page.screenshot(path=str(RESULTS / "analytics-dashboard.png"), full_page=True)
            run_link.click()
            page.wait_for_url("**/analytics/runs/*/")
            assert page.get_by_test_id("run-status").inner_text() in ("Succeeded", "Partly done")
            page.goto(f"{server}/customers/?tier=vip")
            page.locator("table a[href^='/customers/']").first.click()
            panel = page.get_by_test_id("analytics-profile")
            panel.wait_for()
            text = panel.inner_text()
            assert "VIP customer" in text and "Lifecycle stage" in text and "Lifetime value" in text
            page.screenshot(path=str(RESULTS / "analytics-profile.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(RESULTS / "analytics-failure.png"), full_page=True)
            raise
        finally:
            context.close()
            browser.close()
    assert hosts == {urlparse(server).netloc}, f"the pages asked other hosts: {hosts}"
