"""Conversations (会话): open one when a contact writes or calls, add messages, link the customer, close it.

A conversation is what the agent works on; the routing Task (``guanxi.contact_center.routing``) is how it reaches
an agent. Every conversation with a known customer is one entry on the customer's timeline
(``interaction_record`` with the external key ``cc:conversation:<id>``, so a retry writes nothing twice).

Who may do what: a channel adapter (or a supervisor) opens conversations and adds the contact's messages; the agent
who holds the conversation's task replies, links the customer and closes it; a supervisor may do all of it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.contact_center import routing
from guanxi.contact_center.models import (
    OPEN_TASK_STATUSES,
    Channel,
    Conversation,
    ConversationMessage,
    ConversationStatus,
    Direction,
    MessageKind,
    Reservation,
    ReservationStatus,
    Task,
)
from guanxi.contact_center.realtime import nudge_agents, nudge_conversation
from guanxi.core.context import require_workspace
from guanxi.core.errors import Conflict, NotFound, ValidationFailed
from guanxi.customers.models import Customer
from guanxi.customers.models.core import InteractionKind
from guanxi.customers.normalize import InvalidValue, normalize_phone
from guanxi.customers.selectors import customer_by_phone
from guanxi.customers.timeline import interaction_record
from guanxi.ledger.services import audit_record
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module, Scope

MAX_BODY = 20_000
TIMELINE_KIND = {
    Channel.PHONE: InteractionKind.CALL,
    Channel.CALLBACK: InteractionKind.CALL,
    Channel.CHAT: InteractionKind.CHAT,
    Channel.SOCIAL: InteractionKind.CHAT,
    Channel.EMAIL: InteractionKind.EMAIL,
    Channel.SMS: InteractionKind.SMS,
}


def is_supervisor(actor: Membership) -> bool:
    return permissions.scope_for(actor, Module.CONTACT_CENTER, "edit") == Scope.WORKSPACE


# --- reads ------------------------------------------------------------------------------------------------------------


def conversation_list(*, actor: Membership) -> QuerySet[Conversation]:
    """Conversations the actor may read: a supervisor all of the workspace's; an agent those they handled or hold
    an offer or task of."""
    routing.require_agent_rights(actor)
    qs = Conversation.objects.all()
    if is_supervisor(actor):
        return qs
    mine = Task.objects.filter(conversation_id=OuterRef("pk")).filter(
        Q(agent__user_id=actor.user_id)
        | Exists(Reservation.objects.filter(task_id=OuterRef("pk"), agent__user_id=actor.user_id))
    )
    return qs.filter(Q(agent__user_id=actor.user_id) | Exists(mine))


def get_conversation_for(actor: Membership, conversation_id: Any) -> Conversation:
    """The conversation if the actor may read it; missing and not-yours are the same 404."""
    if not str(conversation_id).isdigit():
        raise NotFound()
    conv = conversation_list(actor=actor).filter(pk=int(conversation_id)).first()
    if conv is None:
        raise NotFound()
    return conv


def customer_match(address: str) -> Customer | None:
    """Who is this? A live customer of the current workspace with this phone number (any of their phones, by
    E.164) or email address (any of their emails); None when nobody matches or the address is neither."""
    address = (address or "").strip()
    if not address:
        return None
    live = Customer.objects.filter(merged_into__isnull=True).order_by("-created_at", "-id")
    if "@" in address:
        email = address.lower()  # the primary (customer_ws_email_idx), then any (customeremail_ws_email_idx)
        return live.filter(email=email).first() or live.filter(emails__email=email).first()
    try:
        e164 = normalize_phone(address).e164
    except InvalidValue:
        return None
    return live.filter(phone=e164).first() or customer_by_phone(e164)


# --- writes -----------------------------------------------------------------------------------------------------------


def _timeline(conv: Conversation, actor_user: Any = None, body: str = "") -> None:
    """The conversation's one entry on its customer's timeline (idempotent on the external key)."""
    if conv.customer_id is None:
        return
    interaction_record(
        workspace=conv.workspace,
        customer_id=conv.customer_id,
        kind=TIMELINE_KIND.get(conv.channel, InteractionKind.CHAT),
        occurred_at=conv.created_at or timezone.now(),
        actor=actor_user,
        direction=conv.direction,
        subject=conv.subject or f"{conv.get_channel_display()} {conv.address}".strip(),
        body=body[:2000],
        source_type="contact_center.conversation",
        source_id=str(conv.pk),
        data={"conversation_id": conv.pk, "channel": conv.channel},
        external_key=f"cc:conversation:{conv.pk}",
    )


def _event(conv: Conversation, event: str, actor_user: Any = None, **data: Any) -> None:
    ConversationMessage.objects.create(
        conversation=conv, kind=MessageKind.EVENT, author=actor_user, data={"event": event, **data}
    )


def conversation_open(
    *,
    actor: Membership | None,
    channel: str,
    address: str = "",
    contact_name: str = "",
    subject: str = "",
    body: str = "",
    direction: str = Direction.INBOUND,
    customer_id: int | None = None,
    external_id: str = "",
    attributes: dict[str, Any] | None = None,
    route: bool = True,
    now: dt.datetime | None = None,
) -> Conversation:
    """Open a conversation in the current workspace: match the customer by ``address`` (phone or email) unless
    ``customer_id`` is given, store the first message, put it on the customer's timeline and, for an inbound one
    with ``route``, enqueue a routing task pointing at it (the task's attributes carry channel, customer and
    whatever the adapter passes, for the workflow's conditions). ``actor`` is a supervisor or an adapter's key
    (None: a system channel running in the workspace's context). Idempotent on (channel, external_id): a retry
    returns the conversation already opened. Refuses an unknown channel or direction, an over-long field, a
    customer of another workspace (404). Audited as cc.conversation.open."""
    ws = require_workspace()
    if actor is not None:
        routing.require_supervisor(actor)
    errors: dict[str, str] = {}
    if channel not in Channel.values:
        errors["channel"] = _("Unknown channel.")
    if direction not in Direction.values:
        errors["direction"] = _("Direction must be in or out.")
    for field, value, limit in (
        ("address", address, 200),
        ("contact_name", contact_name, 200),
        ("subject", subject, 300),
        ("external_id", external_id, 120),
        ("body", body, MAX_BODY),
    ):
        if len(value or "") > limit:
            errors[field] = _("At most %(n)s characters.") % {"n": limit}
    if errors:
        raise ValidationFailed(fields=errors)
    now = now or timezone.now()
    if external_id:
        existing = Conversation.objects.filter(channel=channel, external_id=external_id).first()
        if existing is not None:
            return existing
    if customer_id is not None:
        customer = Customer.objects.filter(pk=customer_id).only("pk", "merged_into_id").first()
        if customer is None:
            raise NotFound()
    else:
        customer = customer_match(address)
    actor_user = actor.user if actor is not None else None
    with transaction.atomic():
        conv = Conversation.objects.create(
            workspace=ws, channel=channel, direction=direction, address=address.strip(),
            contact_name=contact_name.strip(), subject=subject.strip(), external_id=external_id,
            customer_id=(customer.merged_into_id or customer.pk) if customer else None,
            last_message_at=now if body else None,
        )  # fmt: skip
        if body:
            ConversationMessage.objects.create(
                conversation=conv,
                direction=direction,
                body=body,
                author=None if direction == "in" else actor_user,
            )
        _timeline(conv, actor_user, body)
        if route and direction == Direction.INBOUND:
            attrs = {**(attributes or {}), "channel": channel}
            if conv.customer_id:
                attrs.setdefault("customer_id", conv.customer_id)
            routing.task_enqueue(
                channel=channel, attributes=attrs, customer_id=conv.customer_id, conversation_id=conv.pk,
                source_type="conversation", source_id=str(conv.pk), now=now,
            )  # fmt: skip
        audit_record(
            workspace=ws, actor=actor_user, action="cc.conversation.open", obj=conv,
            after={"channel": channel, "direction": direction, "customer_id": conv.customer_id},
        )  # fmt: skip
    return conv


def _holds(actor: Membership, conv: Conversation) -> bool:
    """The actor's agent holds (assigned or wrapping up) a task of this conversation."""
    return Task.objects.filter(
        conversation_id=conv.pk, agent__user_id=actor.user_id, status__in=OPEN_TASK_STATUSES
    ).exists()


def _locked_for_work(actor: Membership | None, conversation_id: Any) -> Conversation:
    """The conversation, row-locked, if the actor may work on it (holds its task, or is a supervisor; None: the
    system). Someone else's reads as missing."""
    if actor is None:
        conv = (
            Conversation.objects.select_for_update().filter(pk=conversation_id).first()
            if str(conversation_id).isdigit()
            else None
        )
    else:
        get_conversation_for(actor, conversation_id)
        conv = Conversation.objects.select_for_update().get(pk=int(conversation_id))
        if not is_supervisor(actor) and not _holds(actor, conv):
            raise NotFound()
    if conv is None:
        raise NotFound()
    return conv


def conversation_message_add(
    *,
    actor: Membership | None,
    conversation_id: Any,
    body: str,
    direction: str = Direction.OUTBOUND,
    kind: str = MessageKind.MESSAGE,
) -> ConversationMessage:
    """Add a message: the agent's reply (out), the contact's message (in, from the channel adapter: ``actor`` None
    or a supervisor's key) or an internal note. Refuses an empty or over-long body, a closed conversation (409),
    an agent who does not hold the conversation (404), an agent posting as the contact (403)."""
    body = (body or "").strip()
    errors: dict[str, str] = {}
    if not body:
        errors["body"] = _("Write a message.")
    elif len(body) > MAX_BODY:
        errors["body"] = _("At most %(n)s characters.") % {"n": MAX_BODY}
    if direction not in Direction.values:
        errors["direction"] = _("Direction must be in or out.")
    if kind not in (MessageKind.MESSAGE, MessageKind.NOTE):
        errors["kind"] = _("Choose a message or an internal note.")
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        conv = _locked_for_work(actor, conversation_id)
        if actor is not None and direction == Direction.INBOUND and not is_supervisor(actor):
            routing.require_supervisor(actor)  # only the channel speaks for the contact
        if conv.status == ConversationStatus.CLOSED:
            raise Conflict(_("This conversation is closed."), code="conversation_closed")
        msg = ConversationMessage.objects.create(
            conversation=conv, kind=kind, direction=direction if kind == MessageKind.MESSAGE else "",
            author=actor.user if actor is not None and direction == Direction.OUTBOUND else None, body=body,
        )  # fmt: skip
        if kind == MessageKind.MESSAGE:
            conv.last_message_at = msg.created_at
            conv.save(update_fields=["last_message_at"])
        if (
            actor is not None
            and kind == MessageKind.MESSAGE
            and direction == Direction.OUTBOUND
            and conv.channel == Channel.EMAIL
        ):
            # the agent's email reply is sent on commit (an automatic one is sent by the receive that wrote it)
            transaction.on_commit(_email_send_now)
        if direction == Direction.OUTBOUND and kind == MessageKind.MESSAGE:
            conv_id = conv.pk
            transaction.on_commit(lambda: nudge_conversation(conv_id, {"message_id": msg.pk}))
        if direction == Direction.INBOUND:
            holders = list(
                Task.objects.filter(
                    conversation_id=conv.pk, status__in=OPEN_TASK_STATUSES, agent__isnull=False
                ).values_list("agent__user_id", flat=True)
            )
            payload = {"kind": "cc.message", "conversation_id": conv.pk}
            transaction.on_commit(lambda: nudge_agents(holders, payload))
    return msg


def _email_send_now() -> None:
    """An agent's email reply goes out as soon as it commits (the email channel's minute job is the fallback)."""
    from guanxi.channels.email import email_outbox_kick  # the channel app builds on this one: import late

    email_outbox_kick()


def conversation_link_customer(*, actor: Membership, conversation_id: Any, customer_id: Any) -> Conversation:
    """Say who the contact is (after a search, or after creating the customer from the screen pop): the
    conversation and its open task point at the customer and the conversation goes on their timeline. Needs view
    rights on that customer (else 404). Audited."""
    with transaction.atomic():
        conv = _locked_for_work(actor, conversation_id)
        _link(actor, conv, customer_id)
    return conv


def _link(actor: Membership, conv: Conversation, customer_id: Any) -> int:
    from guanxi.customers.selectors import get_customer_for

    customer = get_customer_for(actor, customer_id)
    before = conv.customer_id
    conv.customer_id = customer.merged_into_id or customer.pk
    conv.save(update_fields=["customer"])
    Task.objects.filter(conversation_id=conv.pk, status__in=OPEN_TASK_STATUSES).update(
        customer_id=conv.customer_id
    )
    first = conv.messages.filter(kind=MessageKind.MESSAGE).order_by("id").first()
    _timeline(conv, actor.user, first.body if first else "")
    audit_record(
        workspace=actor.workspace, actor=actor.user, action="cc.conversation.link_customer", obj=conv,
        before={"customer_id": before}, after={"customer_id": conv.customer_id},
    )  # fmt: skip
    return conv.customer_id


def task_for_work(actor: Membership, task_id: Any) -> Task:
    """A task the actor's agent holds or held, or has an open offer of (the screen pop); else 404. Row-locked."""
    task = (
        Task.objects.select_for_update(of=("self",)).filter(pk=task_id).first()
        if str(task_id).isdigit()
        else None
    )
    if task is None:
        raise NotFound()
    offered = Reservation.objects.filter(
        task_id=task.pk, agent__user_id=actor.user_id, status=ReservationStatus.PENDING
    ).exists()
    if not offered and not Task.objects.filter(pk=task.pk, agent__user_id=actor.user_id).exists():
        raise NotFound()
    return task


def task_customer_link(*, actor: Membership, task_id: Any, customer_id: Any) -> Task:
    """From the screen pop: the offered or held contact is this customer (found, or just created). The task and
    its conversation point at them and the conversation goes on their timeline. Audited."""
    from guanxi.customers.selectors import get_customer_for

    routing.require_agent_rights(actor)
    with transaction.atomic():
        task = task_for_work(actor, task_id)
        if task.status not in OPEN_TASK_STATUSES:
            raise Conflict(_("This contact is not open."), code="task_not_open")
        conv = Conversation.objects.select_for_update().filter(pk=task.conversation_id).first()
        if conv is not None:
            task.customer_id = _link(actor, conv, customer_id)
        else:
            customer = get_customer_for(actor, customer_id)
            task.customer_id = customer.merged_into_id or customer.pk
            task.save(update_fields=["customer"])
            audit_record(
                workspace=actor.workspace, actor=actor.user, action="cc.task.link_customer", obj=task,
                after={"customer_id": task.customer_id},
            )  # fmt: skip
    return task


def conversation_assigned(task: Task, agent_user: Any) -> None:
    """The routing engine's hook when an agent accepts the conversation's task (inside its transaction)."""
    if task.conversation_id is None:
        return
    conv = Conversation.objects.filter(pk=task.conversation_id).first()
    if conv is None:
        return
    Conversation.objects.filter(pk=conv.pk).update(agent_id=task.agent_id)
    _event(conv, "assigned", agent_user, agent=str(agent_user))
    transaction.on_commit(lambda: nudge_conversation(conv.pk))


def conversation_close(
    *, actor: Membership, conversation_id: Any, disposition: str = "", notes: str = ""
) -> Conversation:
    """Close the conversation with a disposition code and notes (wrap-up). Closing twice is refused (409).
    Audited."""
    errors: dict[str, str] = {}
    if len(disposition or "") > 60:
        errors["disposition"] = _("At most %(n)s characters.") % {"n": 60}
    if len(notes or "") > MAX_BODY:
        errors["notes"] = _("At most %(n)s characters.") % {"n": MAX_BODY}
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        conv = _locked_for_work(actor, conversation_id)
        if conv.status == ConversationStatus.CLOSED:
            raise Conflict(_("This conversation is closed."), code="conversation_closed")
        conv.status, conv.closed_at = ConversationStatus.CLOSED, timezone.now()
        conv.disposition, conv.notes = disposition.strip(), (notes or "").strip()
        conv.save(update_fields=["status", "closed_at", "disposition", "notes"])
        _event(conv, "closed", actor.user, disposition=conv.disposition)
        if conv.channel == Channel.CHAT:
            conversation_transcript_record(conv)
        transaction.on_commit(lambda: nudge_conversation(conv.pk))
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="cc.conversation.close", obj=conv,
            after={"disposition": conv.disposition},
        )  # fmt: skip
    return conv


def conversation_transcript(conv: Conversation) -> str:
    """The conversation's messages as text, one line each: time, who, what (internal notes and events left out)."""
    lines = []
    contact = conv.contact_name or conv.address or _("Visitor")
    for m in conv.messages.filter(kind=MessageKind.MESSAGE).select_related("author").order_by("id"):
        who = str(m.author) if m.author_id else contact
        lines.append(f"[{timezone.localtime(m.created_at):%H:%M}] {who}: {m.body}")
    return "\n".join(lines)


def conversation_transcript_record(conv: Conversation) -> None:
    """Put the whole transcript on the conversation's one timeline entry (a chat, when it ends). Nothing when the
    contact is not known as a customer."""
    from guanxi.customers.models import Interaction

    if conv.customer_id is None:
        return
    _timeline(conv)
    Interaction.objects.filter(external_key=f"cc:conversation:{conv.pk}").update(
        body=conversation_transcript(conv)[:MAX_BODY]
    )
