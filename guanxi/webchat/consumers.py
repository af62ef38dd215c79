"""The visitor's socket: /ws/webchat/<public key>?lang=zh|en (Channels).

No sign-in: the widget's public key names the workspace, and only pages on the widget's allowed origins may open it
(checked here, since the route sits outside the project's same-host origin check). The JSON protocol, client to
server:

* ``{"type": "start", "cid", "body", "name", "email", "phone"}``: open the chat (answered with ``session``: the
  resume token the page keeps in sessionStorage);
* ``{"type": "resume", "token", "after"}``: after a dropped socket, reattach and get the messages after ``after``;
* ``{"type": "msg", "cid", "body"}``: a message, answered with ``ack`` (``dup`` when the id was stored before, so a
  resend after a reconnect never makes a second message);
* ``{"type": "leave", "body", "name", "email", "phone"}``: leave a message (a service ticket);
* ``{"type": "end"}``: the visitor closes the chat.

Server to client: ``ready`` (is the queue open, is an agent free), ``session``, ``msgs`` (new messages, each with its
id), ``state`` (waiting / busy / offered / chatting / offline / left_message / closed, with a sentence in the
visitor's language), ``ack`` and ``error`` (``code``, ``message``, ``fields``; the socket stays open). Agents'
replies arrive by a nudge on the conversation's group (``guanxi.contact_center.realtime.nudge_conversation``) and,
as a backstop for a lost nudge or another process, a poll every ``POLL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.urls import path
from django.utils import translation
from django.utils.translation import gettext as _

from guanxi.contact_center.realtime import conversation_group
from guanxi.core.context import workspace_context
from guanxi.core.errors import AppError
from guanxi.webchat import services
from guanxi.webchat.models import ChatSession, ChatWidget

log = logging.getLogger("guanxi.webchat")

MAX_FRAME = 16_000  # characters of one JSON frame (a message is at most services.MAX_MESSAGE)
POLL_SECONDS = 2.0
LOCALE = {"zh": "zh-hans", "en": "en"}


class VisitorConsumer(AsyncJsonWebsocketConsumer):
    widget: ChatWidget | None = None
    session: ChatSession | None = None

    def _lang(self) -> str:
        qs = parse_qs((self.scope.get("query_string") or b"").decode("latin-1"))
        lang = (qs.get("lang") or [""])[0][:2].lower()
        if lang in LOCALE:
            return lang
        return (self.widget.language if self.widget is not None else "") or "zh"

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a service in a worker thread, in the widget's workspace and the visitor's language."""
        ws = self.widget.workspace if self.widget is not None else None
        lang = LOCALE[self.lang]

        def run() -> Any:
            with workspace_context(ws), translation.override(lang):
                return fn(*args, **kwargs)

        return await database_sync_to_async(run)()

    async def connect(self) -> None:
        key = self.scope["url_route"]["kwargs"]["key"]
        self.widget = await database_sync_to_async(services.widget_by_key)(key)
        self.lang = self._lang()
        self.last_sent = 0
        self.last_state: dict[str, Any] | None = None
        self.group: str | None = None
        self.lock = asyncio.Lock()
        self.poller: asyncio.Task | None = None
        await self.accept()
        with translation.override(LOCALE[self.lang]):
            if self.widget is None:
                await self.send_json({"type": "error", "code": "unknown_widget", "fatal": True,
                                      "message": _("This chat is not available.")})  # fmt: skip
                await self.close(code=4404)
                return
            headers = dict(self.scope.get("headers") or [])
            origin = headers.get(b"origin", b"").decode("latin-1")
            if not services.origin_allowed(self.widget, origin):
                await self.send_json({"type": "error", "code": "origin_refused", "fatal": True,
                                      "message": _("This chat may not be used on this site.")})  # fmt: skip
                await self.close(code=4403)
                return
        status = await self._call(services.widget_status, self.widget)
        await self.send_json({"type": "ready", "lang": self.lang, **status})
        self.poller = asyncio.ensure_future(self._poll())

    async def disconnect(self, code: int) -> None:
        if self.poller is not None:
            self.poller.cancel()
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            if self.session is not None:
                try:
                    await self._sync_out()
                except Exception:  # noqa: BLE001 - the next tick tries again
                    log.warning("web chat poll failed", exc_info=True)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None or len(text_data) > MAX_FRAME:
            with translation.override(LOCALE[self.lang]):
                await self.send_json({"type": "error", "code": "too_large", "fields": {"body": _(
                    "This message is too long: at most %(n)s characters.") % {"n": services.MAX_MESSAGE}},
                    "message": _("This message is too long: at most %(n)s characters.") % {"n": services.MAX_MESSAGE}})  # fmt: skip
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            content = None
        if not isinstance(content, dict):
            with translation.override(LOCALE[self.lang]):
                await self.send_json(
                    {"type": "error", "code": "bad_frame", "message": _("Unreadable message.")}
                )
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type")
        cid = str(content.get("cid") or "")[:64]
        try:
            if kind == "start":
                await self._start(content, cid)
            elif kind == "resume":
                await self._resume(content)
            elif kind == "msg":
                await self._message(content, cid)
            elif kind == "leave":
                await self._leave(content)
            elif kind == "end":
                if self.session is not None:
                    await self._call(services.chat_end, session=self.session)
                    await self._sync_out()
            else:
                raise AppError(_("Unreadable message."), code="bad_frame")
        except AppError as exc:
            with translation.override(LOCALE[self.lang]):
                await self.send_json({"type": "error", "code": exc.code, "message": str(exc.message),
                                      "fields": exc.fields, "cid": cid})  # fmt: skip

    def _text(self, content: dict, key: str) -> str:
        value = content.get(key)
        return value if isinstance(value, str) else ""

    async def _attach(self, session: ChatSession) -> None:
        self.session = session
        if session.conversation_id and self.group is None:
            self.group = conversation_group(session.conversation_id)
            await self.channel_layer.group_add(self.group, self.channel_name)

    async def _start(self, content: dict, cid: str) -> None:
        if self.session is not None:
            raise AppError(_("This chat has started already."), code="already_started")
        client = self.scope.get("client") or ("", 0)
        started = await self._call(
            services.chat_start, widget=self.widget, body=self._text(content, "body"), client_id=cid,
            name=self._text(content, "name"), email=self._text(content, "email"),
            phone=self._text(content, "phone"), language=self.lang, address_key=str(client[0] or ""),
        )  # fmt: skip
        await self._attach(started.session)
        await self.send_json({"type": "session", "token": started.token})
        await self._sync_out()

    async def _resume(self, content: dict) -> None:
        session = await self._call(services.session_resume, self.widget, self._text(content, "token"))
        if session is None:
            raise AppError(_("This chat is no longer available. Start a new one."), code="unknown_session")
        try:
            self.last_sent = max(0, int(content.get("after") or 0))
        except (TypeError, ValueError):
            self.last_sent = 0
        self.last_state = None
        await self._attach(session)
        await self._sync_out()

    async def _message(self, content: dict, cid: str) -> None:
        if self.session is None:
            raise AppError(_("Start the chat first."), code="no_session")
        sent = await self._call(
            services.chat_message, session=self.session, client_id=cid, body=self._text(content, "body")
        )
        await self.send_json({"type": "ack", "cid": cid, "id": sent.message.pk, "dup": sent.duplicate})
        await self._sync_out()

    async def _leave(self, content: dict) -> None:
        if self.session is None:
            raise AppError(_("Start the chat first."), code="no_session")
        self.session = await self._call(
            services.chat_leave_message, session=self.session, body=self._text(content, "body"),
            name=self._text(content, "name"), email=self._text(content, "email"), phone=self._text(content, "phone"),
        )  # fmt: skip
        await self._sync_out()

    async def _sync_out(self) -> None:
        """Send the messages the visitor has not had yet, and the state when it changed."""
        if self.session is None:
            return
        async with self.lock:

            def read() -> tuple[list[dict], dict]:
                return services.chat_messages(self.session, self.last_sent), services.chat_state(self.session)

            msgs, state = await self._call(read)
            if msgs:
                self.last_sent = msgs[-1]["id"]
                await self.send_json({"type": "msgs", "msgs": msgs})
            if state != self.last_state:
                self.last_state = state
                await self.send_json({"type": "state", **state})

    async def cc_conversation(self, event: dict) -> None:
        with contextlib.suppress(Exception):
            await self._sync_out()


websocket_urlpatterns = [path("ws/webchat/<str:key>", VisitorConsumer.as_asgi())]
