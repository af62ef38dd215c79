"""Service set-up pages: working calendars (hours, holidays and 调休 days per year)."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from guanxi.core.errors import AppError, NotFound
from guanxi.service.calendars import public_holiday_years
from guanxi.service.models import CalendarDay, DayKind, WorkingCalendar
from guanxi.service.services import calendars as services
from guanxi.web.decorators import member_required
from guanxi.workspaces.models import Team
from guanxi.workspaces.permissions import Module

WEEKDAYS = [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")]


def _calendar(calendar_id: int) -> WorkingCalendar:
    cal = WorkingCalendar.objects.select_related("team").filter(pk=calendar_id).first()
    if cal is None:
        raise NotFound()
    return cal


def _error(request: HttpRequest, exc: AppError) -> None:
    messages.error(request, " ".join(exc.fields.values()) or exc.message)


@member_required(Module.SERVICE)
@require_http_methods(["GET", "POST"])
def calendar_list_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        team = request.POST.get("team_id", "")
        try:
            cal = services.calendar_create(
                actor=request.membership,
                name=request.POST.get("name", ""),
                team_id=int(team) if team.isdigit() else None,
            )
        except AppError as exc:
            _error(request, exc)
        else:
            return redirect("service:calendar_detail", cal.pk)
    return render(
        request,
        "service/calendar_list.html",
        {
            "calendars": list(WorkingCalendar.objects.select_related("team")),
            "teams": list(Team.objects.order_by("name")),
            "may_edit": services.is_service_admin(request.membership),
        },
    )


@member_required(Module.SERVICE)
def calendar_detail_view(request: HttpRequest, calendar_id: int) -> HttpResponse:
    cal = _calendar(calendar_id)
    year_text = request.GET.get("year", "")
    year = int(year_text) if year_text.isdigit() and 2000 <= int(year_text) <= 2100 else dt.date.today().year
    return render(
        request,
        "service/calendar_detail.html",
        {
            "cal": cal,
            "year": year,
            "years": sorted({*public_holiday_years(), year - 1, year, year + 1}),
            "days": list(CalendarDay.objects.filter(calendar=cal, date__year=year).order_by("date")),
            "weekly": [(WEEKDAYS[i], services.fmt_intervals(h)) for i, h in enumerate(cal.weekly_hours)],
            "workday": services.fmt_intervals(cal.workday_hours),
            "kinds": DayKind.choices,
            "may_edit": services.is_service_admin(request.membership),
            "shipped": year in public_holiday_years(),
        },
    )


@member_required(Module.SERVICE, "edit")
@require_POST
def calendar_edit_view(request: HttpRequest, calendar_id: int) -> HttpResponse:
    cal = _calendar(calendar_id)
    action = request.POST.get("action", "")
    year = request.POST.get("year", "")
    try:
        if action == "add":
            services.calendar_add_days(
                actor=request.membership,
                calendar=cal,
                first=request.POST.get("first", ""),
                last=request.POST.get("last", "") or None,
                kind=request.POST.get("kind", ""),
                name=request.POST.get("name", ""),
            )
        elif action == "remove":
            services.calendar_remove_day(
                actor=request.membership,
                calendar=cal,
                date=dt.date.fromisoformat(request.POST.get("date", "")),
            )
        elif action == "load":
            services.calendar_load_public_holidays(actor=request.membership, calendar=cal, year=int(year))
        elif action == "hours":
            services.calendar_set_hours(
                actor=request.membership,
                calendar=cal,
                weekly=[request.POST.get(f"day{i}", "") for i in range(7)],
                workday=request.POST.get("workday", ""),
            )
        else:
            raise NotFound()
    except AppError as exc:
        _error(request, exc)
    except ValueError:
        messages.error(request, _("Enter a date like 2026-10-01."))
    else:
        messages.success(request, _("Calendar saved. Open tickets' deadlines are recalculated overnight."))
    suffix = f"?year={year}" if year.isdigit() else ""
    return redirect(f"/service/calendars/{cal.pk}/{suffix}")
