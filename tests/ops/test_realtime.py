"""/ws/notifications through the real ASGI application (session cookie, origin check, channel layer).

Embedded mode uses the in-memory channel layer (same process only); scaled mode uses Redis, and there a
notification sent by another process must arrive too.
"""

from __future__ import annotations

import json
import subprocess
import sys

from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings

from guanxi.asgi import application
from guanxi.core.realtime import notify_user
from tests.ops.helpers import ROOT, needs_redis, sub_env


def _communicator(client=None, origin: bytes = b"http://testserver") -> WebsocketCommunicator:
    headers = [(b"origin", origin), (b"host", b"testserver")]
    if client is not None:
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    return WebsocketCommunicator(application, "/ws/notifications", headers=headers)


def _receive_after(comm: WebsocketCommunicator, send) -> dict:  # type: ignore[no-untyped-def]
    async def run() -> dict:
        connected, _ = await comm.connect(timeout=5)
        assert connected
        try:
            await send()
            return await comm.receive_json_from(timeout=10)
        finally:
            await comm.disconnect()

    return async_to_sync(run)()


def test_a_signed_in_user_receives_their_notification(world):
    comm = _communicator(world.client_for(world.sam))

    async def send() -> None:
        # notify_user is sync (called from on_commit hooks); run it the way a view would.
        from asgiref.sync import sync_to_async

        await sync_to_async(notify_user)(world.sam.user_id, {"kind": "reminder", "text": "回访张三丰"})

    assert _receive_after(comm, send) == {"kind": "reminder", "text": "回访张三丰"}


def test_another_users_notification_does_not_arrive(world):
    comm = _communicator(world.client_for(world.sam))

    async def run() -> bool:
        from asgiref.sync import sync_to_async

        await comm.connect(timeout=5)
        try:
            await sync_to_async(notify_user)(world.sue.user_id, {"kind": "secret"})
            return await comm.receive_nothing(timeout=0.5)
        finally:
            await comm.disconnect()

    assert async_to_sync(run)()


def test_an_anonymous_connection_is_refused(db):
    comm = _communicator()

    async def run() -> tuple[bool, object]:
        try:
            return await comm.connect(timeout=5)
        finally:
            await comm.disconnect()  # end the application instance: a live one can hang the loop's shutdown

    connected, code = async_to_sync(run)()
    assert connected is False
    assert code == 4401


def test_a_foreign_origin_is_refused(world):
    comm = _communicator(world.client_for(world.sam), origin=b"http://evil.example")

    async def run() -> tuple[bool, object]:
        try:
            return await comm.connect(timeout=5)
        finally:
            await comm.disconnect()  # end the application instance: a live one can hang the loop's shutdown

    connected, _ = async_to_sync(run)()
    assert connected is False


@needs_redis
def test_a_notification_from_another_process_arrives(world):
    assert "Redis" in settings.CHANNEL_LAYERS["default"]["BACKEND"]
    comm = _communicator(world.client_for(world.sam))
    payload = {"kind": "screen_pop", "phone": "+8613800138000"}
    code = (
        "import json; from guanxi.core.realtime import notify_user; "
        f"notify_user({world.sam.user_id}, json.loads({json.dumps(payload)!r}))"
    )

    async def send() -> None:
        from asgiref.sync import sync_to_async

        def other_process() -> None:
            subprocess.run(
                [sys.executable, "-m", "guanxi", "manage", "shell", "-c", code],
                cwd=ROOT,
                env=sub_env(),
                check=True,
                timeout=60,
            )

        await sync_to_async(other_process, thread_sensitive=False)()

    assert _receive_after(comm, send) == payload
