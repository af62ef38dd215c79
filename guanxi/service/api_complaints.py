"""API routes of the complaints (客户投诉): the list, one complaint on its ticket (record, action done, result,
customer's confirmation), the analysis by category, classification, product and cause, and the crisis alerts.

A complaint is addressed by its ticket: ``/tickets/{ticket_id}/complaint``. Reads through ``selectors_complaints``,
writes through ``services.complaints``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from guanxi.core.api_support import CURSOR_QUERY, LIMIT_QUERY, ErrorOut, member, page_of, paginate
from guanxi.service import selectors_complaints as selectors
from guanxi.service.services import complaints as services

router = Router(tags=["complaints"])

ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 409, 422, 429)}
ClassLit = Literal["product", "service", "attitude", "delivery", "billing", "other"]
SeverityLit = Literal["minor", "major", "critical"]
CauseLit = Literal["", "people", "process", "product", "supplier", "system", "other"]
StageLit = Literal["analysis", "action", "report", "confirm", "done"]


class ComplaintOut(Schema):
    ticket_id: int
    subject: str
    customer_id: int
    classification: str
    severity: str
    product: str
    root_cause: str
    root_cause_text: str
    action: str
    action_owner_id: int | None
    action_due: dt.date | None
    action_done_at: dt.datetime | None
    result: str
    result_reported_at: dt.datetime | None
    customer_confirmed_at: dt.datetime | None
    customer_satisfied: bool | None
    stage: StageLit = Field(description="analysis, action, report, confirm or done.")
    created_at: dt.datetime

    @staticmethod
    def resolve_subject(obj: object) -> str:
        return obj.ticket.subject  # type: ignore[attr-defined]

    @staticmethod
    def resolve_customer_id(obj: object) -> int:
        return obj.ticket.customer_id  # type: ignore[attr-defined]

    @staticmethod
    def resolve_stage(obj: object) -> str:
        return selectors.complaint_stage(obj)  # type: ignore[arg-type]


class ComplaintIn(Schema):
    classification: ClassLit | None = Field(None, description="Required when the complaint is new.")
    severity: SeverityLit | None = None
    product: str | None = Field(None, max_length=200)
    root_cause: CauseLit | None = None
    root_cause_text: str | None = Field(None, max_length=20_000, description="The 5-why analysis.")
    action: str | None = Field(None, max_length=20_000, description="Needs action_owner_id and action_due.")
    action_owner_id: int | None = None
    action_due: dt.date | None = None


class ResultIn(Schema):
    result: str = Field(max_length=20_000, description="Sent to the customer as a reply on the ticket.")


class ConfirmIn(Schema):
    satisfied: bool


class ComplaintFilters(Schema):
    classification: ClassLit | None = None
    severity: SeverityLit | None = None
    stage: StageLit | None = None


class CountOut(Schema):
    key: str
    count: int


class AnalysisOut(Schema):
    since: dt.datetime
    category: list[CountOut]
    classification: list[CountOut]
    product: list[CountOut]
    root_cause: list[CountOut]


class CrisisAlertOut(Schema):
    id: int
    category_id: int | None
    category_name: str
    week_start: dt.date
    count: int
    baseline_mean: float
    baseline_sd: float
    created_at: dt.datetime

    @staticmethod
    def resolve_category_name(obj: object) -> str:
        cat = getattr(obj, "category", None)
        return cat.name if cat else ""


@router.get("/complaints", response={200: page_of(ComplaintOut), **ERRORS}, summary="List complaints")
def complaints(
    request: HttpRequest,
    filters: Query[ComplaintFilters],
    limit: int = LIMIT_QUERY,
    cursor: str | None = CURSOR_QUERY,
) -> dict:
    qs = selectors.complaint_list(actor=member(request), **filters.dict())
    return paginate(qs, order=("-id",), limit=limit, cursor=cursor)


@router.get(
    "/complaints/analysis", response={200: AnalysisOut, **ERRORS}, summary="Complaints by category and cause"
)
def complaint_counts(request: HttpRequest, days: int = Query(90, ge=1, le=3660)) -> dict:
    from guanxi.workspaces import permissions  # noqa: PLC0415
    from guanxi.workspaces.permissions import Module  # noqa: PLC0415

    permissions.require(member(request), Module.SERVICE, "view")
    since = timezone.now() - dt.timedelta(days=days)
    got = services.complaint_analysis(since=since)
    return {"since": since, **{k: [{"key": a, "count": n} for a, n in v] for k, v in got.items()}}


@router.get(
    "/crisis-alerts",
    response={200: list[CrisisAlertOut], **ERRORS},
    summary="Crisis alerts (complaint spikes)",
)
def crisis_alerts(request: HttpRequest, limit: int = Query(20, ge=1, le=100)) -> list:
    return selectors.crisis_alert_list(actor=member(request), limit=limit)


@router.get(
    "/tickets/{ticket_id}/complaint", response={200: ComplaintOut, **ERRORS}, summary="A ticket's complaint"
)
def complaint_detail(request: HttpRequest, ticket_id: int) -> object:
    return selectors.get_complaint_for(member(request), ticket_id)


@router.patch(
    "/tickets/{ticket_id}/complaint",
    response={200: ComplaintOut, **ERRORS},
    summary="Record or change a ticket's complaint",
    description="Only the fields sent are changed. The ticket becomes a complaint.",
)
def complaint_patch(request: HttpRequest, ticket_id: int, payload: ComplaintIn) -> object:
    actor = member(request)
    services.complaint_record(actor=actor, ticket=ticket_id, **payload.dict(exclude_unset=True))
    return selectors.get_complaint_for(actor, ticket_id)


@router.post(
    "/tickets/{ticket_id}/complaint/action-done",
    response={200: ComplaintOut, **ERRORS},
    summary="Mark the corrective action done",
)
def complaint_mark_done(request: HttpRequest, ticket_id: int) -> object:
    actor = member(request)
    services.complaint_action_done(actor=actor, ticket=ticket_id)
    return selectors.get_complaint_for(actor, ticket_id)


@router.post(
    "/tickets/{ticket_id}/complaint/result",
    response={200: ComplaintOut, **ERRORS},
    summary="Report the result to the customer",
)
def complaint_result(request: HttpRequest, ticket_id: int, payload: ResultIn) -> object:
    actor = member(request)
    services.complaint_report_result(actor=actor, ticket=ticket_id, result=payload.result)
    return selectors.get_complaint_for(actor, ticket_id)


@router.post(
    "/tickets/{ticket_id}/complaint/confirm",
    response={200: ComplaintOut, **ERRORS},
    summary="Record the customer's confirmation of the result",
)
def complaint_confirmation(request: HttpRequest, ticket_id: int, payload: ConfirmIn) -> object:
    actor = member(request)
    services.complaint_confirm(actor=actor, ticket=ticket_id, satisfied=payload.satisfied)
    return selectors.get_complaint_for(actor, ticket_id)
