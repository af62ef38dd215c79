"""Helpers for the operations tests: skips that say what to set, free ports, subprocess environments."""

from __future__ import annotations

import os
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
