"""Activities (销售活动): create, change, complete, cancel, delete; reminders; notices; settings and the iCal token.

Every write: keyword-only, one transaction, Module.SALES permission on the activity's owner, audit trail. Completing
writes the customer's timeline once (``external_key`` "sales:activity:<id>") and resets the opportunity's stale alert.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from guanxi.core.errors import ValidationFailed
from guanxi.core.realtime import notify_user
from guanxi.customers.models import Customer, InteractionDirection, InteractionKind
from guanxi.customers.timeline import interaction_record
from guanxi.ledger.services import audit_record, snapshot
from guanxi.sales.models import (
    TIMED_KINDS,
    Activity,
    ActivityKind,
    ActivityNotification,
    ActivityPriority,
    ActivitySettings,
    ActivityStatus,
    Lead,
    Opportunity,
)
from guanxi.sales.selectors_activities import activity_settings_for, get_activity_for, ical_token_hash
from guanxi.sales.services._common import check_member, clean_text
from guanxi.sales.services.opportunities import opportunity_record_activity
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

SOURCE_TYPE = "sales.activity"
MAX_REMIND_MINUTES = 7 * 24 * 60  # a week ahead
REMINDER_BATCH = 500

# What a member sets on an activity (status moves go through complete / cancel / reopen).
EDITABLE = (
    "kind",
    "subject",
    "customer_id",
    "opportunity_id",
    "lead_id",
    "owner_id",
    "due_at",
    "ends_at",
    "location",
    "priority",
    "notes",
    "outcome",
    "remind_minutes",
)
# What may still change once an activity is done (its timeline entry is written).
EDITABLE_WHEN_DONE = ("notes", "outcome", "location", "priority")

TIMELINE_KIND = {
    ActivityKind.CALL: InteractionKind.CALL,
    ActivityKind.MEETING: InteractionKind.MEETING,
    ActivityKind.VISIT: InteractionKind.VISIT,
    ActivityKind.TASK: InteractionKind.NOTE,
}


def external_key(activity_id: int) -> str:
    return f"sales:activity:{activity_id}"


def _clean_datetime(value: Any, errors: dict[str, str], field: str) -> dt.datetime | None:
    """An aware datetime from a datetime or ISO text (a browser's "2026-03-01T09:30" is read in the current zone)."""
    if value is None or value == "":
        return None
    parsed: dt.datetime | None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        try:
            parsed = parse_datetime(str(value).strip())
        except ValueError:
            parsed = None
    if parsed is None:
        errors[field] = _("Enter a date and time like 2026-03-01 09:30.")
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_current_timezone())
    return parsed


def _clean_minutes(value: Any, errors: dict[str, str]) -> int | None:
    if value is None or value == "":
        return None
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        errors["remind_minutes"] = _("Enter a number of minutes, or leave it empty for no reminder.")
        return None
    if minutes < 0 or minutes > MAX_REMIND_MINUTES:
        errors["remind_minutes"] = _("Between 0 and %(n)s minutes.") % {"n": MAX_REMIND_MINUTES}
        return None
    return minutes


def _clean(data: dict) -> dict:
    errors: dict[str, str] = {}
    out = dict(data)
    if "kind" in out and out["kind"] not in ActivityKind.values:
        errors["kind"] = _("Choose task, call, meeting or visit.")
    if "priority" in out:
        out["priority"] = out["priority"] or ActivityPriority.NORMAL
        if out["priority"] not in ActivityPriority.values:
            errors["priority"] = _("Choose low, normal or high.")
    if "subject" in out:
        clean_text(out, "subject", 200, errors, required=True)
    if "location" in out:
        clean_text(out, "location", 300, errors)
    for key in ("notes", "outcome"):
        if key in out:
            clean_text(out, key, 10_000, errors)
    for key in ("due_at", "ends_at"):
        if key in out:
            out[key] = _clean_datetime(out[key], errors, key)
    if "remind_minutes" in out:
        out["remind_minutes"] = _clean_minutes(out["remind_minutes"], errors)
    if "owner_id" in out:
        out["owner_id"] = check_member(out["owner_id"], errors)
    for key in ("customer_id", "opportunity_id", "lead_id"):
        if key in out and out[key] in ("", None):
            out[key] = None
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def _check_times(activity: Activity) -> None:
    """A meeting or visit needs its start; an end needs a start and comes after it."""
    errors: dict[str, str] = {}
    if activity.kind in TIMED_KINDS and activity.due_at is None:
        errors["due_at"] = _("A meeting or visit needs a start time.")
    if activity.ends_at is not None:
        if activity.kind not in TIMED_KINDS:
            errors["ends_at"] = _("Only a meeting or visit has an end time.")
        elif activity.due_at is not None and activity.ends_at <= activity.due_at:
            errors["ends_at"] = _("The end must be after the start.")
    if errors:
        raise ValidationFailed(fields=errors)


