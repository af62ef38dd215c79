"""Service levels on tickets: pick the policy, compute the deadlines in business time on the team's working
calendar, pause while waiting on the customer, and recalculate all open tickets after a calendar change.

The customer tier an SLA policy matches is the customer's custom field ``tier`` (e.g. "VIP", "gold"); the loyalty
tiers can feed it once they exist.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from guanxi.service.businesstime import (
    BusinessClock,
    CalendarSpec,
    add_business_minutes,
    business_minutes_between,
)
from guanxi.service.calendars import spec_for
from guanxi.service.models import OPEN_TICKET_STATUSES, SlaPolicy, Ticket, TicketCategory, WorkingCalendar

UTC = dt.UTC


def customer_tier(ticket: Ticket) -> str:
    custom = getattr(ticket.customer, "custom", None) or {}
    return str(custom.get("tier", "") or "")


def policy_for(ticket: Ticket) -> SlaPolicy | None:
    """The most specific active policy matching the ticket: a customer tier match weighs 4, a category (or its
    parent category) 2, a priority 1; ties go to the older policy."""
    categories: list[int] = []
    if ticket.category_id:
        categories.append(ticket.category_id)
        parent = (
            TicketCategory.objects.filter(pk=ticket.category_id).values_list("parent_id", flat=True).first()
        )
        if parent:
            categories.append(parent)
    tier = customer_tier(ticket)
    candidates = SlaPolicy.objects.filter(is_active=True).filter(
        Q(priority="") | Q(priority=ticket.priority),
        Q(category__isnull=True) | Q(category_id__in=categories),
        Q(customer_tier="") | Q(customer_tier=tier),
    )
    best, best_key = None, None
    for p in candidates.order_by("id"):
        score = (4 if p.customer_tier else 0) + (2 if p.category_id else 0) + (1 if p.priority else 0)
        if p.category_id and p.category_id == ticket.category_id:
            score += 0.5  # the category itself beats its parent
        key = (-score, p.pk)
        if best_key is None or key < best_key:
            best, best_key = p, key
    return best


def calendar_for_team(team_id: int | None) -> WorkingCalendar | None:
    """The team's own calendar, else the workspace default (no team), else None (the built-in default)."""
    if team_id:
        cal = WorkingCalendar.objects.filter(team_id=team_id).first()
        if cal is not None:
            return cal
    return WorkingCalendar.objects.filter(team__isnull=True).order_by("id").first()


def _spec_for_team(team_id: int | None) -> CalendarSpec:
    return spec_for(calendar_for_team(team_id))


def _warn_minutes(target: int, share: Decimal) -> int:
    return max(1, math.ceil(target * float(share)))


def _set_deadlines(ticket: Ticket, spec: CalendarSpec) -> None:
    p = ticket.sla_policy
    if p is None:
        ticket.first_response_warn_at = ticket.first_response_due_at = None
        ticket.resolution_warn_at = ticket.resolution_due_at = None
        return
    start = ticket.created_at
    paused = ticket.sla_paused_minutes
    ticket.first_response_due_at = add_business_minutes(spec, start, p.first_response_minutes + paused)
    ticket.first_response_warn_at = add_business_minutes(
        spec, start, _warn_minutes(p.first_response_minutes, p.warn_share) + paused
    )
    ticket.resolution_due_at = add_business_minutes(spec, start, p.resolution_minutes + paused)
    ticket.resolution_warn_at = add_business_minutes(
        spec, start, _warn_minutes(p.resolution_minutes, p.warn_share) + paused
    )


def ticket_apply_sla(ticket: Ticket, *, now: dt.datetime) -> None:
    """Pick the ticket's SLA policy and compute its deadlines from its start (not saved). Runs inside the caller's
    transaction. A ticket whose policy changes keeps the warnings and breaches already recorded."""
    ticket.sla_policy = policy_for(ticket)
    if ticket.created_at is None:
        ticket.created_at = now
    _set_deadlines(ticket, _spec_for_team(ticket.team_id))


def ticket_sla_pause(ticket: Ticket, *, now: dt.datetime) -> None:
    """Stop the SLA clock: the ticket waits on the customer (pending). Not saved."""
    if ticket.sla_paused_at is None:
        ticket.sla_paused_at = now


