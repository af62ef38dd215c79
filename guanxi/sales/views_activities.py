"""Web pages of activities (销售活动): my open activities, forms, detail, the calendar (month and week, mine or my
team's), in-app notices, activity settings with the iCal feed, and the public feed itself (token, no login)."""

from __future__ import annotations

import calendar as pycalendar
import contextlib
import datetime as dt
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from guanxi.core.context import workspace_context
from guanxi.core.errors import ValidationFailed
from guanxi.customers.selectors import customer_list
from guanxi.sales import selectors_activities as selectors
from guanxi.sales.ical import activities_ical
from guanxi.sales.models import (
    TIMED_KINDS,
    ActivityKind,
    ActivityPriority,
    ActivityStatus,
    Opportunity,
)
from guanxi.sales.services import activities as services
from guanxi.web.decorators import member_required
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module
from guanxi.workspaces.selectors import active_member_users

FORM_FIELDS = (
    "kind",
    "subject",
    "customer_id",
    "opportunity_id",
    "owner_id",
    "due_at",
    "ends_at",
    "location",
    "priority",
    "notes",
    "outcome",
    "remind_minutes",
)


def _owners(request: HttpRequest) -> list[Any]:
    """Members the actor may give an activity to (a sales rep: only themselves)."""
    return [
        u
        for u in active_member_users()
        if permissions.can(request.membership, Module.SALES, "edit", owner_id=u.pk)
    ]


def _local_input(value: dt.datetime | None) -> str:
    """A datetime as the value of a ``datetime-local`` input, in the current time zone."""
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M") if value else ""


def _form_values(request: HttpRequest) -> dict[str, Any]:
    return {k: request.POST.get(k, "").strip() for k in FORM_FIELDS}


