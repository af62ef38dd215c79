"""API routes of the interaction centre's routing engine (/api/v1/contact-center/...).

Agents: their presence, their open offers (accept / reject), the contacts they hold (wrap-up, complete).
Channel adapters and supervisors: enqueue a contact, see the queues. Supervisors: queues, workflows, agent set-up.
Everything goes through ``guanxi.contact_center.routing``; errors in the one shape (docs/api.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.db.models import Count, Q
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from guanxi.contact_center import routing
from guanxi.contact_center import services as cc_services
from guanxi.contact_center.models import (
    AgentChannel,
    AgentSkill,
    Conversation,
    ConversationMessage,
    Queue,
    Reservation,
    ReservationStatus,
    Task,
    TaskStatus,
)
from guanxi.core.api_support import ErrorOut, member
from guanxi.core.errors import NotFound
from guanxi.workspaces.models import Membership

router = Router(tags=["contact centre"])
ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 409, 422, 429)}
ChannelLit = Literal["phone", "chat", "email", "sms", "social", "callback"]
PresenceLit = Literal["offline", "available", "busy", "wrap_up", "paused"]
StrategyLit = Literal["longest_idle", "round_robin", "fewest_contacts", "random", "ring_all"]


class SlotOut(Schema):
    channel: str
    capacity: int
    active: int


class AgentOut(Schema):
    user_id: int
    presence: str
    pause_reason: str
    presence_since: dt.datetime | None
    contacts_today: int
    channels: list[SlotOut]
    skills: dict[str, int]


def _agent_out(m: Membership) -> dict[str, Any]:
    routing.require_agent_rights(m)
    agent = routing.agent_for(m)
    return {
        "user_id": m.user_id,
        "presence": agent.presence,
        "pause_reason": agent.pause_reason,
        "presence_since": agent.presence_since,
        "contacts_today": agent.contacts_today,
        "channels": list(AgentChannel.objects.filter(agent=agent).values("channel", "capacity", "active")),
        "skills": dict(AgentSkill.objects.filter(agent=agent).values_list("skill__name", "level")),
    }


class PresenceIn(Schema):
    presence: PresenceLit
    reason: str = Field("", max_length=100, description="Required when pausing.")


@router.get("/contact-center/me", response={200: AgentOut, **ERRORS}, summary="My agent state")
def cc_me(request: HttpRequest) -> dict:
    return _agent_out(member(request))


@router.put("/contact-center/me/presence", response={200: AgentOut, **ERRORS}, summary="Set my presence")
def cc_presence(request: HttpRequest, payload: PresenceIn) -> dict:
    m = member(request)
    routing.agent_set_presence(actor=m, presence=payload.presence, reason=payload.reason)
    return _agent_out(m)


class TaskOut(Schema):
    id: int
    channel: str
    status: str
    status_reason: str
    priority: int
    queue_id: int | None
    attributes: dict
    customer_id: int | None
    conversation_id: int | None
    source_type: str
    source_id: str
    created_at: dt.datetime
    assigned_at: dt.datetime | None
    completed_at: dt.datetime | None


class OfferOut(Schema):
    id: int
    expires_at: dt.datetime
    task: TaskOut


@router.get("/contact-center/offers", response={200: list[OfferOut], **ERRORS}, summary="My open offers")
def cc_offers(request: HttpRequest) -> list:
    m = member(request)
    routing.require_agent_rights(m)
    return list(
        Reservation.objects.filter(agent__user_id=m.user_id, status=ReservationStatus.PENDING)
        .select_related("task")
        .order_by("expires_at")[:50]
    )


@router.post(
    "/contact-center/offers/{reservation_id}/accept",
    response={200: TaskOut, **ERRORS},
    summary="Accept an offer",
    description="409 reservation_expired when the offer timed out (it went to the next agent), "
    "409 reservation_closed when it was withdrawn or decided; another agent's offer is 404.",
)
def offer_accept(request: HttpRequest, reservation_id: int) -> object:
    return routing.reservation_accept(actor=member(request), reservation_id=reservation_id)


@router.post(
    "/contact-center/offers/{reservation_id}/reject",
    response={204: None, **ERRORS},
    summary="Decline an offer",
)
def offer_reject(request: HttpRequest, reservation_id: int) -> Status:
    routing.reservation_reject(actor=member(request), reservation_id=reservation_id)
    return Status(204, None)


@router.get("/contact-center/tasks", response={200: list[TaskOut], **ERRORS}, summary="Contacts I hold")
def cc_my_tasks(request: HttpRequest) -> list:
    m = member(request)
    routing.require_agent_rights(m)
    return list(
        Task.objects.filter(
            agent__user_id=m.user_id, status__in=[TaskStatus.ASSIGNED, TaskStatus.WRAPPING]
        ).order_by("assigned_at")[:100]
    )


@router.post("/contact-center/tasks/{task_id}/wrap-up", response={200: TaskOut, **ERRORS}, summary="Wrap up")
def task_wrap_up(request: HttpRequest, task_id: int) -> object:
    return routing.task_wrap_up(actor=member(request), task_id=task_id)


@router.post(
    "/contact-center/tasks/{task_id}/complete", response={200: TaskOut, **ERRORS}, summary="Complete"
)
def task_complete(request: HttpRequest, task_id: int) -> object:
    return routing.task_complete(actor=member(request), task_id=task_id)


class EnqueueIn(Schema):
    channel: ChannelLit
    attributes: dict = Field(default_factory=dict, description="What the workflow's conditions read.")
    customer_id: int | None = None
    source_type: str = Field("", max_length=30)
    source_id: str = Field("", max_length=100, description="Idempotency: one open task per source.")
    priority: int = Field(0, ge=-100, le=100)


@router.post(
    "/contact-center/tasks",
    response={201: TaskOut, **ERRORS},
    summary="Put a contact in line (channel adapters)",
    description="Supervisor rights (an integration key). Refused tasks come back with status 'refused' and the "
    "reason (queue closed or full) so the channel can offer voicemail or a message.",
)
def task_add(request: HttpRequest, payload: EnqueueIn) -> Status:
    from guanxi.customers.selectors import get_customer_for

    m = member(request)
    routing.require_supervisor(m)
    if payload.customer_id is not None:
        get_customer_for(m, payload.customer_id)  # 404 for another workspace's customer
    task = routing.task_enqueue(
        channel=payload.channel, attributes=payload.attributes, customer_id=payload.customer_id,
        source_type=payload.source_type, source_id=payload.source_id, priority=payload.priority,
    )  # fmt: skip
    return Status(201, task)


class QueueOut(Schema):
    id: int
    name: str
    strategy: str
    hours: dict
    holidays: list
    max_length: int | None
    overflow_id: int | None
    service_level_seconds: int
    reservation_timeout: int
    waiting: int = 0
    offered: int = 0


class QueueIn(Schema):
    name: str = Field(max_length=100)
    strategy: StrategyLit = "longest_idle"
    hours: dict = Field(
        default_factory=dict, description='{"1": [["09:00", "18:00"]], ...}; empty: always open'
    )
    holidays: list[str] = Field(default_factory=list)
    max_length: int | None = Field(None, ge=0)
    overflow_id: int | None = None
    service_level_seconds: int = Field(20, ge=1, le=3600)
    reservation_timeout: int = Field(15, ge=1, le=600)


@router.get(
    "/contact-center/queues", response={200: list[QueueOut], **ERRORS}, summary="Queues, with waiting"
)
def cc_queues(request: HttpRequest) -> list:
    routing.require_agent_rights(member(request))
    counts = {
        row["queue_id"]: row
        for row in Task.objects.filter(status__in=[TaskStatus.PENDING, TaskStatus.RESERVED])
        .values("queue_id")
        .annotate(
            waiting=Count("pk", filter=Q(status=TaskStatus.PENDING)),
            offered=Count("pk", filter=Q(status=TaskStatus.RESERVED)),
        )
    }
    out = []
    for q in Queue.objects.order_by("name"):
        row = counts.get(q.pk, {})
        q.waiting, q.offered = row.get("waiting", 0), row.get("offered", 0)
        out.append(q)
    return out


@router.post("/contact-center/queues", response={201: QueueOut, **ERRORS}, summary="Create a queue")
def queue_add(request: HttpRequest, payload: QueueIn) -> Status:
    return Status(201, routing.queue_create(actor=member(request), **payload.dict()))


class SkillReqIn(Schema):
    skill: str = Field(max_length=60)
    min_level: int = Field(1, ge=1, le=10)


class StepIn(Schema):
    expression: str = Field("", max_length=500)
    queue_id: int
    skills: list[SkillReqIn] = Field(default_factory=list)
    timeout: int | None = Field(None, ge=1)
    priority_boost: int = Field(0, ge=-100, le=100)


class WorkflowIn(Schema):
    name: str = Field(max_length=100)
    is_default: bool = False
    steps: list[StepIn]


class WorkflowOut(Schema):
    id: int
    name: str
    is_default: bool


@router.post("/contact-center/workflows", response={201: WorkflowOut, **ERRORS}, summary="Create a workflow")
def workflow_add(request: HttpRequest, payload: WorkflowIn) -> Status:
    data = payload.dict()
    return Status(
        201,
        routing.workflow_create(
            actor=member(request), name=data["name"], is_default=data["is_default"], steps=data["steps"]
        ),
    )


class AgentConfigIn(Schema):
    capacities: dict[str, int] | None = None
    skills: dict[str, int] | None = None
    queue_ids: list[int] | None = None
    phone_uri: str | None = Field(None, max_length=200)


@router.put(
    "/contact-center/agents/{member_id}", response={200: AgentOut, **ERRORS}, summary="Set up an agent"
)
def agent_setup(request: HttpRequest, member_id: int, payload: AgentConfigIn) -> dict:
    actor = member(request)
    routing.require_supervisor(actor)
    target = Membership.objects.filter(pk=member_id).first()
    if target is None:
        raise NotFound()
    routing.agent_configure(actor=actor, member=target, **payload.dict())
    return _agent_out(target)


# --- conversations (会话) ---------------------------------------------------------------------------------------------


class ConversationOut(Schema):
    id: int
    channel: str
    direction: str
    status: str
    customer_id: int | None
    address: str
    contact_name: str
    subject: str
    external_id: str
    agent_user_id: int | None = None
    disposition: str
    notes: str
    created_at: dt.datetime
    last_message_at: dt.datetime | None
    closed_at: dt.datetime | None

    @staticmethod
    def resolve_agent_user_id(obj: Conversation) -> int | None:
        return obj.agent.user_id if obj.agent_id else None


class MessageOut(Schema):
    id: int
    kind: str
    direction: str
    author_id: int | None
    body: str
    data: dict
    created_at: dt.datetime


class ConversationIn(Schema):
    channel: ChannelLit
    direction: Literal["in", "out"] = "in"
    address: str = Field("", max_length=200, description="Phone number, email address or chat identity.")
    contact_name: str = Field("", max_length=200)
    subject: str = Field("", max_length=300)
    body: str = Field("", max_length=20000, description="The first message.")
    customer_id: int | None = Field(None, description="Else matched by the address (phone or email).")
    external_id: str = Field("", max_length=120, description="The channel's id: idempotency per channel.")
    attributes: dict = Field(default_factory=dict, description="For the routing workflow's conditions.")
    route: bool = Field(True, description="Inbound: put it in line for an agent.")


class MessageIn(Schema):
    body: str = Field(max_length=20000)
    direction: Literal["in", "out"] = "out"
    kind: Literal["message", "note"] = "message"


class CloseIn(Schema):
    disposition: str = Field("", max_length=60)
    notes: str = Field("", max_length=20000)


@router.get(
    "/contact-center/conversations",
    response={200: list[ConversationOut], **ERRORS},
    summary="Conversations",
    description="Newest first, 50 a page; `before=<id>` for the next page. Agents see the conversations they "
    "handled or were offered; supervisors all.",
)
def conversation_list(
    request: HttpRequest,
    status: Literal["open", "closed"] | None = None,
    customer_id: int | None = None,
    before: int | None = None,
) -> list:
    qs = cc_services.conversation_list(actor=member(request)).select_related("agent")
    if status:
        qs = qs.filter(status=status)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if before is not None:
        qs = qs.filter(pk__lt=before)
    return list(qs.order_by("-id")[:50])


@router.post(
    "/contact-center/conversations",
    response={201: ConversationOut, **ERRORS},
    summary="Open a conversation (channel adapters)",
    description="Supervisor rights (an integration key). Matches the customer by phone or email, puts the "
    "conversation on their timeline and, inbound, in line for an agent. Idempotent on (channel, external_id).",
)
def conversation_add(request: HttpRequest, payload: ConversationIn) -> Status:
    from guanxi.customers.selectors import get_customer_for

    m = member(request)
    routing.require_supervisor(m)
    if payload.customer_id is not None:
        get_customer_for(m, payload.customer_id)  # 404 for another workspace's customer
    conv = cc_services.conversation_open(actor=m, **payload.dict())
    return Status(201, Conversation.objects.select_related("agent").get(pk=conv.pk))


@router.get(
    "/contact-center/conversations/{conversation_id}",
    response={200: ConversationOut, **ERRORS},
    summary="A conversation",
)
def conversation_detail(request: HttpRequest, conversation_id: int) -> object:
    return cc_services.get_conversation_for(member(request), conversation_id)


@router.get(
    "/contact-center/conversations/{conversation_id}/messages",
    response={200: list[MessageOut], **ERRORS},
    summary="A conversation's messages",
    description="Oldest first, 200 a page; `after=<id>` for the next page.",
)
def conversation_messages(request: HttpRequest, conversation_id: int, after: int | None = None) -> list:
    conv = cc_services.get_conversation_for(member(request), conversation_id)
    qs = ConversationMessage.objects.filter(conversation_id=conv.pk)
    if after is not None:
        qs = qs.filter(pk__gt=after)
    return list(qs.order_by("id")[:200])


@router.post(
    "/contact-center/conversations/{conversation_id}/messages",
    response={201: MessageOut, **ERRORS},
    summary="Reply, or add the contact's message",
    description="The agent holding the conversation replies (out) or writes an internal note; the channel "
    "adapter (supervisor key) adds the contact's messages (in). 409 conversation_closed when closed.",
)
def conversation_message_add(request: HttpRequest, conversation_id: int, payload: MessageIn) -> Status:
    msg = cc_services.conversation_message_add(
        actor=member(request), conversation_id=conversation_id, body=payload.body,
        direction=payload.direction, kind=payload.kind,
    )  # fmt: skip
    return Status(201, msg)


@router.post(
    "/contact-center/conversations/{conversation_id}/close",
    response={200: ConversationOut, **ERRORS},
    summary="Close a conversation",
)
def conversation_close(request: HttpRequest, conversation_id: int, payload: CloseIn) -> object:
    conv = cc_services.conversation_close(
        actor=member(request), conversation_id=conversation_id, disposition=payload.disposition,
        notes=payload.notes,
    )  # fmt: skip
    return Conversation.objects.select_related("agent").get(pk=conv.pk)


# --- wallboard, KPIs, staffing ---------------------------------------------------------------------------------------


class WallboardQueueOut(Schema):
    id: int
    name: str
    waiting: int
    offered: int
    longest_wait_seconds: int
    answered_today: int
    abandoned_today: int
    service_level_today: float | None


class WallboardOut(Schema):
    at: dt.datetime
    queues: list[WallboardQueueOut]
    agents: dict[str, int]


@router.get("/contact-center/wallboard", response={200: WallboardOut, **ERRORS}, summary="Live queue board")
def cc_wallboard(request: HttpRequest) -> dict:
    from guanxi.contact_center.kpis import wallboard

    routing.require_agent_rights(member(request))
    return wallboard()


class KpiFigures(Schema):
    offered: int
    answered: int
    abandoned: int
    answered_within: int
    service_level: float | None
    service_level_with_abandons: float | None
    asa_seconds: float | None
    aht_seconds: float | None
    abandonment_rate: float | None
    fcr: float | None


class KpiQueueOut(KpiFigures):
    queue_id: int
    name: str


class KpiOut(KpiFigures):
    start: dt.datetime
    end: dt.datetime
    occupancy: float | None
    staffed_seconds: float
    queues: list[KpiQueueOut]


@router.get("/contact-center/kpis", response={200: KpiOut, **ERRORS}, summary="KPI report for a period")
def cc_kpis(
    request: HttpRequest,
    start: dt.datetime,
    end: dt.datetime,
    queue_id: int | None = None,
    fcr_days: int = Query(7, ge=1, le=90),
) -> object:
    """Service level (two variants), ASA, AHT, abandonment, occupancy and first-contact resolution of the contacts
    queued in [start, end). Supervisors only."""
    from django.utils.translation import gettext as _

    from guanxi.contact_center.kpis import kpi_report
    from guanxi.core.errors import ValidationFailed

    routing.require_supervisor(member(request))
    if end <= start or end - start > dt.timedelta(days=366):
        raise ValidationFailed(fields={"end": _("The end must be after the start, at most a year later.")})
    return kpi_report(start=start, end=end, queue_id=queue_id, fcr_days=fcr_days)


class ErlangRowOut(Schema):
    agents: int
    p_wait: float
    service_level: float
    asa: float
    occupancy: float


class ErlangOut(Schema):
    traffic_erlangs: float
    agents: int
    scheduled: int | None
    p_wait: float
    service_level: float
    asa: float
    occupancy: float
    table: list[ErlangRowOut]


@router.get("/contact-center/staffing/erlang-c", response={200: ErlangOut, **ERRORS}, summary="Agents needed")
def cc_erlang_c(
    request: HttpRequest,
    contacts: float = Query(..., gt=0, le=1_000_000),
    interval_seconds: int = Query(1800, ge=60, le=86400),
    aht_seconds: float = Query(..., gt=0, le=86400),
    threshold_seconds: float = Query(20, ge=0, le=3600),
    target: float = Query(0.8, gt=0, lt=1),
    shrinkage: float = Query(0.0, ge=0, lt=1),
) -> object:
    """Erlang C: the fewest agents on the phones for the service-level target, and the agents to schedule with
    shrinkage (example: 100 contacts / 1800 s, AHT 180 s, 80% in 20 s -> 14 agents)."""
    from guanxi.contact_center.staffing import erlang_c_staffing

    routing.require_agent_rights(member(request))
    return erlang_c_staffing(
        contacts=contacts, interval_seconds=interval_seconds, aht_seconds=aht_seconds,
        threshold_seconds=threshold_seconds, target=target, shrinkage=shrinkage,
    )  # fmt: skip
