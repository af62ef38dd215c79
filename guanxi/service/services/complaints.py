"""Complaints (客户投诉): classify, find the root cause, act, report back, get the customer's confirmation; the
crisis warning; the analysis by category, product and cause.

Crisis rule: for each ticket category, the complaints opened in the last 7 days are compared with the same count
in each of the 8 weeks before. An alert fires when this week's count is at least ``CRISIS_MIN`` (5) and above
mean + 3 × standard deviation of those weeks (the standard deviation taken as at least 1, so a category that was
always quiet needs a real jump, not one more complaint). Once per category and week; managers are told in the app
and by email.
"""

from __future__ import annotations

import datetime as dt
import statistics
from decimal import Decimal
from typing import Any

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.errors import ValidationFailed
from guanxi.ledger.services import audit_record, snapshot
from guanxi.service.models import (
    Complaint,
    ComplaintClass,
    CrisisAlert,
    RootCause,
    Severity,
    Ticket,
    TicketCategory,
    TicketType,
)
from guanxi.service.services.tickets import _locked, _user, ticket_timeline
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Role

CRISIS_WEEKS = 8
CRISIS_SIGMA = 3
CRISIS_MIN = 5

FIELDS = {
    "classification", "severity", "product", "root_cause", "root_cause_text", "action", "action_owner_id",
    "action_due",
}  # fmt: skip


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    unknown = set(data) - FIELDS
    for k in unknown:
        errors[k] = _("Unknown field.")
    if "classification" in data and data["classification"] not in ComplaintClass.values:
        errors["classification"] = _("Choose one of: %(choices)s.") % {
            "choices": ", ".join(ComplaintClass.values)
        }
    if "severity" in data and data["severity"] not in Severity.values:
        errors["severity"] = _("Choose one of: %(choices)s.") % {"choices": ", ".join(Severity.values)}
    if data.get("root_cause") and data["root_cause"] not in RootCause.values:
        errors["root_cause"] = _("Choose one of: %(choices)s.") % {"choices": ", ".join(RootCause.values)}
    if data.get("action_due") and not isinstance(data["action_due"], dt.date):
        try:
            data["action_due"] = dt.date.fromisoformat(str(data["action_due"]))
        except ValueError:
            errors["action_due"] = _("Enter a date like 2025-12-31.")
    if (
        data.get("action_owner_id") is not None
        and not Membership.objects.filter(user_id=data["action_owner_id"], is_active=True).exists()
    ):
        errors["action_owner_id"] = _("Choose a member of this workspace.")
    if errors:
        raise ValidationFailed(fields=errors)
    return data


def complaint_record(*, actor: Membership, ticket: Ticket | int, **fields: Any) -> Complaint:
    """Record or update the complaint on a ticket (the ticket becomes type "complaint"). A new complaint needs a
    classification. Setting an action needs its owner and due date."""
    data = _clean(dict(fields))
    with transaction.atomic():
        t = _locked(actor, ticket)
        c = Complaint.objects.filter(ticket=t).first()
        if c is None:
            if not data.get("classification"):
                raise ValidationFailed(fields={"classification": _("This field is required.")})
            c = Complaint(ticket=t, classification=data["classification"])
            c.workspace = t.workspace
        before = snapshot(c) if c.pk else None
        action_changed = any(
            k in data and getattr(c, k) != data[k] for k in ("action", "action_owner_id", "action_due")
        )
        for k, v in data.items():
            setattr(c, k, v)
        if c.action and (not c.action_owner_id or not c.action_due):
            raise ValidationFailed(fields={"action": _("A corrective action needs an owner and a due date.")})
        created = c.pk is None
        if action_changed:
            c.action_done_at = None  # a changed action is not done yet
        c.save()
        if t.type != TicketType.COMPLAINT:
            t.type = TicketType.COMPLAINT
            t.save(update_fields=["type", "updated_at"])
        if created:
            ticket_timeline(
                t,
                actor_user=actor.user,
                subject=_("Complaint recorded on ticket #%(id)s: %(cls)s, %(sev)s")
                % {
                    "id": t.pk,
                    "cls": ComplaintClass(c.classification).label,
                    "sev": Severity(c.severity).label,
                },
                event="complaint",
            )
        if c.root_cause and "root_cause" in data:
            ticket_timeline(
                t,
                actor_user=actor.user,
                subject=_("Root cause of the complaint on ticket #%(id)s: %(cause)s")
                % {"id": t.pk, "cause": RootCause(c.root_cause).label},
                event=f"complaint_cause:{c.root_cause}",
                body=c.root_cause_text,
            )
        audit_record(
            workspace=t.workspace, actor=actor.user, action="complaint.record", obj=c, before=before,
            after=snapshot(c),
        )  # fmt: skip
    return c


def complaint_action_done(*, actor: Membership, ticket: Ticket | int) -> Complaint:
    """Mark the corrective action done (整改完成): stamped, audited, on the timeline. Refuses a complaint without an
    action; doing it twice changes nothing."""
    with transaction.atomic():
        t = _locked(actor, ticket)
        c = Complaint.objects.filter(ticket=t).first()
        if c is None or not c.action:
            raise ValidationFailed(fields={"action": _("Record a corrective action first.")})
        if c.action_done_at is not None:
            return c
        c.action_done_at = timezone.now()
        c.save(update_fields=["action_done_at"])
        audit_record(
            workspace=t.workspace, actor=actor.user, action="complaint.action_done", obj=c,
            changes={"action_done_at": c.action_done_at.isoformat()},
        )  # fmt: skip
        ticket_timeline(
            t,
            actor_user=actor.user,
            subject=_("Corrective action done on ticket #%(id)s") % {"id": t.pk},
            event="complaint_action_done",
            body=c.action,
        )
    return c


