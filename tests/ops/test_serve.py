"""`guanxi serve` as an operator runs it: a real subprocess on a loopback port.

Embedded: one uvicorn process serves HTTP and websockets. Scaled: granian (WSGI, several workers) serves HTTP and
uvicorn serves the websocket routes on the real-time port; a notification sent from this process over Redis
reaches a browser-like client signed in over HTTP.
"""

from __future__ import annotations

import http.cookiejar
import json
import subprocess
import sys
import urllib.parse
import urllib.request

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from guanxi.core.realtime import notify_user
from guanxi.workspaces.models import User
from tests.ops.helpers import (
    ROOT,
    db_url_for_subprocess,
    free_port,
    needs_postgres,
    needs_redis,
    stop,
    sub_env,
    wait_http,
)

PASSWORD = "serve-test-Pa55word"


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "guanxi", "serve", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _get(opener, url: str, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    req = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback
    try:
        return opener.open(req, timeout=10)
    except urllib.error.HTTPError as exc:
        return exc


def test_embedded_serve_answers_http_and_websockets_and_logs_json(tmp_path):
    port = free_port()
    env = sub_env(
        GUANXI_DATA_DIR=str(tmp_path), GUANXI_DATABASE_URL="", GUANXI_REDIS_URL="", GUANXI_LOG_JSON="1"
    )
    proc = _start(["--port", str(port)], env)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz", proc)
        opener = urllib.request.build_opener()
        resp = _get(opener, f"{base}/healthz", {"X-Request-ID": "embedded-req-0001"})
        assert resp.status == 200 and resp.headers["X-Request-ID"] == "embedded-req-0001"
        # A fresh data folder has not been migrated: not ready, and it says why.
        ready = _get(opener, f"{base}/readyz")
        assert ready.status == 503
        assert "migrations pending" in json.loads(ready.read())["checks"]["database"]
        with pytest.raises(InvalidStatus) as refused:  # same process serves the websocket route
            connect(f"ws://127.0.0.1:{port}/ws/notifications", origin=base, open_timeout=10)
        assert refused.value.response.status_code == 403
    finally:
        output = stop(proc)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    mine = [entry for entry in lines if entry.get("request_id") == "embedded-req-0001"]
    assert mine and mine[0]["path"] == "/healthz" and mine[0]["status"] == 200, output[-2000:]


@pytest.mark.scaled
@needs_postgres
@needs_redis
def test_scaled_serve_runs_http_under_granian_and_websockets_under_uvicorn(transactional_db):
    env = sub_env(GUANXI_DATABASE_URL=db_url_for_subprocess(), GUANXI_WEB_WORKERS="2")
    # Created by the operator's command in its own process, so the password is hashed as production does
    # (the test process uses a fast hasher the server does not know).
    subprocess.run(
        [sys.executable, "-m", "guanxi", "workspace", "create", "--name", "规模测试公司"]
        + ["--owner", "scaled_owner", "--password", PASSWORD],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=60,
    )
    user = User.objects.get(username="scaled_owner")
    port, rt_port = free_port(), free_port()
    proc = _start(["--port", str(port), "--realtime-port", str(rt_port)], env)
    try:
        base, rt_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{rt_port}"
        wait_http(f"{base}/healthz", proc)
        wait_http(f"{rt_base}/healthz", proc)
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        ready = _get(opener, f"{base}/readyz")
        assert ready.status == 200, ready.read()
        assert json.loads(ready.read())["checks"]["mode"] == "scaled"

        # Sign in over HTTP (the WSGI tier), as a browser does.
        _get(opener, f"{base}/accounts/login/")
        csrf = next(c.value for c in jar if c.name == "csrftoken")
        form = urllib.parse.urlencode(
            {"username": "scaled_owner", "password": PASSWORD, "csrfmiddlewaretoken": csrf}
        ).encode()
        opener.open(urllib.request.Request(f"{base}/accounts/login/", data=form), timeout=10)  # noqa: S310
        session = next(c.value for c in jar if c.name == "sessionid")
        dashboard = _get(opener, f"{base}/dashboard/")
        assert dashboard.status == 200 and "规模测试公司" in dashboard.read().decode()

        # The real-time tier accepts that session, and a notification sent here over Redis arrives there.
        with pytest.raises(InvalidStatus):
            connect(f"ws://127.0.0.1:{rt_port}/ws/notifications", origin=rt_base, open_timeout=10)
        with connect(
            f"ws://127.0.0.1:{rt_port}/ws/notifications",
            origin=rt_base,
            additional_headers={"Cookie": f"sessionid={session}"},
            open_timeout=10,
        ) as ws:
            notify_user(user.pk, {"kind": "hello", "text": "你好"})
            assert json.loads(ws.recv(timeout=10)) == {"kind": "hello", "text": "你好"}
    finally:
        output = stop(proc)
    assert "Traceback" not in output, output[-3000:]
    assert "HTTP (WSGI, granian)" in output and "real-time (ASGI, uvicorn)" in output
