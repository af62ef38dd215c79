"""The SLA timers: the warning line (警戒线) and escalation at breach, run by a periodic job.

Idempotent: each of the four events (first-response warning and breach, resolution warning and breach) is claimed
by a conditional UPDATE of its ``*_warned_at``/``*_breached_at`` column (``… WHERE column IS NULL``), so a job that
runs twice, or two workers at once, act on each event exactly once. Paused (pending) tickets are skipped.
At breach: the priority goes up one step, the ticket goes to its team's manager (when it has a team with a manager
other than the assignee), and the assignee and the manager are told in the app and by email.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.mail import send_mail
from django.db import transaction
from django.utils.translation import gettext as _

from guanxi.ledger.services import audit_record, snapshot
from guanxi.service.models import OPEN_TICKET_STATUSES, PRIORITY_ORDER, Ticket
from guanxi.workspaces.models import Membership, Team
from guanxi.workspaces.permissions import Role

EVENTS = (
    # (claim column, due column, also required, kind)
    ("first_response_warned_at", "first_response_warn_at", "first_response_at", "warning"),
    ("first_response_breached_at", "first_response_due_at", "first_response_at", "breach"),
    ("resolution_warned_at", "resolution_warn_at", None, "warning"),
    ("resolution_breached_at", "resolution_due_at", None, "breach"),
)


def _recipients(ticket: Ticket) -> list[Any]:
    """Who hears about the ticket's SLA: its assignee and its team's manager; else the workspace's managers."""
    from guanxi.workspaces.models import User  # noqa: PLC0415

    ids = set()
    if ticket.assignee_id:
        ids.add(ticket.assignee_id)
    if ticket.team_id:
        manager = Team.objects.filter(pk=ticket.team_id).values_list("manager_id", flat=True).first()
        if manager:
            ids.add(manager)
    if not ids:
        ids = set(
            Membership.objects.filter(role__in=[Role.OWNER, Role.MANAGER], is_active=True).values_list(
                "user_id", flat=True
            )
        )
    active = set(Membership.objects.filter(user_id__in=ids, is_active=True).values_list("user_id", flat=True))
    return list(User.objects.filter(pk__in=active).order_by("id"))


def _notify(ticket: Ticket, users: list[Any], subject: str, body: str) -> None:
    """In-app push and email to each user, after commit."""
    from guanxi.core.realtime import notify_user  # noqa: PLC0415

    payload = {"kind": "service.sla", "ticket_id": ticket.pk, "title": subject}
    emails = [u.email for u in users if u.email]

    def send() -> None:
        for u in users:
            notify_user(u.pk, payload)
        if emails:
            send_mail(subject, body, None, emails)

    transaction.on_commit(send)


def _label(column: str) -> str:
    return _("first response") if column.startswith("first_response") else _("resolution")


def _warn(ticket: Ticket, column: str) -> None:
    due = ticket.first_response_due_at if column.startswith("first_response") else ticket.resolution_due_at
    subject = _("SLA warning on ticket #%(id)s: %(what)s due %(due)s") % {
        "id": ticket.pk,
        "what": _label(column),
        "due": due.strftime("%Y-%m-%d %H:%M") if due else "—",
    }
    _notify(ticket, _recipients(ticket), subject, f"{subject}\n\n{ticket.subject}")


def _escalate(ticket: Ticket, column: str) -> None:
    """Raise the priority one step, hand the ticket to its team manager, tell them both."""
    t = Ticket.objects.select_for_update(of=("self",)).get(pk=ticket.pk)
    before = snapshot(t)
    i = PRIORITY_ORDER.index(t.priority) if t.priority in PRIORITY_ORDER else 1
    t.priority = PRIORITY_ORDER[min(i + 1, len(PRIORITY_ORDER) - 1)]
    told = _recipients(t)
    if t.team_id:
        manager = Team.objects.filter(pk=t.team_id).values_list("manager_id", flat=True).first()
        if (
            manager
            and manager != t.assignee_id
            and Membership.objects.filter(user_id=manager, is_active=True).exists()
        ):
            t.assignee_id = manager
    t.save(update_fields=["priority", "assignee", "updated_at"])
    audit_record(
        workspace=t.workspace,
        actor=None,
        action="ticket.sla_breach",
        obj=t,
        before=before,
        after=snapshot(t),
        changes={"target": column},
    )
    subject = _("SLA breached on ticket #%(id)s: %(what)s overdue; escalated") % {
        "id": t.pk,
        "what": _label(column),
    }
    users = {u.pk: u for u in told + _recipients(t)}
    _notify(t, list(users.values()), subject, f"{subject}\n\n{t.subject}")


def sla_check(*, now: dt.datetime) -> dict[str, int]:
    """Handle every warning line and breach that has come by ``now`` in the current workspace, once each. Returns
    counts by event column."""
    counts: dict[str, int] = {}
    base = Ticket.objects.filter(
        status__in=OPEN_TICKET_STATUSES, sla_paused_at__isnull=True, sla_policy__isnull=False
    )
    for claim, due, done, kind in EVENTS:
        qs = base.filter(**{f"{claim}__isnull": True, f"{due}__lte": now})
        if done:
            qs = qs.filter(**{f"{done}__isnull": True})
        n = 0
        for ticket in qs.order_by(due, "id")[:5000]:
            with transaction.atomic():
                claimed = Ticket.objects.filter(pk=ticket.pk, **{f"{claim}__isnull": True}).update(
                    **{claim: now}
                )
                if not claimed:
                    continue  # another run got there first
                if kind == "warning":
                    _warn(ticket, claim)
                else:
                    _escalate(ticket, claim)
                n += 1
        counts[claim] = n
    return counts
