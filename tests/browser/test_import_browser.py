"""Import in a real browser: a GBK CSV with bad rows and duplicates, through upload, mapping, preview and start,
to the report numbers and the rejected-rows file. Debian's chromium, headless, driven by Playwright against a real
`guanxi serve` subprocess (embedded mode: the import job runs in the server's own job threads)."""

from __future__ import annotations

import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
OWNER, PASSWORD = "lin", "Import-Browser-2026!"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"server exited with {proc.returncode}: {proc.stdout.read().decode()[-2000:]}"
            )
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - loopback test server
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout}s")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.skip("needs chromium for the browser test: apt-get install -y chromium (CI does)")
    pytest.importorskip("playwright")
    data = tmp_path_factory.mktemp("import-browser")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(GUANXI_DATA_DIR=str(data), GUANXI_DATABASE_URL="", GUANXI_REDIS_URL="", GUANXI_BASE_URL=base)
    guanxi = [sys.executable, "-m", "guanxi"]
    subprocess.run([*guanxi, "migrate"], cwd=ROOT, env=env, check=True, timeout=180, capture_output=True)
    subprocess.run([*guanxi, "workspace", "create", "--name", "Browser Import", "--owner", OWNER, "--password",
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


def _gbk_csv(path: Path) -> Path:
    rows = [
        ["姓名", "手机号", "邮箱", "公司", "城市"],
        ["张三丰", "13800138000", "zsf@example.com", "武当科技", "十堰"],
        ["李四", "13900139000", "", "", "北京"],
        ["王五", "12345", "", "", ""],  # bad phone
        ["", "13700137000", "", "", ""],  # no name
        ["赵六", "13600136000", "bad-email", "", ""],  # bad email
        ["张三丰", "138 0013 8000", "", "", ""],  # duplicate of row 2 (same phone)
        ["李四", "", "", "", "北京"],  # duplicate of row 3 (same name and city)
        ["钱七", "13500135000", "", "", "上海"],
    ]
    with path.open("w", encoding="gbk", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_import_a_gbk_csv_with_bad_rows_and_duplicates(server, tmp_path):
    from playwright.sync_api import sync_playwright

    file = _gbk_csv(tmp_path / "客户名单.csv")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        ctx = browser.new_context(
            viewport={"width": 1280, "height": 800}, locale="en-US", accept_downloads=True
        )
        ctx.set_default_timeout(20_000)
        page = ctx.new_page()
        try:
            page.goto(f"{server}/accounts/login/")
            page.fill("#id_username", OWNER)
            page.fill("#id_password", PASSWORD)
            with page.expect_navigation():
                page.click("form:has(#id_username) button[type=submit]")
            page.goto(f"{server}/customers/import/")
            page.set_input_files("#id_file", str(file))
            with page.expect_navigation():
                page.click("form:has(#id_file) button[type=submit]")
            assert page.locator("#col_0").count() == 1, (
                f"{page.url}: {page.locator('body').inner_text()[:1500]}"
            )
            # the mapping was guessed from the Chinese headers
            assert page.locator("#col_0").input_value() == "name"
            assert page.locator("#col_1").input_value() == "phone"
            assert page.locator("#col_4").input_value() == "city"
            # the preview marks the bad cells
            assert page.locator("[data-testid=preview] td.cell-bad").count() == 3
            page.check("input[name=on_duplicate][value=skip]")
            with page.expect_navigation():
                page.get_by_test_id("start-import").click()
            page.wait_for_selector("[data-testid=import-report]", timeout=60_000)
            counts = {
                k: page.get_by_test_id(f"count-{k}").inner_text()
                for k in ("created", "updated", "skipped", "rejected")
            }
            assert counts == {"created": "3", "updated": "0", "skipped": "2", "rejected": "3"}
            with page.expect_download() as dl:
                page.get_by_test_id("rejected-download").click()
            data = Path(dl.value.path()).read_bytes()
        finally:
            ctx.close()
            browser.close()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert [(r[0], r[1]) for r in rows[1:]] == [("4", "phone"), ("5", "name"), ("6", "email")]
    assert rows[1][3:5] == ["王五", "12345"]
