"""Reads of activities (销售活动): lists, the calendar, the overdue list, notices and the iCal feed.

Visibility is Module.SALES on the activity's owner (own / team / workspace scope), like every sales record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from guanxi.core.errors import NotFound
from guanxi.sales.models import (
    DEFAULT_REMINDER_MINUTES,
    Activity,
    ActivityNotification,
    ActivitySettings,
    ActivityStatus,
)
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

CALENDAR_MAX_ROWS = 2000  # a month of one team's activities; more is cut, and the page says so


def activity_list(*, actor: Membership) -> QuerySet[Activity]:
    """Activities the actor may see, customer, opportunity and owner joined."""
    qs = Activity.objects.select_related("customer", "opportunity", "owner")
    return permissions.filter_queryset(actor, Module.SALES, "view", qs)


def get_activity_for(
    actor: Membership, activity_id: int, *, action: permissions.Action = "view", lock: bool = False
) -> Activity:
    """The activity, if in the actor's workspace and scope. Missing and not-yours are the same 404."""
    qs = Activity.objects.select_related("customer", "opportunity", "owner", "lead")
    if lock:
        qs = qs.select_for_update(of=("self",))
    try:
        activity = qs.get(pk=activity_id)
    except (Activity.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None
    permissions.require_object(actor, Module.SALES, action, owner_id=activity.owner_id)
    return activity


def activity_open_for(
    *, actor: Membership, now: dt.datetime | None = None
) -> tuple[list[Activity], list[Activity]]:
    """ "My open activities": (overdue, upcoming) of the actor's own open activities (index activity_owner_due_idx).

    Overdue: due before ``now``. Upcoming: due later or without a due time, soonest first, at most 100.
    """
    now = now or timezone.now()
    qs = Activity.objects.filter(owner_id=actor.user_id, status=ActivityStatus.OPEN).select_related(
        "customer", "opportunity"
    )
    overdue = list(qs.filter(due_at__lt=now).order_by("due_at", "id")[:200])
    upcoming = list(qs.filter(Q(due_at__gte=now) | Q(due_at__isnull=True)).order_by("due_at", "id")[:100])
    upcoming.sort(key=lambda a: (a.due_at is None, a.due_at or now, a.pk))
    return overdue, upcoming


def calendar_owner_ids(actor: Membership, who: str) -> list[int] | None:
    """Whose activities the calendar shows: ``me`` (the actor) or ``team`` (their team(s), for those whose sales
    view reaches beyond their own rows). None: the actor may not see a team calendar."""
    if who == "team":
        if permissions.scope_for(actor, Module.SALES, "view") <= permissions.Scope.OWN:
            return None
        return sorted(permissions.team_user_ids(actor))
    return [actor.user_id]


@dataclass
class CalendarRange:
    start: dt.datetime
    end: dt.datetime
    activities: list[Activity]
    truncated: bool


def calendar_activities(
    *, actor: Membership, owner_ids: list[int], start: dt.datetime, end: dt.datetime
) -> CalendarRange:
    """Activities of ``owner_ids`` that overlap [start, end), cancelled ones left out, in time order.

    A meeting that starts before the range and ends inside it is included. Narrowed to the actor's scope.
    """
    qs = activity_list(actor=actor).filter(owner_id__in=owner_ids).exclude(status=ActivityStatus.CANCELLED)
    qs = qs.filter(Q(due_at__gte=start, due_at__lt=end) | Q(due_at__lt=start, ends_at__gt=start)).order_by(
        "due_at", "id"
    )
    rows = list(qs[: CALENDAR_MAX_ROWS + 1])
    return CalendarRange(start, end, rows[:CALENDAR_MAX_ROWS], len(rows) > CALENDAR_MAX_ROWS)


def customer_activities(*, actor: Membership, customer_id: int, limit: int = 10) -> list[Activity]:
    """A customer's activities the actor may see: open ones (soonest first) then the latest done ones."""
    if not permissions.can(actor, Module.SALES, "view"):
        return []
    qs = activity_list(actor=actor).filter(customer_id=customer_id)
    return _open_first(qs, limit)


def opportunity_activities(*, actor: Membership, opportunity_id: int, limit: int = 20) -> list[Activity]:
    if not permissions.can(actor, Module.SALES, "view"):
        return []
    qs = activity_list(actor=actor).filter(opportunity_id=opportunity_id)
    return _open_first(qs, limit)


def _open_first(qs: QuerySet[Activity], limit: int) -> list[Activity]:
    """Open ones first, soonest due first (no due time last), then the others, latest change first. One query."""
    open_due = Case(When(status=ActivityStatus.OPEN, then=F("due_at")), default=None)
    is_open = Case(
        When(status=ActivityStatus.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    return list(
        qs.annotate(is_open=is_open, open_due=open_due).order_by(
            "is_open", F("open_due").asc(nulls_last=True), "-updated_at", "-id"
        )[:limit]
    )


# --- settings, notices, feed --------------------------------------------------------------------------------------


def activity_settings_for(user_id: int) -> ActivitySettings:
    """The member's settings in the current workspace (unsaved defaults when they never changed them)."""
    row = ActivitySettings.objects.filter(user_id=user_id).first()
    return row or ActivitySettings(user_id=user_id, default_remind_minutes=DEFAULT_REMINDER_MINUTES)


def notification_list(*, actor: Membership, limit: int = 50) -> list[ActivityNotification]:
    return list(ActivityNotification.objects.filter(user_id=actor.user_id).order_by("-id")[:limit])


def notification_unread_count(*, actor: Membership) -> int:
    """Unread notices of the actor, capped at 100 (the badge shows "99+"; index activity_notice_user_idx)."""
    return ActivityNotification.objects.filter(user_id=actor.user_id, read_at__isnull=True)[:100].count()


def ical_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def settings_by_ical_token(token: str) -> ActivitySettings | None:
    """The settings row whose feed token this is, in any workspace: the feed URL names no workspace.

    Cross-tenant by nature (the token is the only key), so it reads ``all_workspaces``; the caller then enters the
    row's workspace context.
    """
    if not token or len(token) > 100:
        return None
    from guanxi.core import rls

    with rls.bypass():
        return (
            ActivitySettings.all_workspaces.select_related("workspace", "user")
            .filter(ical_token_hash=ical_token_hash(token))
            .first()
        )


def ical_feed_activities(*, user_id: int, now: dt.datetime | None = None) -> list[Activity]:
    """The activities of the feed: the user's own, not cancelled, with a due time, from 90 days back on."""
    now = now or timezone.now()
    return list(
        Activity.objects.filter(owner_id=user_id, due_at__gte=now - dt.timedelta(days=90))
        .exclude(status=ActivityStatus.CANCELLED)
        .select_related("customer")
        .order_by("due_at", "id")[:5000]
    )