def _link(actor: Membership, activity: Activity, data: dict) -> None:
    """Resolve customer, opportunity and lead ids to rows of this workspace the actor may see, and check they fit.

    Another workspace's (or an out-of-scope) row reads as not there: the error names the field, nothing more.
    """
    errors: dict[str, str] = {}
    if "opportunity_id" in data:
        opp_id = data["opportunity_id"]
        if opp_id is None:
            activity.opportunity = None
        else:
            opp = (
                Opportunity.objects.filter(pk=opp_id).only("id", "customer_id", "owner_id").first()
                if str(opp_id).isdigit()
                else None
            )
            if opp is None or not permissions.can(actor, Module.SALES, "view", owner_id=opp.owner_id):
                errors["opportunity_id"] = _("Choose an opportunity of this workspace.")
            else:
                activity.opportunity = opp
                if data.get("customer_id") is None and activity.customer_id is None:
                    data["customer_id"] = opp.customer_id
    if "lead_id" in data:
        lead_id = data["lead_id"]
        if lead_id is None:
            activity.lead = None
        else:
            lead = (
                Lead.objects.filter(pk=lead_id).only("id", "owner_id").first()
                if str(lead_id).isdigit()
                else None
            )
            if lead is None or not permissions.can(actor, Module.SALES, "view", owner_id=lead.owner_id):
                errors["lead_id"] = _("Choose a lead of this workspace.")
            else:
                activity.lead = lead
    if "customer_id" in data:
        cid = data["customer_id"]
        customer = (
            Customer.objects.filter(pk=cid, merged_into__isnull=True).only("id", "owner_id", "name").first()
            if cid is not None and str(cid).isdigit()
            else None
        )
        if customer is None or not permissions.can(
            actor, Module.CUSTOMERS, "view", owner_id=customer.owner_id
        ):
            errors["customer_id"] = _("Choose a customer of this workspace.")
        else:
            activity.customer = customer
    if activity.customer_id is None and "customer_id" not in errors:
        errors["customer_id"] = _("Choose a customer of this workspace.")
    if (
        not errors
        and activity.opportunity is not None
        and activity.opportunity.customer_id != activity.customer_id
    ):
        errors["opportunity_id"] = _("This opportunity belongs to another customer.")
    if errors:
        raise ValidationFailed(fields=errors)


def _schedule_reminder(activity: Activity, *, now: dt.datetime, changed: bool) -> None:
    """Set ``remind_at`` from the due time; a moved due time or reminder sends the reminder again.

    Nothing to remind of for an activity already due (logging a past call) or without a reminder.
    """
    if activity.due_at is None or activity.remind_minutes is None or activity.due_at <= now:
        activity.remind_at = None
    else:
        activity.remind_at = activity.due_at - dt.timedelta(minutes=activity.remind_minutes)
    if changed:
        activity.reminder_sent_at = None


