"""Operations: health checks, structured logs with request ids, settings validated at start-up."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from unittest import mock

import pytest
from django.test import override_settings

from guanxi import config
from guanxi.core.logging import JsonFormatter, RequestIdFilter
from tests.ops.helpers import ROOT, free_port, needs_postgres, sub_env


def test_healthz_answers_without_touching_the_database(client):
    # No `db` fixture: pytest-django raises on any database access, so this also proves liveness needs none.
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


def test_readyz_is_ready_when_migrated_and_the_cache_answers(client, db):
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.content
    assert resp.json()["checks"]["database"] == "ok"
    assert resp.json()["checks"]["cache"] == "ok"


def test_readyz_is_503_while_a_migration_is_pending(client, db):
    with mock.patch(
        "django.db.migrations.executor.MigrationExecutor.migration_plan",
        return_value=[(object(), False)],
    ):
        resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["status"] == "unavailable"
    assert resp.json()["checks"]["database"] == "1 migrations pending"


def test_readyz_is_503_when_the_cache_is_down(client, db):
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with override_settings(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": dead}}
    ):
        resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["checks"]["cache"].startswith("error")


def test_readyz_refuses_post(client, db):
    assert client.post("/readyz").status_code == 405


def test_a_requests_json_log_line_carries_its_request_id(client, db):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("guanxi.request")
    logger.addHandler(handler)
    try:
        resp = client.get("/healthz", headers={"X-Request-ID": "req-abc-12345"})
    finally:
        logger.removeHandler(handler)
    assert resp["X-Request-ID"] == "req-abc-12345"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    line = next(entry for entry in lines if entry.get("path") == "/healthz")
    assert line["request_id"] == "req-abc-12345"
    assert line["status"] == 200 and line["method"] == "GET" and "duration_ms" in line


def test_a_malformed_request_id_is_replaced(client, db):
    resp = client.get("/healthz", headers={"X-Request-ID": "bad id; drop table"})
    assert resp["X-Request-ID"] != "bad id; drop table"
    assert len(resp["X-Request-ID"]) == 32


# --- settings validated at start-up -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "variable", "hint"),
    [
        ({"GUANXI_DATABASE_URL": "mysql://x@y/z"}, "GUANXI_DATABASE_URL", "postgres://"),
        ({"GUANXI_DATABASE_URL": "postgres://u@h:5432/"}, "GUANXI_DATABASE_URL", "names no database"),
        ({"GUANXI_DATABASE_URL": "postgres://u@h:port/db"}, "GUANXI_DATABASE_URL", "port"),
        ({"GUANXI_DATABASE_URL": "postgres://u@h/db?pool_max=lots"}, "GUANXI_DATABASE_URL", "whole number"),
        ({"GUANXI_REDIS_URL": "http://cache:6379"}, "GUANXI_REDIS_URL", "redis://"),
        ({"GUANXI_SECRET_KEY": "short"}, "GUANXI_SECRET_KEY", "32 characters"),
        ({"GUANXI_DEBUG": "maybe"}, "GUANXI_DEBUG", "true/false"),
        ({"GUANXI_SECURE_COOKIES": "2"}, "GUANXI_SECURE_COOKIES", "true/false"),
        ({"GUANXI_API_RATE_LIMIT": "ten"}, "GUANXI_API_RATE_LIMIT", "whole number"),
        ({"GUANXI_API_RATE_LIMIT": "0"}, "GUANXI_API_RATE_LIMIT", "between 1"),
        ({"GUANXI_WEB_WORKERS": "-3"}, "GUANXI_WEB_WORKERS", "whole number"),
        ({"GUANXI_REALTIME_PORT": "70000"}, "GUANXI_REALTIME_PORT", "65535"),
        ({"GUANXI_LOG_LEVEL": "LOUD"}, "GUANXI_LOG_LEVEL", "DEBUG, INFO"),
        ({"GUANXI_BASE_URL": "ftp://x"}, "GUANXI_BASE_URL", "http://"),
        ({"GUANXI_SMTP_URL": "mail.example.com"}, "GUANXI_SMTP_URL", "smtp://"),
    ],
)
def test_config_rejects_a_bad_value_naming_the_variable(tmp_path, env, variable, hint):
    with pytest.raises(config.ConfigError) as exc:
        config.load({"GUANXI_DATA_DIR": str(tmp_path), **env})
    assert str(exc.value).startswith(variable)
    assert hint in str(exc.value)


def test_config_accepts_a_full_scaled_environment(tmp_path):
    cfg = config.load(
        {
            "GUANXI_DATA_DIR": str(tmp_path),
            "GUANXI_DATABASE_URL": "postgres://guanxi:s%40cret@db.internal:6432/crm?pool_max=20&sslmode=require",
            "GUANXI_REDIS_URL": "redis://cache.internal:6379/2",
            "GUANXI_SECRET_KEY": "x" * 40,
            "GUANXI_WEB_WORKERS": "4",
            "GUANXI_REALTIME_PORT": "8001",
        }
    )
    assert cfg.scaled
    assert (cfg.database.user, cfg.database.password, cfg.database.host) == (
        "guanxi",
        "s@cret",
        "db.internal",
    )
    assert cfg.database.port == "6432" and cfg.database.name == "crm"
    assert cfg.database.options == {"pool_max": "20", "sslmode": "require"}
    assert (cfg.web_workers, cfg.realtime_port, cfg.redis_url) == (4, 8001, "redis://cache.internal:6379/2")


def test_guanxi_check_with_a_bad_env_exits_non_zero_naming_the_variable(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "guanxi", "check"],
        cwd=ROOT,
        env=sub_env(GUANXI_DATA_DIR=str(tmp_path), GUANXI_REDIS_URL="http://nope", GUANXI_DATABASE_URL=""),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "GUANXI_REDIS_URL" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_guanxi_check_with_an_unreachable_database_says_so(tmp_path):
    # pool=0: with the pool on, the answer waits for its 10 s checkout timeout
    dead = f"postgres://nobody@127.0.0.1:{free_port()}/nothing?pool=0"
    out = subprocess.run(
        [sys.executable, "-m", "guanxi", "check"],
        cwd=ROOT,
        env=sub_env(GUANXI_DATA_DIR=str(tmp_path), GUANXI_DATABASE_URL=dead, GUANXI_REDIS_URL=""),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "GUANXI_DATABASE_URL: cannot reach the database" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_guanxi_check_passes_on_a_good_embedded_env(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "guanxi", "check", "--json"],
        cwd=ROOT,
        env=sub_env(GUANXI_DATA_DIR=str(tmp_path), GUANXI_DATABASE_URL="", GUANXI_REDIS_URL=""),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["mode"] == "embedded"


@needs_postgres
def test_the_database_is_utf8_with_a_utf8_ctype_so_trigrams_see_chinese(db):
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT pg_encoding_to_char(encoding), datctype FROM pg_database WHERE datname = current_database()"
        )
        encoding, ctype = cur.fetchone()
    assert encoding == "UTF8"
    assert ctype.lower().replace("-", "").endswith("utf8"), ctype
