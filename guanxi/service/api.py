"""API routes of the service app (服务): tickets, their messages, assignment, status, merge and split.

Reads through the selectors, writes through the services; errors in the one shape (docs/api.md).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from guanxi.core.api_support import CURSOR_QUERY, LIMIT_QUERY, ErrorOut, member, page_of, paginate
from guanxi.core.errors import ValidationFailed
from guanxi.service import selectors
from guanxi.service.services import messages as msg_services
from guanxi.service.services import tickets as services

router = Router(tags=["service"])

ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 409, 422, 429)}
StatusLit = Literal["new", "open", "pending", "resolved", "closed"]
PriorityLit = Literal["low", "normal", "high", "urgent"]
TypeLit = Literal["ticket", "complaint"]
ChannelLit = Literal["web", "web_form", "email", "api", "phone", "chat", "portal", "survey", "other"]


class TicketOut(Schema):
    id: int
    customer_id: int
    subject: str
    description: str
    channel: str
    category_id: int | None
    priority: str
    status: str
    type: str
    assignee_id: int | None
    team_id: int | None
    merged_into_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    first_response_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    sla_policy_id: int | None
    first_response_due_at: dt.datetime | None
    resolution_due_at: dt.datetime | None
    sla_paused: bool = Field(
        False, description="True while waiting on the customer (the SLA clock is stopped)."
    )

    @staticmethod
    def resolve_sla_paused(obj: object) -> bool:
        return getattr(obj, "sla_paused_at", None) is not None


class TicketIn(Schema):
    customer_id: int
    subject: str = Field(max_length=300)
    description: str = Field("", max_length=50_000)
    channel: ChannelLit = "api"
    category_id: int | None = None
    priority: PriorityLit = "normal"
    type: TypeLit = "ticket"
    assignee_id: int | None = Field(None, description="Default: the assignment rules.")
    team_id: int | None = None
    source_ref: str = Field(
        "", max_length=200, description="Idempotency key: the same value returns the same ticket."
    )


class TicketPatch(Schema):
    subject: str | None = Field(None, max_length=300)
    description: str | None = Field(None, max_length=50_000)
    category_id: int | None = None
    priority: PriorityLit | None = None
    type: TypeLit | None = None
    team_id: int | None = None


class TicketFilters(Schema):
    status: StatusLit | None = None
    team_id: int | None = Field(None, description="The queue.")
    assignee_id: int | None = None
    unassigned: bool = False
    customer_id: int | None = None
    type: TypeLit | None = None
    open: bool = Field(False, description="Only new, open and pending tickets.")


class AttachmentIn(Schema):
    name: str = Field(max_length=200)
    content_base64: str


class MessageIn(Schema):
    kind: Literal["note", "reply"]
    body: str = Field(max_length=50_000)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=10)


class AttachmentOut(Schema):
    id: int
    filename: str
    content_type: str
    size: int


class MessageOut(Schema):
    id: int
    ticket_id: int
    kind: str
    author_id: int | None
    body: str
    created_at: dt.datetime
    emailed_at: dt.datetime | None
    attachments: list[AttachmentOut]

    @staticmethod
    def resolve_attachments(obj: object) -> list:
        return list(obj.attachments.all())  # type: ignore[attr-defined]


class AssignIn(Schema):
    assignee_id: int | None


class StatusIn(Schema):
    status: StatusLit


class MergeIn(Schema):
    target_id: int = Field(description="The ticket that stays; this one is closed into it.")


class SplitIn(Schema):
    message_ids: list[int] = Field(min_length=1)
    subject: str = Field(max_length=300)


@router.get("/tickets", response={200: page_of(TicketOut), **ERRORS}, summary="List tickets")
def tickets(
    request: HttpRequest,
    filters: Query[TicketFilters],
    limit: int = LIMIT_QUERY,
    cursor: str | None = CURSOR_QUERY,
) -> dict:
    qs = selectors.ticket_list(
        actor=member(request),
        status=filters.status,
        team_id=filters.team_id,
        assignee_id=filters.assignee_id,
        unassigned=filters.unassigned,
        customer_id=filters.customer_id,
        type=filters.type,
        open_only=filters.open,
    )
    return paginate(qs, order=("-id",), limit=limit, cursor=cursor)


@router.post("/tickets", response={201: TicketOut, **ERRORS}, summary="Open a ticket")
def ticket_add(request: HttpRequest, payload: TicketIn) -> Status:
    d = payload.dict()
    ticket = services.ticket_create(
        actor=member(request),
        customer=d["customer_id"],
        subject=d["subject"],
        description=d["description"],
        channel=d["channel"],
        category=d["category_id"],
        priority=d["priority"],
        type=d["type"],
        source_ref=d["source_ref"],
        assignee_id=d["assignee_id"],
        team_id=d["team_id"],
    )
    return Status(201, ticket)


@router.get("/tickets/{ticket_id}", response={200: TicketOut, **ERRORS}, summary="Get a ticket")
def ticket_detail(request: HttpRequest, ticket_id: int) -> object:
    return selectors.get_ticket_for(member(request), ticket_id)


@router.patch("/tickets/{ticket_id}", response={200: TicketOut, **ERRORS}, summary="Change a ticket")
def ticket_change(request: HttpRequest, ticket_id: int, payload: TicketPatch) -> object:
    return services.ticket_update(actor=member(request), ticket=ticket_id, **payload.dict(exclude_unset=True))


@router.post("/tickets/{ticket_id}/assign", response={200: TicketOut, **ERRORS}, summary="Assign a ticket")
def ticket_assign(request: HttpRequest, ticket_id: int, payload: AssignIn) -> object:
    return services.ticket_assign(actor=member(request), ticket=ticket_id, assignee_id=payload.assignee_id)


@router.post(
    "/tickets/{ticket_id}/status", response={200: TicketOut, **ERRORS}, summary="Change a ticket's status"
)
def ticket_status(request: HttpRequest, ticket_id: int, payload: StatusIn) -> object:
    return services.ticket_set_status(actor=member(request), ticket=ticket_id, status=payload.status)


@router.post(
    "/tickets/{ticket_id}/merge", response={200: TicketOut, **ERRORS}, summary="Merge into another ticket"
)
def ticket_merge(request: HttpRequest, ticket_id: int, payload: MergeIn) -> object:
    return services.ticket_merge(actor=member(request), source=ticket_id, target=payload.target_id)


@router.post("/tickets/{ticket_id}/split", response={201: TicketOut, **ERRORS}, summary="Split messages off")
def ticket_split(request: HttpRequest, ticket_id: int, payload: SplitIn) -> Status:
    new = services.ticket_split(
        actor=member(request), ticket=ticket_id, message_ids=payload.message_ids, subject=payload.subject
    )
    return Status(201, new)


@router.get(
    "/tickets/{ticket_id}/messages",
    response={200: list[MessageOut], **ERRORS},
    summary="A ticket's conversation",
)
def ticket_messages(request: HttpRequest, ticket_id: int) -> list:
    ticket = selectors.get_ticket_for(member(request), ticket_id)
    return list(ticket.messages.prefetch_related("attachments").order_by("created_at", "id")[:500])


@router.post(
    "/tickets/{ticket_id}/messages", response={201: MessageOut, **ERRORS}, summary="Add a note or a reply"
)
def ticket_message_add(request: HttpRequest, ticket_id: int, payload: MessageIn) -> Status:
    files = []
    for i, a in enumerate(payload.attachments):
        try:
            content = base64.b64decode(a.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationFailed(fields={f"attachments.{i}": _("Not valid base64.")}) from None
        files.append(msg_services.Upload(name=a.name, content=content))
    msg = msg_services.ticket_message_add(
        actor=member(request), ticket=ticket_id, kind=payload.kind, body=payload.body, files=files
    )
    return Status(201, msg)


class InboundOut(Schema):
    ticket_id: int
    created: bool = Field(
        description="True: a new ticket; false: the email joined an existing ticket's thread."
    )


@router.post(
    "/inbound/email",
    response={200: InboundOut, 201: InboundOut, **ERRORS},
    summary="Receive an email (raw RFC 822) as a ticket",
    openapi_extra={
        "requestBody": {"content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}}}
    },
)
def inbound_email(request: HttpRequest) -> Status:
    """The mail hook: post the raw message (Content-Type message/rfc822). A new message opens a ticket (201); an
    answer joins its ticket by In-Reply-To/References (200). Malformed or huge messages and refused attachments
    are 422 with the field named."""
    from django.core.exceptions import RequestDataTooBig

    from guanxi.service.services.inbound import MAX_MESSAGE_BYTES, ticket_from_email
    from guanxi.workspaces import permissions
    from guanxi.workspaces.permissions import Module

    permissions.require(member(request), Module.SERVICE, "edit")
    try:
        raw = request.body
    except RequestDataTooBig:
        raise ValidationFailed(
            fields={
                "message": _("The message is too large: at most %(mb)s MB.") % {"mb": MAX_MESSAGE_BYTES >> 20}
            }
        ) from None
    result = ticket_from_email(raw=raw)
    return Status(201 if result.created else 200, {"ticket_id": result.ticket.pk, "created": result.created})
