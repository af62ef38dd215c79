"""The main flow in a real browser: sign up -> dashboard -> sign out -> sign in -> 简体中文 -> English.

Debian's chromium, headless, driven by Playwright against a real `guanxi serve` subprocess (embedded mode, temp
data folder). Screenshots go to test-results/ (gitignored): always the desktop and phone-width dashboards, and the
page as it was when a step failed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.helpers import ROOT, free_port, stop, sub_env, wait_http

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RESULTS = ROOT / "test-results"
CJK = re.compile(r"[\u4e00-\u9fff]")
COMPANY = (
    "Lighthouse Trading Ltd"  # Latin on purpose: any Chinese on the page then comes from the translation
)
USERNAME = "lina"
PASSWORD = "Browser-Flow-2026!x"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.skip("needs chromium for the browser test: apt-get install -y chromium (CI does)")
    data = tmp_path_factory.mktemp("browser-data")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = sub_env(
        GUANXI_DATA_DIR=str(data), GUANXI_DATABASE_URL="", GUANXI_REDIS_URL="", GUANXI_BASE_URL=base
    )
    subprocess.run([sys.executable, "-m", "guanxi", "migrate"], cwd=ROOT, env=env, check=True, timeout=120)
    proc = subprocess.Popen(
        [sys.executable, "-m", "guanxi", "serve", "--port", str(port)],
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


@pytest.fixture
def page(server, request):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    RESULTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
        context.set_default_timeout(15_000)
        pg = context.new_page()
        yield pg
        if getattr(request.node, "guanxi_call_failed", False):  # set by tests/browser/conftest.py
            pg.screenshot(path=str(RESULTS / f"{request.node.name}-failure.png"), full_page=True)
        context.close()
        browser.close()


# Chinese shown in every language: the brand (关系) and the switcher's own name for Chinese (简体中文).
ALWAYS_CHINESE = ("简体中文", "关系")


def _text_outside_language_names(page) -> str:  # type: ignore[no-untyped-def]
    text = page.locator("body").inner_text()
    for fixed in ALWAYS_CHINESE:
        text = text.replace(fixed, "")
    return text


def test_sign_up_sign_in_and_switch_language(server, page):
    page.goto(f"{server}/accounts/signup/")
    page.fill("#id_company_name", COMPANY)
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")

    # Signed in, on the new workspace's dashboard.
    assert page.get_by_test_id("dashboard-title").is_visible()
    assert page.get_by_test_id("workspace-name").inner_text().strip() == COMPANY
    page.screenshot(path=str(RESULTS / "dashboard-desktop.png"), full_page=True)
    page.set_viewport_size({"width": 375, "height": 740})
    page.reload()
    assert page.get_by_test_id("dashboard-title").is_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    page.screenshot(path=str(RESULTS / "dashboard-phone.png"), full_page=True)
    assert overflow <= 1, f"the dashboard scrolls sideways at phone width by {overflow}px"
    page.set_viewport_size({"width": 1280, "height": 800})

    # Sign out, then back in.
    with page.expect_navigation():
        page.locator("form[action$='/accounts/logout/'] button").click()
    assert "/accounts/login/" in page.url
    assert page.get_by_test_id("dashboard-title").count() == 0
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("form.stack button[type=submit]")
    assert page.get_by_test_id("workspace-name").inner_text().strip() == COMPANY

    # English -> 简体中文: the page is served in Chinese.
    assert not CJK.search(_text_outside_language_names(page))
    with page.expect_navigation():
        page.get_by_test_id("language-switch").select_option("zh-hans")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert CJK.search(_text_outside_language_names(page)), "no Chinese text after switching to 简体中文"
    assert page.get_by_test_id("dashboard-title").is_visible()
    page.screenshot(path=str(RESULTS / "dashboard-zh-hans.png"), full_page=True)

    # ... and back to English.
    with page.expect_navigation():
        page.get_by_test_id("language-switch").select_option("en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert not CJK.search(_text_outside_language_names(page))
