"""The audit trail browser (审计日志): newest first, filters, keyset pagination, before/after of each change."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.dateparse import parse_date, parse_datetime

from guanxi.web.decorators import member_required
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module
from guanxi.workspaces.selectors import AuditFilters, audit_event_list, audit_facets

PAGE_SIZE = 50


def _filters(request: HttpRequest) -> tuple[AuditFilters, dict[str, str]]:
    g = request.GET
    raw = {k: g.get(k, "").strip()[:60] for k in ("action", "object_type", "actor", "date_from", "date_to")}
    actor = raw["actor"]
    return (
        AuditFilters(
            action=raw["action"],
            object_type=raw["object_type"],
            actor_id=int(actor) if actor.isdigit() else None,
            date_from=_date(raw["date_from"]),
            date_to=_date(raw["date_to"]),
        ),
        raw,
    )


def _date(value: str) -> dt.date | None:
    try:
        return parse_date(value) if value else None
    except ValueError:
        return None


def _cursor(value: str) -> tuple[dt.datetime, int] | None:
    """The "older" link's cursor: "<created_at ISO>_<id>" of the last row shown."""
    ts, _sep, pk = value.rpartition("_")
    try:
        when = parse_datetime(ts) if ts else None
    except ValueError:
        when = None
    if when is None or not pk.isdigit():
        return None
    return when, int(pk)


@member_required(Module.AUDIT)
def audit_list(request: HttpRequest) -> HttpResponse:
    filters, raw = _filters(request)
    before = _cursor(request.GET.get("before", ""))
    qs = audit_event_list(actor=request.membership, filters=filters, before=before)
    rows = list(qs[: PAGE_SIZE + 1])
    events, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
    older = f"{events[-1].created_at.isoformat()}_{events[-1].pk}" if more else ""
    query = {k: v for k, v in raw.items() if v}
    context = {"events": events, "older": older, "query": query, "raw": raw, "paged": before is not None}
    if request.htmx and request.htmx.target == "audit-table":
        return render(request, "web/settings/_audit_table.html", context)
    facets = audit_facets()
    context.update(
        actions=facets["actions"],
        object_types=facets["object_types"],
        actors=Membership.objects.select_related("user").order_by("user__username"),
    )
    return render(request, "web/settings/audit.html", context)
