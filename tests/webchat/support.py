"""Web chat objects of workspace A for the isolation walk (tests/test_isolation.py)."""

from __future__ import annotations

from guanxi.core.context import workspace_context
from guanxi.webchat.services import widget_create


def webchat_objects(world, objs: dict) -> dict:  # type: ignore[no-untyped-def]
    with workspace_context(world.ws_a):
        widget = widget_create(
            actor=world.olivia,
            name="官网 A",
            queue_id=objs["cc_queue"].pk,
            allowed_origins=["https://a.example"],
        )
    return {"chat_widget": widget}
