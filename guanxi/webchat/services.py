"""Web chat (网页聊天): widgets and the visitor's side of a chat.

A supervisor creates a widget (queue, required skills, allowed origins); the widget gets its own one-step routing
workflow, so its chats reach the agents of that queue with those skills through the same routing engine as every
other channel (``guanxi.contact_center.routing.task_enqueue``). The visitor's socket
(``guanxi.webchat.consumers``) calls the functions below, in the widget's workspace context:

* ``chat_start`` opens a contact-centre conversation (matched to a customer by the email or phone the visitor gave;
  otherwise a lead is made from them, and the screen pop offers a new customer) and puts a routing task in line;
* ``chat_message`` adds the visitor's message, once per client message id (a resend after a dropped socket is
  answered with the message already stored), refusing a flood (per visitor per minute), an oversized or empty one;
* ``chat_leave_message`` turns the chat into a service ticket when no agent is free or the queue is closed;
* ``chat_state`` / ``chat_messages`` are what the visitor sees.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.contact_center import routing
from guanxi.contact_center import services as cc
from guanxi.contact_center.models import (
    Channel,
    Conversation,
    ConversationMessage,
    ConversationStatus,
    Direction,
    MessageKind,
    Queue,
    Skill,
    Task,
    TaskStatus,
)
from guanxi.contact_center.realtime import nudge_agents
from guanxi.core.context import require_workspace
from guanxi.core.errors import Conflict, NotFound, RateLimited, ValidationFailed
from guanxi.customers.normalize import InvalidValue, normalize_email, normalize_phone
from guanxi.ledger.services import audit_record
from guanxi.webchat.models import ChatClientMessage, ChatSession, ChatWidget, SessionState
from guanxi.workspaces.models import Membership

MAX_MESSAGE = 2000  # characters of one visitor message
MAX_NAME = 100
LANGUAGES = ("zh", "en")
START_WINDOW, START_LIMIT = 60, 10  # new chats per address per minute
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


# --- widgets (supervisor) ---------------------------------------------------------------------------------------------


def _origin(value: str) -> str:
    parts = urlsplit((value or "").strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def _clean_skills(skills: Any, errors: dict[str, str]) -> list[dict[str, Any]]:
    """``[{"skill": name, "min_level": 1-10}]``; every skill must exist in the workspace."""
    out: list[dict[str, Any]] = []
    if not isinstance(skills, list):
        errors["skills"] = _("Skills must be a list.")
        return out
    known = set(Skill.objects.values_list("name", flat=True))
    for i, item in enumerate(skills):
        name = str((item or {}).get("skill", "")).strip() if isinstance(item, dict) else ""
        try:
            level = int(item.get("min_level", 1)) if isinstance(item, dict) else 0
        except (TypeError, ValueError):
            level = 0
        if name not in known:
            errors[f"skills[{i}]"] = _("Unknown skill %(s)s.") % {"s": name or "?"}
        elif not 1 <= level <= 10:
            errors[f"skills[{i}]"] = _("A skill level is from 1 to 10.")
        else:
            out.append({"skill": name, "min_level": level})
    return out


def widget_create(
    *,
    actor: Membership,
    name: str,
    queue_id: Any,
    skills: list[dict[str, Any]] | None = None,
    allowed_origins: list[str] | None = None,
    language: str = "",
    max_per_minute: int = 20,
) -> ChatWidget:
    """A chat widget on a queue with required skills, for the pages of ``allowed_origins`` (``https://shop.cn``).
    Supervisor only. Makes the widget's routing workflow (one step: this queue, these skills). Refuses an unknown
    queue or skill, a malformed origin, a duplicate name (the error names the field). Audited."""
    routing.require_supervisor(actor)
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name or len(name) > 100:
        errors["name"] = _("A widget needs a name of at most 100 characters.")
    elif ChatWidget.objects.filter(name=name).exists():
        errors["name"] = _("A widget with this name exists already.")
    queue = Queue.objects.filter(pk=queue_id).first() if str(queue_id or "").isdigit() else None
    if queue is None:
        errors["queue_id"] = _("Choose a queue.")
    clean_skills = _clean_skills(skills or [], errors)
    origins: list[str] = []
    for i, raw in enumerate(allowed_origins or []):
        if not str(raw).strip():
            continue
        o = _origin(str(raw))
        if not o:
            errors[f"allowed_origins[{i}]"] = _("Write an origin like https://www.example.cn (no path).")
        else:
            origins.append(o)
    if language not in ("", *LANGUAGES):
        errors["language"] = _("Choose Chinese, English or the visitor's language.")
    if not 1 <= int(max_per_minute or 0) <= 600:
        errors["max_per_minute"] = _("From 1 to 600 messages a minute.")
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        key = secrets.token_urlsafe(18)
        wf = routing.workflow_create(
            actor=actor, name=f"{_('Web chat')} · {name} · {key[:6]}",
            steps=[{"queue_id": queue.pk, "skills": clean_skills}],
        )  # fmt: skip
        widget = ChatWidget.objects.create(
            name=name, public_key=key, queue=queue, skills=clean_skills, allowed_origins=origins,
            language=language, workflow=wf, max_per_minute=max_per_minute,
        )  # fmt: skip
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="webchat.widget.create", obj=widget,
            after={"name": name, "queue_id": queue.pk, "skills": clean_skills, "allowed_origins": origins},
        )  # fmt: skip
    return widget


def widget_set_active(*, actor: Membership, widget_id: Any, active: bool) -> ChatWidget:
    """Switch a widget on or off (off: its script says the chat is unavailable). Supervisor only. Audited."""
    routing.require_supervisor(actor)
    widget = ChatWidget.objects.filter(pk=widget_id).first() if str(widget_id).isdigit() else None
    if widget is None:
        raise NotFound()
    with transaction.atomic():
        widget.is_active = bool(active)
        widget.save(update_fields=["is_active"])
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="webchat.widget.set_active", obj=widget,
            after={"is_active": widget.is_active},
        )  # fmt: skip
    return widget


def widget_by_key(key: str) -> ChatWidget | None:
    """The active widget with this public key, in any workspace: the visitor's socket knows no workspace yet.
    Cross-tenant by nature (the key is the only thing the page has), so it reads ``all_workspaces`` in RLS
    bypass; the caller then enters the widget's workspace."""
    if not key or len(key) > 40:
        return None
    from guanxi.core import rls

    with rls.bypass():
        return (
            ChatWidget.all_workspaces.select_related("workspace")
            .filter(public_key=key, is_active=True)
            .first()
        )


def origin_allowed(widget: ChatWidget, origin: str) -> bool:
    """The page opening the chat is on one of the widget's origins, or on Guanxi's own (the preview)."""
    o = _origin(origin)
    if not o:
        return False
    return o in set(widget.allowed_origins or []) or o == _origin(settings.GUANXI_BASE_URL)


def snippet(widget: ChatWidget, base_url: str) -> str:
    """The one script tag a website pastes before </body>."""
    return (
        f'<script src="{base_url.rstrip("/")}/webchat/widget.js" data-key="{widget.public_key}" '
        f"async></script>"
    )


# --- the visitor ------------------------------------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_resume(widget: ChatWidget, token: str) -> ChatSession | None:
    """The widget's session this visitor token opened, or None."""
    if not token or len(token) > 100:
        return None
    return ChatSession.objects.filter(widget=widget, token_hash=_hash(token)).first()


def _count(key: str, window: int) -> int:
    """Count one event in the current window (atomic add + incr on the shared cache)."""
    full = f"guanxi:webchat:{key}:{int(time.time() // window)}"
    cache.add(full, 0, timeout=window * 2)
    try:
        return cache.incr(full)
    except ValueError:
        cache.add(full, 1, timeout=window * 2)
        return 1


def _check_client_id(client_id: str) -> None:
    if not _CLIENT_ID.match(client_id or ""):
        raise ValidationFailed(fields={"cid": _("The message has no valid client id.")})


def _clean_body(body: Any, limit: int = MAX_MESSAGE) -> str:
    body = str(body or "").strip()
    if not body:
        raise ValidationFailed(fields={"body": _("Write a message.")})
    if len(body) > limit:
        raise ValidationFailed(
            fields={"body": _("This message is too long: at most %(n)s characters.") % {"n": limit}}
        )
    return body


def _clean_contact(name: str, email: str, phone: str) -> tuple[str, str, str]:
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if len(name) > MAX_NAME:
        errors["name"] = _("At most %(n)s characters.") % {"n": MAX_NAME}
    email, phone = (email or "").strip(), (phone or "").strip()
    if email:
        try:
            email = normalize_email(email)
        except InvalidValue:
            errors["email"] = _("Enter a valid email address.")
    if phone:
        try:
            phone = normalize_phone(phone).e164
        except InvalidValue:
            errors["phone"] = _("Enter a valid phone number, e.g. 138 0013 8000.")
    if errors:
        raise ValidationFailed(fields=errors)
    return name, email, phone


@dataclass
class Started:
    session: ChatSession
    token: str  # the visitor's resume secret (only its hash is stored)


def chat_start(
    *,
    widget: ChatWidget,
    body: str,
    client_id: str,
    name: str = "",
    email: str = "",
    phone: str = "",
    language: str = "",
    address_key: str = "",
) -> Started:
    """Open the visitor's chat: a conversation on the chat channel with their first message, matched to a customer
    by email or phone (no match: a lead is made of them, and the screen pop offers a new customer), and a routing
    task through the widget's workflow (attributes: channel, language, widget, and the customer's id). A closed or
    full queue refuses the task: the visitor is offered to leave a message. ``address_key`` (the client's network
    address) limits new chats per minute. Runs in the widget's workspace."""
    _check_client_id(client_id)
    body = _clean_body(body)
    name, email, phone = _clean_contact(name, email, phone)
    language = language if language in LANGUAGES else (widget.language or "zh")
    if address_key and _count(f"start:{widget.pk}:{address_key}", START_WINDOW) > START_LIMIT:
        raise RateLimited(_("Too many new chats from your network. Please try again in a minute."))
    token = secrets.token_urlsafe(24)
    with transaction.atomic():
        session = ChatSession.objects.create(
            widget=widget, token_hash=_hash(token), name=name, email=email, phone=phone, language=language
        )
        address = email or phone
        customer = cc.customer_match(address) if address else None
        if customer is None and address:
            from guanxi.sales.services.leads import lead_from_channel

            session.lead = lead_from_channel(
                name=name, email=email, phone=phone, notes=_("Web chat: %(w)s") % {"w": widget.name}
            )
        conv = cc.conversation_open(
            actor=None, channel=Channel.CHAT, address=address, contact_name=name or _("Visitor"),
            subject=_("Web chat: %(w)s") % {"w": widget.name}, body=body,
            customer_id=(customer.merged_into_id or customer.pk) if customer else None,
            external_id=f"webchat:{session.pk}", route=False,
        )  # fmt: skip
        session.conversation = conv
        first = conv.messages.filter(kind=MessageKind.MESSAGE).order_by("id").first()
        ChatClientMessage.objects.create(session=session, client_id=client_id, message=first)
        attrs: dict[str, Any] = {"language": language, "widget": widget.public_key, "name": name}
        if email:
            attrs["email"] = email
        if phone:
            attrs["phone"] = phone
        if conv.customer_id:
            attrs["customer_id"] = conv.customer_id
        task = routing.task_enqueue(
            channel=Channel.CHAT, attributes=attrs, workflow=widget.workflow, customer_id=conv.customer_id,
            conversation_id=conv.pk, source_type="conversation", source_id=str(conv.pk),
        )  # fmt: skip
        if task.status == TaskStatus.REFUSED:
            session.state = SessionState.OFFLINE
        session.save(update_fields=["lead", "conversation", "state"])
    return Started(session=session, token=token)


@dataclass
class Sent:
    message: ConversationMessage
    duplicate: bool


def chat_message(*, session: ChatSession, client_id: str, body: str) -> Sent:
    """The visitor's message. Idempotent on ``client_id``: a resend returns the message already stored
    (``duplicate``), never a second one. Refuses an empty or oversized message, a flood (more than the widget's
    messages per minute), a chat that has ended (409)."""
    _check_client_id(client_id)
    known = (
        ChatClientMessage.objects.filter(session=session, client_id=client_id)
        .select_related("message")
        .first()
    )
    if known is not None and known.message is not None:
        return Sent(message=known.message, duplicate=True)
    body = _clean_body(body)
    if _count(f"msg:{session.pk}", 60) > session.widget.max_per_minute:
        raise RateLimited(_("You are sending messages too fast. Wait a moment, then send again."))
    if session.conversation_id is None or session.state in (SessionState.LEFT_MESSAGE, SessionState.CLOSED):
        raise Conflict(_("This chat has ended. Start a new one."), code="chat_ended")
    try:
        with transaction.atomic():
            msg = cc.conversation_message_add(
                actor=None, conversation_id=session.conversation_id, body=body, direction=Direction.INBOUND
            )
            ChatClientMessage.objects.create(session=session, client_id=client_id, message=msg)
    except IntegrityError:  # the same id sent twice at once from two sockets: the other one stored it
        known = ChatClientMessage.objects.get(session=session, client_id=client_id)
        return Sent(message=known.message, duplicate=True)  # type: ignore[arg-type]
    except Conflict as exc:
        if exc.code == "conversation_closed":
            raise Conflict(_("This chat has ended. Start a new one."), code="chat_ended") from exc
        raise
    return Sent(message=msg, duplicate=False)


def _open_task(session: ChatSession) -> Task | None:
    if session.conversation_id is None:
        return None
    return Task.objects.filter(conversation_id=session.conversation_id).order_by("-id").first()


def chat_leave_message(
    *, session: ChatSession, body: str, name: str = "", email: str = "", phone: str = ""
) -> ChatSession:
    """No agent is free or the queue is closed: the visitor leaves a message, which becomes a service ticket (for
    the customer found or made by the email or phone given, the chat so far in its description). The waiting task
    is withdrawn and the conversation closed. Needs an email or a phone (the error names the field). Leaving a
    message twice returns the same ticket."""
    from guanxi.service.models import TicketChannel
    from guanxi.service.services.intake import ticket_from_contact

    body = _clean_body(body, cc.MAX_BODY)
    name, email, phone = _clean_contact(name or session.name, email or session.email, phone or session.phone)
    if not email and not phone:
        raise ValidationFailed(
            fields={"email": _("Give an email address or a phone number, so we can answer you.")}
        )
    with transaction.atomic():
        session = ChatSession.objects.select_for_update().get(pk=session.pk)
        if session.ticket_id is not None:
            return session
        conv = Conversation.objects.filter(pk=session.conversation_id).first()
        so_far = cc.conversation_transcript(conv) if conv is not None else ""
        description = body + (f"\n\n— {_('The chat so far')} —\n{so_far}" if so_far else "")
        ticket = ticket_from_contact(
            name=name or email or phone, email=email, phone=phone, channel=TicketChannel.CHAT,
            subject=_("Message left in the web chat (%(w)s)") % {"w": session.widget.name},
            description=description[: cc.MAX_BODY], source_ref=f"webchat:{session.pk}",
        )  # fmt: skip
        task = _open_task(session)
        if task is not None and task.status in (TaskStatus.PENDING, TaskStatus.RESERVED):
            routing.task_cancel(task_id=task.pk, reason=_("The visitor left a message instead."))
        if conv is not None and conv.status == ConversationStatus.OPEN:
            _close_by_visitor(conv, "left_message", ticket_id=ticket.pk)
        session.ticket, session.state = ticket, SessionState.LEFT_MESSAGE
        session.email, session.phone, session.name = email, phone, name
        session.save(update_fields=["ticket", "state", "email", "phone", "name"])
    return session


def _close_by_visitor(conv: Conversation, event: str, **data: Any) -> None:
    """Close a chat nobody holds (the visitor left or left a message): event, timeline transcript, audit."""
    if conv.customer_id is None and data.get("ticket_id"):
        from guanxi.service.models import Ticket

        conv.customer_id = (
            Ticket.objects.filter(pk=data["ticket_id"]).values_list("customer_id", flat=True).first()
        )
    conv.status, conv.closed_at = ConversationStatus.CLOSED, timezone.now()
    conv.save(update_fields=["status", "closed_at", "customer"])
    ConversationMessage.objects.create(
        conversation=conv, kind=MessageKind.EVENT, data={"event": event, **data}
    )
    cc.conversation_transcript_record(conv)
    audit_record(workspace=require_workspace(), actor=None, action="webchat.chat.close", obj=conv,
                 after={"event": event, **data})  # fmt: skip


def chat_end(*, session: ChatSession) -> ChatSession:
    """The visitor closes the chat. Waiting: the task is withdrawn and the conversation closed. With an agent: the
    agent sees that the visitor left (and completes the contact as usual)."""
    with transaction.atomic():
        session = ChatSession.objects.select_for_update().get(pk=session.pk)
        if session.state in (SessionState.CLOSED, SessionState.LEFT_MESSAGE):
            return session
        conv = Conversation.objects.select_for_update().filter(pk=session.conversation_id).first()
        task = _open_task(session)
        if conv is not None and conv.status == ConversationStatus.OPEN:
            if task is not None and task.status in (TaskStatus.ASSIGNED, TaskStatus.WRAPPING):
                ConversationMessage.objects.create(
                    conversation=conv, kind=MessageKind.EVENT, data={"event": "visitor_left"}
                )
                holders = [task.agent.user_id] if task.agent_id else []
                payload = {"kind": "cc.message", "conversation_id": conv.pk}
                transaction.on_commit(lambda: nudge_agents(holders, payload))
            else:
                if task is not None and task.status in (TaskStatus.PENDING, TaskStatus.RESERVED):
                    routing.task_cancel(task_id=task.pk, reason=_("The visitor closed the chat."))
                _close_by_visitor(conv, "visitor_left")
        session.state = SessionState.CLOSED
        session.save(update_fields=["state"])
    return session


def chat_state(session: ChatSession) -> dict[str, Any]:
    """What the widget shows: ``state`` (waiting, busy, offered, chatting, offline, left_message, closed), a
    sentence for the visitor, the agent's name when one took the chat, and whether leaving a message is offered."""
    session.refresh_from_db()
    if session.state == SessionState.LEFT_MESSAGE:
        return {"state": "left_message", "text": _("Thank you. We have your message and will answer you soon."),
                "ticket": session.ticket_id, "leave": False}  # fmt: skip
    conv = Conversation.objects.filter(pk=session.conversation_id).first()
    if conv is None or conv.status == ConversationStatus.CLOSED or session.state == SessionState.CLOSED:
        return {"state": "closed", "text": _("This chat has ended. Thank you."), "leave": False}
    task = _open_task(session)
    status = task.status if task is not None else TaskStatus.REFUSED
    if status == TaskStatus.REFUSED:
        closed = not routing.queue_is_open(session.widget.queue, timezone.now())
        reason = _("We are closed now.") if closed else ""
        return {"state": "offline", "leave": True,
                "text": (reason + " " + _("No agent can answer now. Leave a message and we will answer you.")).strip()}  # fmt: skip
    if status in (TaskStatus.ASSIGNED, TaskStatus.WRAPPING):
        agent = task.agent.user if task.agent_id else None  # type: ignore[union-attr]
        shown = (agent.first_name or agent.username) if agent is not None else ""
        return {"state": "chatting", "agent": shown, "leave": False,
                "text": _("%(a)s is answering you.") % {"a": shown}}  # fmt: skip
    if status == TaskStatus.RESERVED:
        return {"state": "offered", "leave": True, "text": _("Connecting you to an agent…")}
    if status == TaskStatus.PENDING:
        return {"state": "busy", "leave": True,
                "text": _("All our agents are busy. Please wait, or leave a message.")}  # fmt: skip
    return {"state": "closed", "text": _("This chat has ended. Thank you."), "leave": False}


def widget_status(widget: ChatWidget) -> dict[str, Any]:
    """Before a chat starts: is the widget's queue open now, and is an agent who could take a chat available."""
    from django.db.models import Exists, F, OuterRef

    from guanxi.contact_center.models import AgentChannel, AgentSkill, QueueMember

    is_open = routing.queue_is_open(widget.queue, timezone.now())
    qs = AgentChannel.objects.filter(channel=Channel.CHAT, available=True, active__lt=F("capacity")).filter(
        Exists(QueueMember.objects.filter(queue_id=widget.queue_id, agent_id=OuterRef("agent_id")))
    )
    for req in widget.skills or []:
        qs = qs.filter(
            Exists(AgentSkill.objects.filter(agent_id=OuterRef("agent_id"), skill__name=req["skill"],
                                             level__gte=req.get("min_level", 1)))
        )  # fmt: skip
    return {"open": is_open, "agents": is_open and qs.exists()}


def chat_messages(session: ChatSession, after_id: int = 0) -> list[dict[str, Any]]:
    """The chat's messages after ``after_id`` (the visitor's and the agents'; notes and events are not shown), with
    the visitor's client id on theirs so the widget can match its own."""
    if session.conversation_id is None:
        return []
    cids = dict(
        ChatClientMessage.objects.filter(session=session, message__isnull=False).values_list(
            "message_id", "client_id"
        )
    )
    out = []
    for m in (
        ConversationMessage.objects.filter(
            conversation_id=session.conversation_id,
            kind=MessageKind.MESSAGE,
            id__gt=max(0, int(after_id or 0)),
        )
        .select_related("author")
        .order_by("id")[:500]
    ):
        who = (m.author.first_name or m.author.username) if m.author_id else ""
        out.append({"id": m.pk, "dir": m.direction, "body": m.body, "author": who, "cid": cids.get(m.pk, ""),
                    "at": m.created_at.isoformat()})  # fmt: skip
    return out