def activity_create(
    *, actor: Membership, subject: str, kind: str = ActivityKind.TASK, **fields: Any
) -> Activity:
    """Create an activity, owned by the actor unless ``owner_id`` names a member the actor may give sales work to.

    ``customer_id`` is required unless ``opportunity_id`` is given (then it is the opportunity's customer).
    Without ``remind_minutes`` the owner's default reminder applies (their activity settings); an explicit None
    is no reminder. Refuses: a customer, opportunity or lead of another workspace or outside the actor's view, an
    opportunity of another customer, a meeting or visit without a start, an end before the start. Audited.
    """
    permissions.require(actor, Module.SALES, "edit")
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data = _clean({"subject": subject, "kind": kind, **fields})
    with transaction.atomic():
        owner_id = data.pop("owner_id", None) or actor.user_id
        permissions.require(actor, Module.SALES, "edit", owner_id=owner_id)
        if "remind_minutes" not in fields:
            data["remind_minutes"] = activity_settings_for(owner_id).default_remind_minutes
        activity = Activity(owner_id=owner_id, created_by=actor.user)
        _link(actor, activity, data)
        for key in ("customer_id", "opportunity_id", "lead_id"):
            data.pop(key, None)
        for key, value in data.items():
            setattr(activity, key, value)
        _check_times(activity)
        _schedule_reminder(activity, now=timezone.now(), changed=True)
        activity.save()
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="activity.create",
            obj=activity,
            after=snapshot(activity),
        )
    return activity


def activity_update(*, actor: Membership, activity_id: int, **fields: Any) -> Activity:
    """Change an activity's fields. A done activity keeps its facts: only notes, outcome, location and priority.

    A new due time or reminder re-arms the reminder. Same refusals as ``activity_create``. Audited.
    """
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data = _clean(fields)
    with transaction.atomic():
        activity = get_activity_for(actor, activity_id, action="edit", lock=True)
        if activity.status == ActivityStatus.DONE:
            frozen = {k for k in set(data) - set(EDITABLE_WHEN_DONE) if data[k] != getattr(activity, k)}
            if frozen:
                raise ValidationFailed(
                    _("This activity is done: only its notes, outcome, location and priority can change."),
                    fields={k: _("A completed activity keeps this.") for k in sorted(frozen)},
                    code="activity_done",
                )
        if "owner_id" in data:
            if data["owner_id"] is None:
                raise ValidationFailed(fields={"owner_id": _("An activity needs an owner.")})
            if data["owner_id"] != activity.owner_id:
                permissions.require(actor, Module.SALES, "edit", owner_id=data["owner_id"])
        before = snapshot(activity)
        old_due, old_minutes = activity.due_at, activity.remind_minutes
        _link(actor, activity, data)
        for key in ("customer_id", "opportunity_id", "lead_id"):
            data.pop(key, None)
        for key, value in data.items():
            setattr(activity, key, value)
        _check_times(activity)
        moved = old_due != activity.due_at or old_minutes != activity.remind_minutes
        if activity.status == ActivityStatus.OPEN:
            _schedule_reminder(activity, now=timezone.now(), changed=moved)
        activity.save()
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="activity.update",
            obj=activity,
            before=before,
            after=snapshot(activity),
        )
    return activity


@dataclass(frozen=True)
class CompleteResult:
    activity: Activity
    completed: bool  # False when it was already done (nothing was written again)


def activity_complete(*, actor: Membership, activity_id: int, outcome: str = "") -> CompleteResult:
    """Mark an open activity done with its outcome notes.

    Writes the customer's timeline (call, meeting, visit; a task as a note) at the time it took place, under the
    idempotent key "sales:activity:<id>", and counts as activity on the linked opportunity (its stale alert is
    cleared). Completing again changes nothing and writes nothing (``completed`` is False). Refuses a cancelled
    activity. Audited.
    """
    data = _clean({"outcome": outcome})
    with transaction.atomic():
        activity = get_activity_for(actor, activity_id, action="edit", lock=True)
        if activity.status == ActivityStatus.DONE:
            return CompleteResult(activity, completed=False)
        if activity.status == ActivityStatus.CANCELLED:
            raise ValidationFailed(
                _("A cancelled activity cannot be completed: reopen it first."),
                fields={"status": _("This activity was cancelled.")},
                code="activity_cancelled",
            )
        before = snapshot(activity)
        now = timezone.now()
        occurred = min(activity.due_at, now) if activity.due_at else now
        activity.status = ActivityStatus.DONE
        activity.completed_at = now
        activity.remind_at = None
        if data.get("outcome"):
            activity.outcome = data["outcome"]
        label = ActivityKind(activity.kind).label
        interaction = interaction_record(
            workspace=actor.workspace,
            customer_id=activity.customer_id,
            kind=TIMELINE_KIND[ActivityKind(activity.kind)],
            direction=InteractionDirection.OUTBOUND if activity.kind == ActivityKind.CALL else "",
            occurred_at=occurred,
            actor=activity.owner,
            subject=f"{label}: {activity.subject}",
            body=activity.outcome,
            source_type=SOURCE_TYPE,
            source_id=str(activity.pk),
            data={
                "event": "activity.done",
                "kind": activity.kind,
                "opportunity_id": activity.opportunity_id,
                "location": activity.location,
            },
            external_key=external_key(activity.pk),
        )
        activity.interaction = interaction
        activity.save()
        if activity.opportunity_id:
            opportunity_record_activity(opportunity_id=activity.opportunity_id, at=now)
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="activity.complete",
            obj=activity,
            before=before,
            after=snapshot(activity),
        )
    return CompleteResult(activity, completed=True)


