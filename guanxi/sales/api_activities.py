"""API routes of activities (销售活动): list with filters, create, read, change, complete, cancel/reopen, delete;
the caller's in-app notices. Reads through ``selectors_activities``, writes through ``services.activities``."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from guanxi.core.api_support import CURSOR_QUERY, LIMIT_QUERY, ErrorOut, member, page_of, paginate
from guanxi.core.errors import ValidationFailed
from guanxi.sales import selectors_activities as selectors
from guanxi.sales.services import activities as services
from guanxi.workspaces import permissions
from guanxi.workspaces.permissions import Module

router = Router(tags=["activities"])

ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 409, 422, 429)}
KindLit = Literal["task", "call", "meeting", "visit"]
PriorityLit = Literal["low", "normal", "high"]


class ActivityOut(Schema):
    id: int
    kind: str
    subject: str
    customer_id: int
    opportunity_id: int | None
    lead_id: int | None
    owner_id: int
    due_at: dt.datetime | None
    ends_at: dt.datetime | None
    location: str
    priority: str
    status: str
    notes: str
    outcome: str
    remind_minutes: int | None
    remind_at: dt.datetime | None
    reminder_sent_at: dt.datetime | None
    completed_at: dt.datetime | None
    interaction_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ActivityIn(Schema):
    kind: KindLit = "task"
    subject: str = Field(max_length=200)
    customer_id: int | None = Field(None, description="Required unless opportunity_id is given.")
    opportunity_id: int | None = None
    lead_id: int | None = None
    owner_id: int | None = Field(None, description="Default: the caller.")
    due_at: dt.datetime | None = Field(
        None, description="Due time; the start of a meeting or visit (required)."
    )
    ends_at: dt.datetime | None = Field(None, description="End of a meeting or visit, after due_at.")
    location: str = Field("", max_length=300)
    priority: PriorityLit = "normal"
    notes: str = Field("", max_length=10_000)
    remind_minutes: int | None = Field(
        None, ge=0, le=services.MAX_REMIND_MINUTES, description="Default: the owner's default reminder."
    )


class ActivityPatch(Schema):
    kind: KindLit | None = None
    subject: str | None = Field(None, max_length=200)
    customer_id: int | None = None
    opportunity_id: int | None = None
    lead_id: int | None = None
    owner_id: int | None = None
    due_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    location: str | None = Field(None, max_length=300)
    priority: PriorityLit | None = None
    notes: str | None = Field(None, max_length=10_000)
    outcome: str | None = Field(None, max_length=10_000)
    remind_minutes: int | None = Field(None, ge=0, le=services.MAX_REMIND_MINUTES)
    status: Literal["open", "cancelled"] | None = Field(
        None, description="Cancel or reopen; done: /complete."
    )


class CompleteIn(Schema):
    outcome: str = Field("", max_length=10_000)


class ActivityFilters(Schema):
    owner_id: int | None = None
    customer_id: int | None = None
    opportunity_id: int | None = None
    status: Literal["open", "done", "cancelled"] | None = None
    kind: KindLit | None = None
    due_from: dt.datetime | None = Field(None, description="Due at or after.")
    due_to: dt.datetime | None = Field(None, description="Due before.")


class NotificationOut(Schema):
    id: int
    activity_id: int | None
    title: str
    url: str
    created_at: dt.datetime
    read_at: dt.datetime | None


class NotificationsOut(Schema):
    unread: int
    items: list[NotificationOut]


@router.get("/activities", response={200: page_of(ActivityOut), **ERRORS}, summary="List activities")
def activities(
    request: HttpRequest,
    filters: Query[ActivityFilters],
    limit: int = LIMIT_QUERY,
    cursor: str | None = CURSOR_QUERY,
) -> dict:
    actor = member(request)
    permissions.require(actor, Module.SALES, "view")
    qs = selectors.activity_list(actor=actor)
    for key in ("owner_id", "customer_id", "opportunity_id", "status", "kind"):
        value = getattr(filters, key)
        if value is not None:
            qs = qs.filter(**{key: value})
    if filters.due_from and filters.due_to and filters.due_to <= filters.due_from:
        raise ValidationFailed(fields={"due_to": _("The end of the range must be after its start.")})
    if filters.due_from:
        qs = qs.filter(due_at__gte=filters.due_from)
    if filters.due_to:
        qs = qs.filter(due_at__lt=filters.due_to)
    return paginate(qs, order=("-created_at", "-id"), limit=limit, cursor=cursor)


@router.post("/activities", response={201: ActivityOut, **ERRORS}, summary="Create an activity")
def activity_add(request: HttpRequest, payload: ActivityIn) -> Status:
    data = payload.dict(exclude_unset=True)
    subject = data.pop("subject")
    return Status(201, services.activity_create(actor=member(request), subject=subject, **data))


@router.get("/activities/{activity_id}", response={200: ActivityOut, **ERRORS}, summary="Get an activity")
def activity_detail(request: HttpRequest, activity_id: int) -> object:
    return selectors.get_activity_for(member(request), activity_id)


@router.patch(
    "/activities/{activity_id}",
    response={200: ActivityOut, **ERRORS},
    summary="Change an activity",
    description="A done activity keeps its facts: only notes, outcome, location and priority change.",
)
def activity_change(request: HttpRequest, activity_id: int, payload: ActivityPatch) -> object:
    actor = member(request)
    data = payload.dict(exclude_unset=True)
    status = data.pop("status", None)
    for key in ("subject", "location", "notes", "outcome", "kind", "priority"):
        if key in data and data[key] is None:
            data[key] = ""
    activity = None
    if data:
        activity = services.activity_update(actor=actor, activity_id=activity_id, **data)
    if status is not None:
        activity = services.activity_set_status(actor=actor, activity_id=activity_id, status=status)
    return activity or selectors.get_activity_for(actor, activity_id)


@router.post(
    "/activities/{activity_id}/complete",
    response={200: ActivityOut, **ERRORS},
    summary="Complete an activity",
    description="Writes the customer's timeline once; completing again changes nothing.",
)
def activity_done(request: HttpRequest, activity_id: int, payload: CompleteIn) -> object:
    return services.activity_complete(
        actor=member(request), activity_id=activity_id, outcome=payload.outcome
    ).activity


@router.delete("/activities/{activity_id}", response={204: None, **ERRORS}, summary="Delete an activity")
def activity_remove(request: HttpRequest, activity_id: int) -> Status:
    services.activity_delete(actor=member(request), activity_id=activity_id)
    return Status(204, None)


@router.get(
    "/activities-notifications",
    response={200: NotificationsOut, **ERRORS},
    summary="The caller's activity reminders (in-app notices), newest first",
)
def notifications(request: HttpRequest) -> dict:
    actor = member(request)
    return {
        "unread": selectors.notification_unread_count(actor=actor),
        "items": selectors.notification_list(actor=actor),
    }


@router.post(
    "/activities-notifications/read",
    response={200: NotificationsOut, **ERRORS},
    summary="Mark all of the caller's notices read",
)
def notifications_read(request: HttpRequest) -> dict:
    actor = member(request)
    services.notification_mark_read(actor=actor)
    return {"unread": 0, "items": selectors.notification_list(actor=actor)}