def ticket_sla_resume(ticket: Ticket, *, now: dt.datetime) -> None:
    """Restart the clock: the business minutes spent pending push the deadlines out. Not saved."""
    if ticket.sla_paused_at is None:
        return
    spec = _spec_for_team(ticket.team_id)
    ticket.sla_paused_minutes += round(business_minutes_between(spec, ticket.sla_paused_at, now))
    ticket.sla_paused_at = None
    if ticket.sla_policy_id:
        _set_deadlines(ticket, spec)


# --- set-based recalculation ------------------------------------------------------------------------------------------
def _tickets_on(calendar: WorkingCalendar | None) -> Q:
    """Which tickets a calendar governs: its team's; for the default, tickets of teams without their own."""
    if calendar is not None and calendar.team_id:
        return Q(team_id=calendar.team_id)
    own = WorkingCalendar.objects.filter(team__isnull=False).values("team_id")
    return Q(team__isnull=True) | ~Q(team_id__in=own)


def _rows(qs: Iterable[tuple], clock: BusinessClock) -> list[tuple]:
    out = []
    fromts = dt.datetime.fromtimestamp
    for tid, created, fr, res, share, paused in qs:
        s = created.timestamp()
        sh = float(share)
        out.append(
            (
                tid,
                fromts(clock.deadline(s, max(1, math.ceil(fr * sh)) + paused), UTC),
                fromts(clock.deadline(s, fr + paused), UTC),
                fromts(clock.deadline(s, max(1, math.ceil(res * sh)) + paused), UTC),
                fromts(clock.deadline(s, res + paused), UTC),
            )
        )
    return out


def _write(rows: list[tuple], workspace_id: int) -> None:
    """One UPDATE … FROM a temporary table of the new deadlines (COPY on PostgreSQL)."""
    if not rows:
        return
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS sla_new")
        ts = "timestamptz" if connection.vendor == "postgresql" else "text"
        cur.execute(
            f"CREATE TEMPORARY TABLE sla_new (id bigint PRIMARY KEY, frw {ts}, frd {ts}, rw {ts}, rd {ts})"
        )
        if connection.vendor == "postgresql":
            raw = cur.cursor
            with raw.copy("COPY sla_new (id, frw, frd, rw, rd) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)
        else:
            cur.executemany(
                "INSERT INTO sla_new VALUES (%s, %s, %s, %s, %s)",
                [(r[0], adapt(r[1]), adapt(r[2]), adapt(r[3]), adapt(r[4])) for r in rows],
            )
        cur.execute(
            "UPDATE service_ticket SET first_response_warn_at = n.frw, first_response_due_at = n.frd, "
            "resolution_warn_at = n.rw, resolution_due_at = n.rd FROM sla_new n "
            "WHERE service_ticket.id = n.id AND service_ticket.workspace_id = %s",
            [workspace_id],
        )
        cur.execute("DROP TABLE sla_new")


def sla_recalculate(*, calendar: WorkingCalendar | None, workspace_id: int, batch: int = 200_000) -> int:
    """Recompute the deadlines of every open ticket with a policy that ``calendar`` governs (None: the built-in
    default of a workspace without calendars), set-based: one read of (id, start, targets, paused minutes), the
    deadlines in memory on a ``BusinessClock``, one UPDATE … FROM per batch. Runs in the workspace's context.
    Returns the number of tickets updated."""
    spec = spec_for(calendar)
    qs = (
        Ticket.objects.filter(
            _tickets_on(calendar), status__in=OPEN_TICKET_STATUSES, sla_policy__isnull=False
        )
        .order_by("id")
        .values_list(
            "id",
            "created_at",
            "sla_policy__first_response_minutes",
            "sla_policy__resolution_minutes",
            "sla_policy__warn_share",
            "sla_paused_minutes",
        )
    )
    first = qs.values_list("created_at", flat=True).order_by("created_at").first()
    if first is None:
        return 0
    clock = BusinessClock(
        spec, first.astimezone(spec.zone).date(), timezone.now().astimezone(spec.zone).date()
    )
    done = 0
    last_id = 0
    while True:
        chunk = list(qs.filter(id__gt=last_id)[:batch])
        if not chunk:
            break
        rows = _rows(chunk, clock)
        with transaction.atomic():
            _write(rows, workspace_id)
        done += len(rows)
        last_id = chunk[-1][0]
    if calendar is not None:
        WorkingCalendar.objects.filter(pk=calendar.pk).update(recalculated_at=timezone.now())
    return done
