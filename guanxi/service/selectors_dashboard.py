"""Service evaluation (服务评价): first response time, resolution time, SLA attainment, reopen rate, CSAT and NPS,
overall and per agent or team, for a period. Every figure is an aggregate computed in the database.

Definitions (tickets of the actor's view scope, not merged away):

- first response time: mean of ``first_response_at - created_at`` over tickets first answered in the period;
- resolution time: mean of ``resolved_at - created_at`` over tickets resolved in the period;
- SLA attainment: of the tickets first answered (resolved) in the period that had a first-response (resolution)
  deadline, the share answered (resolved) by it. Deadlines already include the time spent waiting on the customer;
- reopen rate: tickets moved from resolved or closed back to open in the period (the audit trail's
  ``ticket.status`` events) over the tickets resolved in the period;
- CSAT / NPS: ``selectors_survey`` over the survey answers received in the period.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q, QuerySet

from guanxi.ledger.models import AuditEvent
from guanxi.service import selectors_survey
from guanxi.service.models import Ticket
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

By = Literal["agent", "team"]
KEY = {"agent": "assignee_id", "team": "team_id"}


@dataclass
class Evaluation:
    key: Any = None
    resolved: int = 0
    first_response_minutes: float | None = None
    resolution_minutes: float | None = None
    first_response_sla: float | None = None  # %
    resolution_sla: float | None = None  # %
    sla_first_response_n: int = 0
    sla_resolution_n: int = 0
    reopened: int = 0
    reopen_rate: float | None = None  # %
    csat: float | None = None
    nps: float | None = None
    survey_answers: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def ticket_scope(actor: Membership) -> QuerySet[Ticket]:
    """The tickets the actor may see (service view scope over the assignee), not merged away."""
    qs = Ticket.objects.filter(merged_into__isnull=True)
    return permissions.filter_queryset(actor, Module.SERVICE, "view", qs, owner_field="assignee")


def _minutes(d: Any) -> float | None:
    if d is None:
        return None
    if isinstance(d, dt.timedelta):
        return round(d.total_seconds() / 60, 1)
    return round(float(d) / 60_000_000, 1)  # microseconds (SQLite without a duration type)


def _pct(num: int, den: int) -> float | None:
    return None if not den else round(num * 100.0 / den, 1)


def _span(field_name: str, start: dt.datetime | None, end: dt.datetime | None) -> Q:
    q = Q(**{f"{field_name}__isnull": False})
    if start is not None:
        q &= Q(**{f"{field_name}__gte": start})
    if end is not None:
        q &= Q(**{f"{field_name}__lt": end})
    return q


def _aggregates(start: dt.datetime | None, end: dt.datetime | None) -> dict[str, Any]:
    answered = _span("first_response_at", start, end)
    resolved = _span("resolved_at", start, end)
    frt = ExpressionWrapper(F("first_response_at") - F("created_at"), output_field=DurationField())
    res = ExpressionWrapper(F("resolved_at") - F("created_at"), output_field=DurationField())
    fr_due = answered & Q(first_response_due_at__isnull=False)
    res_due = resolved & Q(resolution_due_at__isnull=False)
    return {
        "resolved": Count("id", filter=resolved),
        "frt": Avg(frt, filter=answered),
        "rt": Avg(res, filter=resolved),
        "fr_due_n": Count("id", filter=fr_due),
        "fr_met": Count("id", filter=fr_due & Q(first_response_at__lte=F("first_response_due_at"))),
        "res_due_n": Count("id", filter=res_due),
        "res_met": Count("id", filter=res_due & Q(resolved_at__lte=F("resolution_due_at"))),
    }


def _reopened(
    tickets: QuerySet[Ticket], start: dt.datetime | None, end: dt.datetime | None, by: str | None
) -> dict[Any, int]:
    """Tickets reopened in the period, per group key (the ticket's current assignee or team)."""
    events = AuditEvent.objects.filter(
        action="ticket.status",
        object_type="service.ticket",
        changes__status__1="open",
        changes__status__0__in=["resolved", "closed"],
    )
    if start is not None:
        events = events.filter(created_at__gte=start)
    if end is not None:
        events = events.filter(created_at__lt=end)
    ids = {int(i) for i in events.values_list("object_id", flat=True).distinct() if str(i).isdigit()}
    if not ids:
        return {}
    qs = tickets.filter(pk__in=ids)
    if by is None:
        return {None: qs.count()}
    return {r["key"]: r["n"] for r in qs.annotate(key=F(KEY[by])).values("key").annotate(n=Count("id"))}


def _evaluation(key: Any, r: dict[str, Any], reopened: int) -> Evaluation:
    return Evaluation(
        key=key,
        resolved=r["resolved"],
        first_response_minutes=_minutes(r["frt"]),
        resolution_minutes=_minutes(r["rt"]),
        first_response_sla=_pct(r["fr_met"], r["fr_due_n"]),
        resolution_sla=_pct(r["res_met"], r["res_due_n"]),
        sla_first_response_n=r["fr_due_n"],
        sla_resolution_n=r["res_due_n"],
        reopened=reopened,
        reopen_rate=_pct(reopened, r["resolved"]),
    )


def service_evaluation(
    *, actor: Membership, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> Evaluation:
    tickets = ticket_scope(actor)
    ev = _evaluation(
        None, tickets.aggregate(**_aggregates(start, end)), _reopened(tickets, start, end, None).get(None, 0)
    )
    sat = selectors_survey.satisfaction_total(actor=actor, start=start, end=end)
    ev.csat, ev.nps, ev.survey_answers = sat.csat, sat.nps, sat.responses
    return ev


def service_evaluation_by(
    *, actor: Membership, by: By, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> list[Evaluation]:
    """One row per agent (the ticket's assignee) or team, with the CSAT/NPS of the answers about their tickets."""
    tickets = ticket_scope(actor)
    rows = tickets.annotate(key=F(KEY[by])).values("key").annotate(**_aggregates(start, end)).order_by("key")
    reopened = _reopened(tickets, start, end, by)
    sat = {s.key: s for s in selectors_survey.satisfaction_by(actor=actor, by=by, start=start, end=end)}
    out = []
    for r in rows:
        ev = _evaluation(r["key"], r, reopened.get(r["key"], 0))
        s = sat.pop(r["key"], None)
        if s is not None:
            ev.csat, ev.nps, ev.survey_answers = s.csat, s.nps, s.responses
        if ev.resolved or ev.first_response_minutes is not None or s is not None:
            out.append(ev)
    for key, s in sat.items():  # answers about tickets no longer in scope of the ticket rows
        out.append(Evaluation(key=key, csat=s.csat, nps=s.nps, survey_answers=s.responses))
    return out
