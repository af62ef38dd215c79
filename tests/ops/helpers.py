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