def activity_set_status(*, actor: Membership, activity_id: int, status: str) -> Activity:
    """Cancel an open activity or reopen a cancelled one (done is ``activity_complete``'s). No reminder while
    cancelled; reopening re-arms it. Setting the status it already has changes nothing. Audited."""
    if status not in (ActivityStatus.OPEN, ActivityStatus.CANCELLED):
        raise ValidationFailed(fields={"status": _("Choose open or cancelled.")})
    with transaction.atomic():
        activity = get_activity_for(actor, activity_id, action="edit", lock=True)
        if activity.status == status:
            return activity
        if activity.status == ActivityStatus.DONE:
            raise ValidationFailed(
                _("This activity is done and on the customer's timeline."),
                fields={"status": _("A completed activity keeps this.")},
                code="activity_done",
            )
        before = snapshot(activity)
        activity.status = status
        _schedule_reminder(activity, now=timezone.now(), changed=status == ActivityStatus.OPEN)
        activity.save()
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="activity.cancel" if status == ActivityStatus.CANCELLED else "activity.reopen",
            obj=activity,
            before=before,
            after=snapshot(activity),
        )
    return activity


def activity_delete(*, actor: Membership, activity_id: int) -> None:
    """Delete an activity. A done one's timeline entry stays (the timeline is history). Audited."""
    with transaction.atomic():
        activity = get_activity_for(actor, activity_id, action="edit", lock=True)
        before = snapshot(activity)
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="activity.delete", obj=activity, before=before
        )
        activity.delete()


# --- reminders ------------------------------------------------------------------------------------------------------


def activity_reminders_send(*, now: dt.datetime | None = None) -> list[int]:
    """Send the current workspace's due reminders: each claimed exactly once, even with several workers at once.

    A reminder is claimed by ``UPDATE ... SET reminder_sent_at = now WHERE id = ? AND reminder_sent_at IS NULL``:
    of two workers racing, one updates the row and the other updates nothing and skips it. On PostgreSQL the
    candidates are first read ``FOR UPDATE SKIP LOCKED`` so workers share the batch instead of queueing on it.
    For each claimed one: an in-app notice (pushed to open tabs) and, unless the owner turned it off, an email,
    both after commit. Returns the ids claimed by this call.
    """
    now = now or timezone.now()
    claimed: list[int] = []
    with transaction.atomic():
        due = list(
            Activity.objects.select_for_update(skip_locked=True)
            .filter(
                status=ActivityStatus.OPEN,
                reminder_sent_at__isnull=True,
                remind_at__isnull=False,
                remind_at__lte=now,
            )
            .order_by("remind_at", "id")
            .values_list("id", flat=True)[:REMINDER_BATCH]
        )
        for activity_id in due:
            won = Activity.objects.filter(
                pk=activity_id, reminder_sent_at__isnull=True, status=ActivityStatus.OPEN
            ).update(reminder_sent_at=now)
            if not won:
                continue
            claimed.append(activity_id)
            activity = Activity.objects.select_related("customer").get(pk=activity_id)
            _deliver_reminder(activity, now=now)
    return claimed


