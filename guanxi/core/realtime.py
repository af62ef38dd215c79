"""Real-time push to browsers (Channels). Each signed-in user listens on their own group."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.urls import path


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


class NotificationsConsumer(AsyncJsonWebsocketConsumer):
    """/ws/notifications: in-app notifications for the signed-in user. Anonymous connections are refused."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def notify(self, event: dict) -> None:
        await self.send_json(event["payload"])


def notify_user(user_id: int, payload: dict) -> None:
    """Push ``payload`` to every open tab of the user. Call from ``transaction.on_commit``."""
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(user_group(user_id), {"type": "notify", "payload": payload})


websocket_urlpatterns = [path("ws/notifications", NotificationsConsumer.as_asgi())]