def complaint_report_result(*, actor: Membership, ticket: Ticket | int, result: str) -> Complaint:
    """Report the outcome to the customer (结果反馈): stored, stamped, and sent as a reply on the ticket."""
    from guanxi.service.services.messages import ticket_message_add  # noqa: PLC0415

    result = str(result or "").strip()
    if not result:
        raise ValidationFailed(fields={"result": _("This field is required.")})
    with transaction.atomic():
        t = _locked(actor, ticket)
        c = Complaint.objects.filter(ticket=t).first()
        if c is None:
            raise ValidationFailed(fields={"result": _("Record the complaint first.")})
        c.result, c.result_reported_at = result, timezone.now()
        c.save(update_fields=["result", "result_reported_at"])
        ticket_message_add(actor=actor, ticket=t, kind="reply", body=result)
    return c


def complaint_confirm(*, actor: Membership | None, ticket: Ticket | int, satisfied: bool) -> Complaint:
    """The customer's confirmation (客户确认) of the result, e.g. taken by phone or from the portal."""
    with transaction.atomic():
        t = _locked(actor, ticket)
        c = Complaint.objects.filter(ticket=t).first()
        if c is None or c.result_reported_at is None:
            raise ValidationFailed(fields={"satisfied": _("Report the result to the customer first.")})
        if c.customer_confirmed_at is not None:
            raise ValidationFailed(fields={"satisfied": _("The customer has already confirmed the result.")})
        c.customer_confirmed_at, c.customer_satisfied = timezone.now(), bool(satisfied)
        c.save(update_fields=["customer_confirmed_at", "customer_satisfied"])
        audit_record(
            workspace=t.workspace, actor=_user(actor), action="complaint.confirm", obj=c,
            changes={"satisfied": bool(satisfied)},
        )  # fmt: skip
        ticket_timeline(
            t,
            actor_user=_user(actor),
            subject=(
                _("The customer confirmed the complaint's result on ticket #%(id)s: satisfied")
                if satisfied
                else _("The customer confirmed the complaint's result on ticket #%(id)s: not satisfied")
            )
            % {"id": t.pk},
            event="complaint_confirmed",
        )
    return c


def _weekly_counts(now: dt.datetime) -> dict[int, list[int]]:
    """Complaint tickets per category in each of the last CRISIS_WEEKS + 1 seven-day windows (index 0 = latest)."""
    start = now - dt.timedelta(days=7 * (CRISIS_WEEKS + 1))
    rows = (
        Ticket.objects.filter(type=TicketType.COMPLAINT, created_at__gte=start, created_at__lt=now)
        .exclude(category__isnull=True)
        .values_list("category_id", "created_at")
    )
    out: dict[int, list[int]] = {}
    for cat, created in rows:
        week = int((now - created).total_seconds() // (7 * 86400))
        if week <= CRISIS_WEEKS:
            out.setdefault(cat, [0] * (CRISIS_WEEKS + 1))[week] += 1
    return out


def crisis_check(*, now: dt.datetime) -> list[CrisisAlert]:
    """Raise a crisis alert for each category whose complaints this week pass the rule in the module docstring.
    Idempotent per category and week. Runs in the workspace's context."""
    week_start = (now - dt.timedelta(days=7)).date()
    alerts = []
    for cat_id, counts in _weekly_counts(now).items():
        current, history = counts[0], counts[1:]
        mean = statistics.fmean(history)
        sd = max(statistics.pstdev(history), 1.0)
        if current < CRISIS_MIN or current <= mean + CRISIS_SIGMA * sd:
            continue
        if CrisisAlert.objects.filter(
            category_id=cat_id, week_start__gt=week_start - dt.timedelta(days=7)
        ).exists():
            continue  # already raised for this spell
        try:
            with transaction.atomic():
                alert = CrisisAlert.objects.create(
                    category_id=cat_id,
                    week_start=week_start,
                    count=current,
                    baseline_mean=Decimal(f"{mean:.2f}"),
                    baseline_sd=Decimal(f"{sd:.2f}"),
                )
        except IntegrityError:
            continue
        alerts.append(alert)
        _tell_managers(alert)
    return alerts


def _tell_managers(alert: CrisisAlert) -> None:
    from guanxi.core.realtime import notify_user  # noqa: PLC0415
    from guanxi.workspaces.models import User  # noqa: PLC0415

    name = TicketCategory.objects.filter(pk=alert.category_id).values_list("name", flat=True).first() or "—"
    ids = Membership.objects.filter(role__in=[Role.OWNER, Role.ADMIN, Role.MANAGER], is_active=True).values(
        "user_id"
    )
    users = list(User.objects.filter(pk__in=ids).order_by("id"))
    subject = _("Crisis warning: %(n)s complaints about %(category)s in 7 days (usually %(mean)s)") % {
        "n": alert.count,
        "category": name,
        "mean": alert.baseline_mean,
    }
    emails = [u.email for u in users if u.email]

    def send() -> None:
        for u in users:
            notify_user(u.pk, {"kind": "service.crisis", "category_id": alert.category_id, "title": subject})
        if emails:
            send_mail(subject, subject, None, emails)

    transaction.on_commit(send)


def complaint_analysis(*, since: dt.datetime) -> dict[str, list[tuple[str, int]]]:
    """Complaints since ``since`` counted by category, classification, product and root cause, largest first."""
    qs = Complaint.objects.filter(created_at__gte=since)

    def by(field: str) -> list[tuple[str, int]]:
        rows = qs.values(field).annotate(n=Count("id")).order_by("-n", field)
        return [(str(r[field] or ""), r["n"]) for r in rows]

    return {
        "category": by("ticket__category__name"),
        "classification": by("classification"),
        "product": by("product"),
        "root_cause": by("root_cause"),
    }