def _next_url(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


def _form_context(request: HttpRequest, values: dict, errors: dict, activity: Any) -> dict[str, Any]:
    actor = request.membership
    customer_id = str(values.get("customer_id") or "")
    opportunities: list[Opportunity] = []
    if customer_id.isdigit():
        opportunities = list(
            permissions.filter_queryset(
                actor, Module.SALES, "view", Opportunity.objects.filter(customer_id=int(customer_id))
            ).order_by("-last_activity_at")[:50]
        )
    return {
        "values": values,
        "errors": errors,
        "activity": activity,
        "customers": list(customer_list(actor=actor).order_by("name")[:200]),
        "opportunities": opportunities,
        "owners": _owners(request),
        "kinds": ActivityKind.choices,
        "priorities": ActivityPriority.choices,
        "timed_kinds": [str(k) for k in TIMED_KINDS],
        "next": _next_url(request, ""),
    }


def _payload(values: dict[str, Any]) -> dict[str, Any]:
    data = dict(values)
    for key in ("customer_id", "opportunity_id", "owner_id"):
        data[key] = data.get(key) or None
    data["remind_minutes"] = data.get("remind_minutes", "")
    return data


# --- my open activities ----------------------------------------------------------------------------------------------


@member_required(Module.SALES)
def activity_list_view(request: HttpRequest) -> HttpResponse:
    """ "My open activities": overdue first, then what is coming up."""
    actor = request.membership
    overdue, upcoming = selectors.activity_open_for(actor=actor)
    return render(
        request,
        "sales/activity_list.html",
        {
            "overdue": overdue,
            "upcoming": upcoming,
            "now": timezone.now(),
            "may_add": permissions.can(actor, Module.SALES, "edit"),
        },
    )


@member_required(Module.SALES, "edit")
@require_http_methods(["GET", "POST"])
def activity_create_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    errors: dict[str, str] = {}
    default_minutes = selectors.activity_settings_for(actor.user_id).default_remind_minutes
    values: dict[str, Any] = {
        "kind": request.GET.get("kind", ActivityKind.TASK),
        "customer_id": request.GET.get("customer", ""),
        "opportunity_id": request.GET.get("opportunity", ""),
        "priority": ActivityPriority.NORMAL,
        "owner_id": actor.user_id,
        "remind_minutes": "" if default_minutes is None else default_minutes,
        "due_at": "",
    }
    opp_id = str(values["opportunity_id"])
    if opp_id.isdigit() and not str(values["customer_id"]).isdigit():
        opp = Opportunity.objects.filter(pk=int(opp_id)).only("customer_id").first()
        values["customer_id"] = opp.customer_id if opp else ""
    day = request.GET.get("date", "")
    if day:
        with contextlib.suppress(ValueError):
            values["due_at"] = f"{dt.date.fromisoformat(day).isoformat()}T09:00"
    if request.method == "POST":
        values = _form_values(request)
        data = _payload(values)
        try:
            activity = services.activity_create(actor=actor, **data)
        except ValidationFailed as exc:
            errors = exc.fields or {"subject": exc.message}
        else:
            messages.success(request, _("Activity %(subject)s added.") % {"subject": activity.subject})
            return redirect(_next_url(request, reverse("sales:activity_detail", args=[activity.pk])))
    return render(
        request,
        "sales/activity_form.html",
        _form_context(request, values, errors, None),
        status=422 if errors else 200,
    )


@member_required(Module.SALES)
def activity_detail_view(request: HttpRequest, activity_id: int) -> HttpResponse:
    actor = request.membership
    activity = selectors.get_activity_for(actor, activity_id)
    return render(
        request,
        "sales/activity_detail.html",
        {
            "activity": activity,
            "may_edit": permissions.can(actor, Module.SALES, "edit", owner_id=activity.owner_id),
            "now": timezone.now(),
        },
    )


@member_required(Module.SALES)
@require_http_methods(["GET", "POST"])
def activity_edit_view(request: HttpRequest, activity_id: int) -> HttpResponse:
    actor = request.membership
    activity = selectors.get_activity_for(actor, activity_id, action="edit")
    values: dict[str, Any] = {k: getattr(activity, k) for k in FORM_FIELDS if k not in ("due_at", "ends_at")}
    values["due_at"] = _local_input(activity.due_at)
    values["ends_at"] = _local_input(activity.ends_at)
    values["remind_minutes"] = "" if activity.remind_minutes is None else activity.remind_minutes
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = _form_values(request)
        data = _payload(values)
        if activity.status == ActivityStatus.DONE:
            data = {k: v for k, v in data.items() if k in services.EDITABLE_WHEN_DONE}
        try:
            services.activity_update(actor=actor, activity_id=activity.pk, **data)
        except ValidationFailed as exc:
            errors = exc.fields or {"subject": exc.message}
        else:
            messages.success(request, _("Changes saved."))
            return redirect("sales:activity_detail", activity.pk)
    return render(
        request,
        "sales/activity_form.html",
        _form_context(request, values, errors, activity),
        status=422 if errors else 200,
    )


@member_required(Module.SALES)
@require_POST
def activity_complete_view(request: HttpRequest, activity_id: int) -> HttpResponse:
    result = services.activity_complete(
        actor=request.membership, activity_id=activity_id, outcome=request.POST.get("outcome", "")
    )
    if result.completed:
        messages.success(
            request,
            _("Done: %(subject)s is on the customer's timeline.") % {"subject": result.activity.subject},
        )
    else:
        messages.info(request, _("This activity was already done."))
    return redirect(_next_url(request, reverse("sales:activity_detail", args=[activity_id])))


@member_required(Module.SALES)
@require_POST
def activity_status_view(request: HttpRequest, activity_id: int) -> HttpResponse:
    status = request.POST.get("status", "")
    try:
        activity = services.activity_set_status(
            actor=request.membership, activity_id=activity_id, status=status
        )
    except ValidationFailed as exc:
        messages.error(request, exc.message)
    else:
        if activity.status == ActivityStatus.CANCELLED:
            messages.success(request, _("Activity cancelled."))
        else:
            messages.success(request, _("Activity reopened."))
    return redirect("sales:activity_detail", activity_id)


@member_required(Module.SALES)
@require_POST
def activity_delete_view(request: HttpRequest, activity_id: int) -> HttpResponse:
    services.activity_delete(actor=request.membership, activity_id=activity_id)
    messages.success(request, _("Activity deleted."))
    return redirect("sales:activity_list")


# --- calendar ---------------------------------------------------------------------------------------------------------


def _parse_day(text: str, today: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(text) if text else today
    except ValueError:
        return today


def _aware(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_current_timezone())


def _shift_month(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return dt.date(year, month, min(day.day, pycalendar.monthrange(year, month)[1]))


@member_required(Module.SALES)
@require_GET
def calendar_view(request: HttpRequest) -> HttpResponse:
    """The calendar: ``view`` month or week, around ``date``; ``who`` me or team (members who see more than their
    own sales rows). Days are keyboard navigable (arrows, Page Up/Down, Home/End, t: today; calendar.js)."""
    actor = request.membership
    today = timezone.localdate()
    mode = "week" if request.GET.get("view") == "week" else "month"
    who = "team" if request.GET.get("who") == "team" else "me"
    focus = _parse_day(request.GET.get("date", ""), today)
    may_team = selectors.calendar_owner_ids(actor, "team") is not None
    owner_ids = selectors.calendar_owner_ids(actor, who) if may_team else [actor.user_id]
    if owner_ids is None:
        owner_ids, who = [actor.user_id], "me"
    if mode == "month":
        first = focus.replace(day=1)
        start_day = first - dt.timedelta(days=first.weekday())
        last = focus.replace(day=pycalendar.monthrange(focus.year, focus.month)[1])
        end_day = last + dt.timedelta(days=6 - last.weekday() + 1)
        prev_day, next_day = _shift_month(focus, -1), _shift_month(focus, 1)
    else:
        start_day = focus - dt.timedelta(days=focus.weekday())
        end_day = start_day + dt.timedelta(days=7)
        prev_day, next_day = focus - dt.timedelta(days=7), focus + dt.timedelta(days=7)
    result = selectors.calendar_activities(
        actor=actor, owner_ids=owner_ids, start=_aware(start_day), end=_aware(end_day)
    )
    by_day: dict[dt.date, list[Any]] = {}
    for a in result.activities:
        day = max(timezone.localtime(a.due_at).date(), start_day)
        by_day.setdefault(day, []).append(a)
    days = [start_day + dt.timedelta(days=i) for i in range((end_day - start_day).days)]
    cells = [
        {"date": d, "items": by_day.get(d, []), "today": d == today, "other_month": d.month != focus.month}
        for d in days
    ]
    weeks = [cells[i : i + 7] for i in range(0, len(cells), 7)]
    weekdays = [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]
    return render(
        request,
        "sales/calendar.html",
        {
            "mode": mode,
            "who": who,
            "may_team": may_team,
            "focus": focus,
            "today": today,
            "weeks": weeks,
            "weekdays": weekdays,
            "prev_day": prev_day,
            "next_day": next_day,
            "start_day": start_day,
            "last_day": end_day - dt.timedelta(days=1),
            "truncated": result.truncated,
            "show_owner": who == "team",
            "may_add": permissions.can(actor, Module.SALES, "edit"),
        },
    )


# --- notices ---------------------------------------------------------------------------------------------------------


@member_required()
@require_http_methods(["GET", "POST"])
def notification_list_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    if request.method == "POST":
        nid = request.POST.get("notification_id", "")
        services.notification_mark_read(actor=actor, notification_id=int(nid) if nid.isdigit() else None)
        return redirect(_next_url(request, reverse("sales:activity_notifications")))
    return render(
        request,
        "sales/activity_notifications.html",
        {
            "notices": selectors.notification_list(actor=actor),
            "unread": selectors.notification_unread_count(actor=actor),
        },
    )


@member_required()
@require_GET
def notification_count_view(request: HttpRequest) -> HttpResponse:
    """The top bar's unread badge (loaded by htmx after the page)."""
    unread = selectors.notification_unread_count(actor=request.membership)
    return render(request, "sales/activity_badge_count.html", {"unread": unread})


# --- settings and the iCal feed ------------------------------------------------------------------------------------------


@member_required(Module.SALES)
@require_http_methods(["GET", "POST"])
def activity_settings_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    errors: dict[str, str] = {}
    feed_url = ""
    row = selectors.activity_settings_for(actor.user_id)
    values = {
        "default_remind_minutes": "" if row.default_remind_minutes is None else row.default_remind_minutes,
        "email_reminders": row.email_reminders,
    }
    if request.method == "POST":
        action = request.POST.get("action", "save")
        if action == "feed":
            token = services.ical_token_regenerate(actor=actor)
            feed_url = request.build_absolute_uri(reverse("sales:activity_ical", args=[token]))
            messages.success(
                request, _("Your new calendar feed address is below. Copy it now: it is shown once.")
            )
        elif action == "revoke":
            if services.ical_token_revoke(actor=actor):
                messages.success(request, _("Calendar feed turned off. The old address no longer works."))
            return redirect("sales:activity_settings")
        else:
            values = {
                "default_remind_minutes": request.POST.get("default_remind_minutes", "").strip(),
                "email_reminders": request.POST.get("email_reminders") == "on",
            }
            try:
                services.activity_settings_update(actor=actor, **values)
            except ValidationFailed as exc:
                errors = exc.fields
            else:
                messages.success(request, _("Changes saved."))
                return redirect("sales:activity_settings")
        row = selectors.activity_settings_for(actor.user_id)
    return render(
        request,
        "sales/activity_settings.html",
        {"values": values, "errors": errors, "feed_on": bool(row.ical_token_hash), "feed_url": feed_url},
        status=422 if errors else 200,
    )


@require_GET
def activity_ical_view(request: HttpRequest, token: str) -> HttpResponse:
    """The member's activities as an iCalendar feed, for calendar apps: no login, the secret token is the key.

    A wrong, revoked or former member's token is a plain 404.
    """
    row = selectors.settings_by_ical_token(token)
    if row is None:
        raise Http404()
    with workspace_context(row.workspace):
        if not Membership.objects.filter(user_id=row.user_id, is_active=True).exists():
            raise Http404()
        body = activities_ical(
            selectors.ical_feed_activities(user_id=row.user_id),
            name=f"{row.workspace.name} · {row.user}",
            host=request.get_host().split(":")[0] or "guanxi",
        )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, max-age=300"
    response["X-Robots-Tag"] = "noindex"
    return response
