"""Helpers for the operations tests: skips that say what to set, free ports, subprocess environments."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
GUANXI = str(Path(sys.executable).with_name("guanxi"))

needs_postgres = pytest.mark.skipif(
    not os.environ.get("GUANXI_DATABASE_URL", "").startswith("postgres"),
    reason="needs PostgreSQL: set GUANXI_DATABASE_URL=postgres://user@host:5432/db (CI does)",
)
needs_redis = pytest.mark.skipif(
    not os.environ.get("GUANXI_REDIS_URL"),
    reason="needs Redis: set GUANXI_REDIS_URL=redis://127.0.0.1:6379/N (CI does)",
)


def skip_unless_rls_binds() -> None:
    from guanxi.core.rls import role_bypasses_rls

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row-level security): set GUANXI_DATABASE_URL=postgres://… (CI does)")
    if role_bypasses_rls():
        pytest.skip(
            "connected as a superuser or BYPASSRLS role, which row-level security never binds: "
            "connect as an ordinary role (docs/operations.md; CI does)"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sub_env(**extra: str) -> dict[str, str]:
    """The environment for a `guanxi` subprocess: this one's, with the test database's name when on PostgreSQL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(extra)
    return env


def db_url_for_subprocess() -> str:
    """A postgres:// URL for the database this test run uses (pytest-django's test_… database)."""
    from urllib.parse import quote

    s = connection.settings_dict
    auth = quote(s["USER"] or "")
    if s["PASSWORD"]:
        auth += ":" + quote(s["PASSWORD"])
    host = s["HOST"] or "127.0.0.1"
    return f"postgres://{auth}@{host}:{s['PORT'] or 5432}/{quote(s['NAME'])}"


def wait_http(url: str, proc, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    """Poll until the URL answers (any status) or the process dies."""
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise AssertionError(f"server exited with {proc.returncode}:\n{out[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - loopback test server
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def stop(proc) -> str:  # type: ignore[no-untyped-def]
    """Terminate a server subprocess and return what it printed."""
    import subprocess

    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return (out or b"").decode(errors="replace")


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]


def embedded_server(data: Path, *, workspace: str, owner: str, password: str):  # type: ignore[no-untyped-def]
    """Generator for a module fixture: a real ``guanxi serve`` in embedded mode on a free port, over a fresh data
    folder with one workspace; yields (base URL, the environment to run ``guanxi`` commands against it). Skips
    (a tool skip, which CI turns into a failure) without chromium or playwright."""
    import subprocess

    if not Path(CHROMIUM).exists():
        pytest.skip("needs chromium for the browser test: apt-get install -y chromium (CI does)")
    pytest.importorskip("playwright")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(GUANXI_DATA_DIR=str(data), GUANXI_DATABASE_URL="", GUANXI_REDIS_URL="", GUANXI_BASE_URL=base)
    guanxi = [sys.executable, "-m", "guanxi"]
    subprocess.run([*guanxi, "migrate"], cwd=ROOT, env=env, check=True, timeout=300, capture_output=True)
    subprocess.run([*guanxi, "workspace", "create", "--name", workspace, "--owner", owner, "--password", password],
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


def django_shell(env: dict, code: str):  # type: ignore[no-untyped-def]
    """Run ``code`` in ``guanxi manage shell`` against a server's data folder and return the JSON it prints last."""
    import json
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "guanxi", "manage", "shell", "-c", code],
        cwd=ROOT, env=env, check=True, timeout=120, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])
