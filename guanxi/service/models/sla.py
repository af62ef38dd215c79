"""Service levels (服务级别): working calendars per team and SLA policies counted in business minutes."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel

# Monday..Sunday, each a list of [start, end] minutes after midnight: 09:00-12:00 and 13:00-18:00 on weekdays
DEFAULT_WEEKLY_HOURS: list[list[list[int]]] = [[[540, 720], [780, 1080]]] * 5 + [[], []]


def default_weekly_hours() -> list:
    return [list(map(list, day)) for day in DEFAULT_WEEKLY_HOURS]


def default_workday_hours() -> list:
    return list(map(list, DEFAULT_WEEKLY_HOURS[0]))


class WorkingCalendar(TenantModel):
    """A working calendar (工作日历): weekly working hours plus dated exceptions (public holidays off, 调休
    make-up working days on). A team uses its own calendar; a ticket without one uses the workspace default
    (``team`` empty). ``workday_hours`` are the hours of a make-up working day."""

    name = models.CharField(_("name"), max_length=100)
    team = models.OneToOneField(
        "workspaces.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("team"),
    )
    time_zone = models.CharField(_("time zone"), max_length=50, default="Asia/Shanghai")
    weekly_hours = models.JSONField(default=default_weekly_hours)
    workday_hours = models.JSONField(default=default_workday_hours)
    changed_at = models.DateTimeField(auto_now=True)
    recalculated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class DayKind(models.TextChoices):
    HOLIDAY = "holiday", _("Holiday (day off)")
    WORKDAY = "workday", _("Make-up working day (调休)")


class CalendarDay(TenantModel):
    """A dated exception on a working calendar: a public holiday or a weekend day worked in exchange (调休)."""

    calendar = models.ForeignKey(WorkingCalendar, on_delete=models.CASCADE, related_name="days")
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=10, choices=DayKind.choices)
    name = models.CharField(_("name"), max_length=100, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "calendar", "date"], name="calendarday_unique_date"),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.kind}"


class SlaPolicy(TenantModel):
    """An SLA policy (服务级别协议): first-response and resolution targets in business minutes for tickets that
    match its priority, category and customer tier (empty = any). The most specific active policy wins."""

    name = models.CharField(_("name"), max_length=100)
    priority = models.CharField(_("priority"), max_length=10, blank=True)
    category = models.ForeignKey(
        "service.TicketCategory", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    customer_tier = models.CharField(_("customer tier"), max_length=50, blank=True)
    first_response_minutes = models.PositiveIntegerField(_("first response target (business minutes)"))
    resolution_minutes = models.PositiveIntegerField(_("resolution target (business minutes)"))
    warn_share = models.DecimalField(
        _("warning line (share of the target)"), max_digits=3, decimal_places=2, default=Decimal("0.80")
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name
