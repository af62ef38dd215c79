"""API route for the audit trail (审计日志)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from guanxi.core.api_support import CURSOR_QUERY, LIMIT_QUERY, ErrorOut, member, page_of, paginate
from guanxi.ledger.selectors import audit_event_list

router = Router(tags=["audit"])

ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 422, 429)}


class AuditEventOut(Schema):
    id: int
    action: str
    object_type: str
    object_id: str
    object_repr: str
    actor_id: int | None
    actor_label: str
    changes: dict[str, Any] = Field(description='Changed fields: {"field": [before, after]}.')
    request_id: str
    created_at: dt.datetime


class AuditFilters(Schema):
    action: str | None = Field(None, max_length=60, description="e.g. customer.update")
    object_type: str | None = Field(None, max_length=60, description="e.g. customers.customer")
    object_id: str | None = Field(None, max_length=64)
    actor: int | None = Field(None, description="The acting user's id.")
    since: dt.datetime | None = Field(None, description="From this time (inclusive).")
    until: dt.datetime | None = Field(None, description="Before this time (exclusive).")


@router.get("/audit", response={200: page_of(AuditEventOut), **ERRORS}, summary="List audit events")
def audit_events(
    request: HttpRequest,
    filters: Query[AuditFilters],
    limit: int = LIMIT_QUERY,
    cursor: str | None = CURSOR_QUERY,
) -> dict:
    """The workspace's audit trail, newest first. Needs view permission on the audit trail."""
    qs = audit_event_list(
        actor=member(request),
        action=filters.action,
        object_type=filters.object_type,
        object_id=filters.object_id,
        actor_id=filters.actor,
        since=filters.since,
        until=filters.until,
    )
    return paginate(qs, order=("-created_at", "-id"), limit=limit, cursor=cursor)
