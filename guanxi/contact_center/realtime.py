"""The agent console's live channel (Channels): /ws/contact-center/agent.

What is pushed is a nudge, never customer data: ``{"kind": "cc.offer"}`` (an offer was made or withdrawn) or
``{"kind": "cc.message", "conversation_id": 7}`` (the contact wrote). The console then fetches the fragment it needs
over HTTP, through the same workspace scoping and access checks as every page, so a socket never carries what the
agent may not see and a tab on another workspace learns nothing. Sent from ``transaction.on_commit`` hooks: the
browser never fetches rows that are not committed yet.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.urls import path

log = logging.getLogger("guanxi.contact_center")


def agent_group(user_id: int) -> str:
    return f"cc.agent.{user_id}"


class AgentConsoleConsumer(AsyncJsonWebsocketConsumer):
    """One open agent console tab. Anonymous connections are refused (4401)."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.group = agent_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"kind": "cc.hello"})

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def cc_nudge(self, event: dict) -> None:
        await self.send_json(event["payload"])


def nudge_agents(user_ids: Iterable[int], payload: dict) -> None:
    """Tell these users' open consoles that something changed. Best effort: a lost nudge is caught up by the
    console's own refresh, so a channel-layer failure is logged, never raised into the caller's commit."""
    layer = get_channel_layer()
    if layer is None:
        return
    for uid in set(user_ids):
        try:
            async_to_sync(layer.group_send)(agent_group(uid), {"type": "cc.nudge", "payload": payload})
        except Exception:  # noqa: BLE001 - see docstring
            log.warning("could not nudge the console of user %s", uid, exc_info=True)


def conversation_group(conversation_id: int) -> str:
    return f"cc.conversation.{conversation_id}"


def nudge_conversation(conversation_id: int, payload: dict | None = None) -> None:
    """Tell whoever follows this conversation from outside (the web chat visitor's socket) that it changed: a
    reply, an agent took it, it closed. A nudge, never data: the listener reads the rows itself. Best effort, like
    ``nudge_agents``."""
    layer = get_channel_layer()
    if layer is None:
        return
    event = {"type": "cc.conversation", "payload": {"kind": "cc.conversation", **(payload or {})}}
    try:
        async_to_sync(layer.group_send)(conversation_group(conversation_id), event)
    except Exception:  # noqa: BLE001 - see nudge_agents
        log.warning("could not nudge the followers of conversation %s", conversation_id, exc_info=True)


websocket_urlpatterns = [path("ws/contact-center/agent", AgentConsoleConsumer.as_asgi())]
