"""Service levels on tickets: pick the policy, compute the deadlines in business time on the team's working
calendar, pause while waiting on the customer, and recalculate all open tickets after a calendar change.

The customer tier an SLA policy matches is the customer's custom field ``tier`` (e.g. "VIP", "gold"); the loyalty
tiers can feed it once they exist.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import time
from decimal import Decimal

import numpy as np
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from guanxi.service.businesstime import (
    BusinessClock,
    CalendarSpec,
    add_business_minutes,
    business_minutes_between,
    from_epoch_us,
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


def _read(qs) -> np.ndarray:  # noqa: ANN001 - a values_list queryset
    """The open tickets as one int64 array of rows (id, start in epoch microseconds, policy id, paused minutes):
    COPY … TO STDOUT on PostgreSQL, one fetch on SQLite. The start is converted exactly in SQL (no float)."""
    t = Ticket._meta.db_table
    if connection.vendor == "postgresql":
        start = RawSQL(f'(extract(epoch from "{t}"."created_at") * 1000000)::bigint', [])  # noqa: S611 - fixed
    else:  # naive UTC text, "YYYY-MM-DD HH:MM:SS[.ffffff]"
        start = RawSQL(  # noqa: S611 - fixed names
            f'CAST(strftime(\'%%s\', "{t}"."created_at") AS INTEGER) * 1000000'
            f' + CAST(substr("{t}"."created_at", 21, 6) AS INTEGER)',
            [],
        )
    sql, params = (
        qs.annotate(start_us=start)
        .values_list("id", "start_us", "sla_policy_id", "sla_paused_minutes")
        .query.sql_with_params()
    )
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            buf = io.BytesIO()
            with cur.cursor.copy(f"COPY ({sql}) TO STDOUT", params) as cp:
                for block in cp:
                    buf.write(block)
            if not buf.getbuffer().nbytes:
                return np.empty((0, 4), dtype=np.int64)
            buf.seek(0)
            return np.loadtxt(buf, dtype=np.int64, delimiter="\t", ndmin=2)
        cur.execute(sql, params)
        return np.array(cur.fetchall(), dtype=np.int64).reshape(-1, 4)


def _deadlines(rows: np.ndarray, clock: BusinessClock) -> np.ndarray:
    """Columns (id, first response warn, first response due, resolution warn, resolution due), epoch microseconds,
    for every row at once; the warning line is ``max(1, ceil(target × share))`` business minutes as for one ticket."""
    policies = {
        p.pk: (
            _warn_minutes(p.first_response_minutes, p.warn_share),
            p.first_response_minutes,
            _warn_minutes(p.resolution_minutes, p.warn_share),
            p.resolution_minutes,
        )
        for p in SlaPolicy.objects.filter(pk__in=np.unique(rows[:, 2]).tolist())
    }
    ids = np.array(sorted(policies), dtype=np.int64)
    targets = np.array([policies[i] for i in ids], dtype=np.int64).reshape(-1, 4)
    which = targets[np.searchsorted(ids, rows[:, 2])]
    out = np.empty((rows.shape[0], 5), dtype=np.int64)
    out[:, 0] = rows[:, 0]
    for k in range(4):
        out[:, k + 1] = clock.deadlines(rows[:, 1], which[:, k] + rows[:, 3])
    return out


def _write(new: np.ndarray, workspace_id: int) -> int:
    """One UPDATE … FROM a temporary table of the new deadlines (epoch microseconds; COPY on PostgreSQL, executemany
    on SQLite); only rows whose deadlines changed are written (a calendar change moves only the deadlines after the
    changed days). Runs inside the caller's transaction. Returns how many rows changed."""
    if not new.shape[0]:
        return 0
    cols = ("first_response_warn_at", "first_response_due_at", "resolution_warn_at", "resolution_due_at")
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS sla_new")
        if connection.vendor == "postgresql":
            cur.execute(
                "CREATE TEMPORARY TABLE sla_new (id bigint PRIMARY KEY, c1 bigint, c2 bigint, c3 bigint, c4 bigint)"
                " ON COMMIT DROP"
            )
            buf = io.BytesIO()
            np.savetxt(buf, new, fmt="%d", delimiter="\t")
            with cur.cursor.copy("COPY sla_new (id, c1, c2, c3, c4) FROM STDIN") as cp:
                cp.write(buf.getbuffer())
            # 'epoch' + n µs: integer microseconds all the way (interval × bigint is exact below 2^53 µs)
            value = "(timestamptz 'epoch' + n.c{k} * interval '1 microsecond')"
        else:
            cur.execute(
                "CREATE TEMPORARY TABLE sla_new (id integer PRIMARY KEY, c1 integer, c2 integer, c3 integer, "
                "c4 integer)"
            )
            cur.executemany("INSERT INTO sla_new VALUES (%s, %s, %s, %s, %s)", new.tolist())
            # the text Django stores: naive UTC, the fraction only when there is one
            value = (
                "(strftime('%%Y-%%m-%%d %%H:%%M:%%S', n.c{k} / 1000000, 'unixepoch') || CASE WHEN n.c{k} %% 1000000 = 0 "
                "THEN '' ELSE printf('.%%06d', n.c{k} %% 1000000) END)"
            )
        t = Ticket._meta.db_table
        sets = ", ".join(f"{c} = {value.format(k=k)}" for k, c in enumerate(cols, 1))
        moved = " OR ".join(f"{t}.{c} IS DISTINCT FROM {value.format(k=k)}" for k, c in enumerate(cols, 1))
        cur.execute(
            f"UPDATE {t} SET {sets} FROM sla_new n WHERE {t}.id = n.id AND {t}.workspace_id = %s AND ({moved})",  # noqa: S608 - fixed names
            [workspace_id],
        )
        changed = cur.rowcount
        if connection.vendor != "postgresql":
            cur.execute("DROP TABLE sla_new")
    return changed


def sla_recalculate(*, calendar: WorkingCalendar | None, workspace_id: int, stats: dict | None = None) -> int:
    """Recompute the deadlines of every open ticket with a policy that ``calendar`` governs (None: the built-in
    default of a workspace without calendars), set-based: one bulk read of (id, start, policy, paused minutes), the
    four deadlines of every ticket at once on a numpy ``BusinessClock``, one UPDATE … FROM a temporary table that
    writes only the rows whose deadlines moved, all in one transaction. Runs in the workspace's context.
    Returns the number of open tickets recomputed; ``stats`` gets ``changed`` (rows written) and the seconds of
    each step (``read_s``, ``compute_s``, ``write_s``)."""
    spec = spec_for(calendar)
    qs = Ticket.objects.filter(
        _tickets_on(calendar), status__in=OPEN_TICKET_STATUSES, sla_policy__isnull=False
    ).order_by()
    clock_t = time.perf_counter()
    with transaction.atomic():
        rows = _read(qs)
        read_t = time.perf_counter()
        changed = 0
        compute_t = read_t
        if rows.shape[0]:
            first = from_epoch_us(int(rows[:, 1].min()), spec.zone).date()
            clock = BusinessClock(spec, first, timezone.now().astimezone(spec.zone).date())
            new = _deadlines(rows, clock)
            compute_t = time.perf_counter()
            changed = _write(new, workspace_id)
        if calendar is not None:
            WorkingCalendar.objects.filter(pk=calendar.pk).update(recalculated_at=timezone.now())
    if stats is not None:
        stats.update(
            changed=changed,
            read_s=round(read_t - clock_t, 3),
            compute_s=round(compute_t - read_t, 3),
            write_s=round(time.perf_counter() - compute_t, 3),
        )
    return int(rows.shape[0])