def _deliver_reminder(activity: Activity, *, now: dt.datetime) -> None:
    from django.urls import reverse

    from guanxi.sales import tasks_activities

    local = timezone.localtime(activity.due_at) if activity.due_at else None
    title = _("%(kind)s with %(customer)s at %(time)s: %(subject)s") % {
        "kind": ActivityKind(activity.kind).label,
        "customer": activity.customer.name,
        "time": local.strftime("%Y-%m-%d %H:%M") if local else "",
        "subject": activity.subject,
    }
    url = reverse("sales:activity_detail", args=[activity.pk])
    notice = notice_send(
        user_id=activity.owner_id, title=title, url=url, event="sales.activity_reminder", activity=activity,
        now=now, activity_id=activity.pk,
    )  # fmt: skip
    if activity_settings_for(activity.owner_id).email_reminders:
        transaction.on_commit(lambda nid=notice.pk: tasks_activities.send_activity_reminder_email(nid))


# --- notices -------------------------------------------------------------------------------------------------------


def notice_send(
    *,
    user_id: int,
    title: str,
    url: str,
    event: str,
    activity: Activity | None = None,
    now: dt.datetime | None = None,
    **extra: Any,
) -> ActivityNotification:
    """An in-app notice (站内通知) for one member in the current workspace (the bell's list), pushed live over their
    websocket once the transaction commits. ``event`` names it for the page's script; ``extra`` goes with the push.
    Any module may tell a member something this way (reminders, a field visit booked for a technician)."""
    notice = ActivityNotification.objects.create(
        user_id=user_id, activity=activity, title=title[:300], url=url, created_at=now or timezone.now()
    )
    payload = {"type": event, "notification_id": notice.pk, "message": notice.title, "url": url, **extra}
    transaction.on_commit(lambda: notify_user(user_id, payload))
    return notice


def notification_mark_read(*, actor: Membership, notification_id: int | None = None) -> int:
    """Mark one of the actor's notices (or all of them) read. Another member's notice reads as missing."""
    qs = ActivityNotification.objects.filter(user_id=actor.user_id, read_at__isnull=True)
    if notification_id is not None:
        qs = qs.filter(pk=notification_id)
    return qs.update(read_at=timezone.now())


# --- settings and the iCal feed ------------------------------------------------------------------------------------


def _settings_row(actor: Membership) -> ActivitySettings:
    row, _created = ActivitySettings.objects.select_for_update().get_or_create(user_id=actor.user_id)
    return row


def activity_settings_update(
    *, actor: Membership, default_remind_minutes: Any, email_reminders: bool
) -> ActivitySettings:
    """Change the member's default reminder (minutes before; empty: none) and whether reminders are emailed too."""
    errors: dict[str, str] = {}
    minutes = _clean_minutes(default_remind_minutes, errors)
    if errors:
        raise ValidationFailed(fields={"default_remind_minutes": errors["remind_minutes"]})
    with transaction.atomic():
        row = _settings_row(actor)
        before = {
            "default_remind_minutes": row.default_remind_minutes,
            "email_reminders": row.email_reminders,
        }
        row.default_remind_minutes = minutes
        row.email_reminders = bool(email_reminders)
        row.save()
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="activity.settings",
            obj=row,
            before=before,
            after={"default_remind_minutes": minutes, "email_reminders": row.email_reminders},
        )
    return row


def ical_token_regenerate(*, actor: Membership) -> str:
    """Give the member a new secret iCal feed token (the old feed URL stops working). Returns the token: it is
    shown once; only its hash is kept. Audited (without the token)."""
    permissions.require(actor, Module.SALES, "view")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        row = _settings_row(actor)
        had = bool(row.ical_token_hash)
        row.ical_token_hash = ical_token_hash(token)
        row.save(update_fields=["ical_token_hash"])
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="activity.ical_token",
            obj=row,
            changes={"ical_feed": ["replaced" if had else None, "new"]},
        )
    return token


def ical_token_revoke(*, actor: Membership) -> bool:
    """Turn the member's iCal feed off. Returns whether there was one."""
    with transaction.atomic():
        row = ActivitySettings.objects.select_for_update().filter(user_id=actor.user_id).first()
        if row is None or not row.ical_token_hash:
            return False
        row.ical_token_hash = ""
        row.save(update_fields=["ical_token_hash"])
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="activity.ical_token",
            obj=row,
            changes={"ical_feed": ["on", None]},
        )
    return True
