"""Working calendars (工作日历) and SLA policies: the service set-up, for members who may edit all tickets."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from guanxi.core.errors import Forbidden, ValidationFailed
from guanxi.ledger.services import audit_record, snapshot
from guanxi.service.calendars import public_holidays
from guanxi.service.models import CalendarDay, DayKind, SlaPolicy, TicketPriority, WorkingCalendar
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership, Team
from guanxi.workspaces.permissions import Module, Scope


def require_service_admin(actor: Membership) -> None:
    """Calendars and SLA policies shape every agent's deadlines: workspace-wide service edit only."""
    if permissions.scope_for(actor, Module.SERVICE, "edit") != Scope.WORKSPACE:
        raise Forbidden(_("Only members who may edit all tickets can change the service set-up."))


def is_service_admin(actor: Membership) -> bool:
    return permissions.scope_for(actor, Module.SERVICE, "edit") == Scope.WORKSPACE


def _parse_hhmm(text: str) -> int:
    h, m = text.strip().split(":")
    value = int(h) * 60 + int(m)
    if not 0 <= value <= 1440:
        raise ValueError(text)
    return value


def clean_intervals(raw: Any, field: str) -> list[list[int]]:
    """Working intervals of one day from "09:00-12:00, 13:00-18:00" or [[540, 720], ...]: sorted, non-empty,
    non-overlapping, within the day. Raises ValidationFailed naming ``field``."""
    try:
        if isinstance(raw, str):
            parts = [p for p in raw.replace("，", ",").split(",") if p.strip()]
            pairs = [[_parse_hhmm(a), _parse_hhmm(b)] for a, b in (p.split("-") for p in parts)]
        else:
            pairs = [[int(a), int(b)] for a, b in raw or []]
    except (ValueError, TypeError):
        raise ValidationFailed(fields={field: _("Write hours like 09:00-12:00, 13:00-18:00.")}) from None
    pairs.sort()
    for i, (a, b) in enumerate(pairs):
        if not 0 <= a < b <= 1440:
            raise ValidationFailed(
                fields={field: _("Each period must start before it ends, within the day.")}
            )
        if i and a < pairs[i - 1][1]:
            raise ValidationFailed(fields={field: _("The periods overlap.")})
    return pairs


def fmt_intervals(pairs: list) -> str:
    return ", ".join(f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}" for a, b in pairs)


def _touch(cal: WorkingCalendar) -> None:
    """Mark the calendar changed: the nightly job recalculates its open tickets' deadlines."""
    cal.save(update_fields=["changed_at"])


def calendar_create(
    *, actor: Membership, name: str, team_id: int | None = None, holiday_years: tuple[int, ...] = (2026,)
) -> WorkingCalendar:
    """A calendar with the default hours (Mon-Fri 09:00-12:00, 13:00-18:00) and China's shipped public holidays
    and 调休 days of ``holiday_years``. Refuses an empty name and a second calendar for a team."""
    require_service_admin(actor)
    name = str(name or "").strip()[:100]
    if not name:
        raise ValidationFailed(fields={"name": _("This field is required.")})
    with transaction.atomic():
        if team_id is not None:
            if not Team.objects.filter(pk=team_id).exists():
                raise ValidationFailed(fields={"team_id": _("Choose a team of this workspace.")})
            if WorkingCalendar.objects.filter(team_id=team_id).exists():
                raise ValidationFailed(fields={"team_id": _("This team already has a calendar.")})
        elif WorkingCalendar.objects.filter(team__isnull=True).exists():
            raise ValidationFailed(fields={"team_id": _("The workspace already has a default calendar.")})
        cal = WorkingCalendar.objects.create(name=name, team_id=team_id)
        for year in holiday_years:
            _load_year(cal, year)
        audit_record(workspace=actor.workspace, actor=actor.user, action="calendar.create", obj=cal)
    return cal


def calendar_set_hours(
    *, actor: Membership, calendar: WorkingCalendar, weekly: list[Any], workday: Any = None
) -> WorkingCalendar:
    """Set the weekly hours (7 entries, Monday first) and the hours of a make-up working day."""
    require_service_admin(actor)
    if len(weekly) != 7:
        raise ValidationFailed(fields={"weekly": _("Give the hours of all seven days.")})
    hours = [clean_intervals(d, f"weekly.{i}") for i, d in enumerate(weekly)]
    workday_hours = clean_intervals(workday, "workday") if workday is not None else calendar.workday_hours
    if not any(hours) and not workday_hours:
        raise ValidationFailed(fields={"weekly": _("A calendar needs some working time.")})
    with transaction.atomic():
        before = snapshot(calendar)
        calendar.weekly_hours = hours
        calendar.workday_hours = workday_hours
        calendar.save()
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="calendar.hours",
            obj=calendar,
            before=before,
            after=snapshot(calendar),
        )
    return calendar


def _overlaps(cal: WorkingCalendar, first: dt.date, last: dt.date) -> list[dt.date]:
    return list(
        CalendarDay.objects.filter(calendar=cal, date__gte=first, date__lte=last)
        .order_by("date")
        .values_list("date", flat=True)
    )


def calendar_add_days(
    *, actor: Membership, calendar: WorkingCalendar, first: Any, last: Any = None, kind: str, name: str = ""
) -> list[CalendarDay]:
    """Add a holiday (range) or a 调休 make-up working day (range). Refuses a range that overlaps days already on
    the calendar (remove them first), a reversed range, more than 31 days, and an unknown kind."""
    require_service_admin(actor)
    errors: dict[str, str] = {}
    try:
        d1 = first if isinstance(first, dt.date) else dt.date.fromisoformat(str(first).strip())
    except ValueError:
        errors["first"] = _("Enter a date like 2026-10-01.")
    try:
        d2 = (
            d1
            if last in (None, "")
            else (last if isinstance(last, dt.date) else dt.date.fromisoformat(str(last)))
        )
    except (ValueError, UnboundLocalError):
        errors["last"] = _("Enter a date like 2026-10-07.")
    if kind not in DayKind.values:
        errors["kind"] = _("Choose holiday or make-up working day.")
    if errors:
        raise ValidationFailed(fields=errors)
    if d2 < d1:
        raise ValidationFailed(fields={"last": _("The last day is before the first.")})
    if (d2 - d1).days > 31:
        raise ValidationFailed(fields={"last": _("At most 31 days at once.")})
    with transaction.atomic():
        clash = _overlaps(calendar, d1, d2)
        if clash:
            raise ValidationFailed(
                fields={
                    "first": _("These days are already on the calendar: %(days)s. Remove them first.")
                    % {"days": ", ".join(d.isoformat() for d in clash)}
                }
            )
        days = []
        d = d1
        while d <= d2:
            days.append(CalendarDay(calendar=calendar, date=d, kind=kind, name=str(name or "")[:100]))
            d += dt.timedelta(days=1)
        for day in days:
            day.workspace = calendar.workspace
        CalendarDay.objects.bulk_create(days)
        _touch(calendar)
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="calendar.days_add",
            obj=calendar,
            changes={"first": d1.isoformat(), "last": d2.isoformat(), "kind": kind},
        )
    return days


def calendar_remove_day(*, actor: Membership, calendar: WorkingCalendar, date: dt.date) -> None:
    require_service_admin(actor)
    with transaction.atomic():
        n, _x = CalendarDay.objects.filter(calendar=calendar, date=date).delete()
        if n:
            _touch(calendar)
            audit_record(
                workspace=actor.workspace,
                actor=actor.user,
                action="calendar.day_remove",
                obj=calendar,
                changes={"date": date.isoformat()},
            )


def _load_year(cal: WorkingCalendar, year: int) -> int:
    holidays, workdays = public_holidays(year)
    rows = [CalendarDay(calendar=cal, date=d, kind=DayKind.HOLIDAY, name=n) for d, n in holidays]
    rows += [CalendarDay(calendar=cal, date=d, kind=DayKind.WORKDAY, name=n) for d, n in workdays]
    for r in rows:
        r.workspace = cal.workspace
    CalendarDay.objects.bulk_create(rows)
    return len(rows)


def calendar_load_public_holidays(*, actor: Membership, calendar: WorkingCalendar, year: int) -> int:
    """Put China's shipped holidays and 调休 days of ``year`` on the calendar. Refuses a year not shipped and a
    calendar that already has days in that year (edit those by hand, or remove them first)."""
    require_service_admin(actor)
    holidays, _w = public_holidays(year)
    if not holidays:
        raise ValidationFailed(
            fields={"year": _("No public holidays are shipped for %(year)s.") % {"year": year}}
        )
    with transaction.atomic():
        if CalendarDay.objects.filter(calendar=calendar, date__year=year).exists():
            raise ValidationFailed(
                fields={"year": _("The calendar already has days in %(year)s.") % {"year": year}}
            )
        n = _load_year(calendar, year)
        _touch(calendar)
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="calendar.load_holidays",
            obj=calendar,
            changes={"year": year, "days": n},
        )
    return n


POLICY_FIELDS = (
    "name", "first_response_minutes", "resolution_minutes", "priority", "category_id", "customer_tier",
    "warn_share", "is_active",
)  # fmt: skip


def _clean_policy(data: dict[str, Any]) -> dict[str, Any]:
    """Validate an SLA policy's fields (all of them, as a form sends them); errors name each field."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    out["name"] = str(data.get("name") or "").strip()
    if not out["name"]:
        errors["name"] = _("This field is required.")
    elif len(out["name"]) > 100:
        errors["name"] = _("At most %(n)s characters.") % {"n": 100}
    for field in ("first_response_minutes", "resolution_minutes"):
        try:
            out[field] = int(str(data.get(field)).strip())
            if not 1 <= out[field] <= 525_600:
                raise ValueError
        except (TypeError, ValueError):
            errors[field] = _("Enter a number of business minutes from 1 to 525600.")
    if (
        "first_response_minutes" not in errors
        and "resolution_minutes" not in errors
        and out["resolution_minutes"] < out["first_response_minutes"]
    ):
        errors["resolution_minutes"] = _(
            "The resolution target cannot be shorter than the first response target."
        )
    priority = str(data.get("priority") or "")
    if priority and priority not in TicketPriority.values:
        errors["priority"] = _("Choose one of: %(choices)s.") % {"choices": ", ".join(TicketPriority.values)}
    out["priority"] = priority
    try:
        share = Decimal(str(data.get("warn_share", "0.80")).strip())
        if not Decimal("0") < share < Decimal("1"):
            raise InvalidOperation
        out["warn_share"] = share.quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        errors["warn_share"] = _("Enter a share between 0 and 1, e.g. 0.80.")
    category_id = data.get("category_id")
    if category_id in ("", None):
        out["category_id"] = None
    else:
        from guanxi.service.models import TicketCategory  # noqa: PLC0415

        if not str(category_id).isdigit() or not TicketCategory.objects.filter(pk=category_id).exists():
            errors["category_id"] = _("Choose a category of this workspace.")
        else:
            out["category_id"] = int(category_id)
    tier = str(data.get("customer_tier") or "").strip()
    if len(tier) > 50:
        errors["customer_tier"] = _("At most %(n)s characters.") % {"n": 50}
    out["customer_tier"] = tier
    out["is_active"] = bool(data.get("is_active", True))
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def sla_policy_create(
    *,
    actor: Membership,
    name: str,
    first_response_minutes: Any,
    resolution_minutes: Any,
    priority: str = "",
    category_id: int | None = None,
    customer_tier: str = "",
    warn_share: Any = "0.80",
    is_active: bool = True,
) -> SlaPolicy:
    """An SLA policy. Targets are business minutes (1 .. 525600, resolution not shorter than first response); the
    warning line a share in (0, 1). Applies to tickets opened from now on (and to tickets whose priority,
    category or team changes). Refuses bad fields, naming each."""
    require_service_admin(actor)
    data = _clean_policy(
        {
            "name": name, "first_response_minutes": first_response_minutes,
            "resolution_minutes": resolution_minutes, "priority": priority, "category_id": category_id,
            "customer_tier": customer_tier, "warn_share": warn_share, "is_active": is_active,
        }
    )  # fmt: skip
    with transaction.atomic():
        p = SlaPolicy.objects.create(**data)
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="sla_policy.create", obj=p, after=snapshot(p)
        )
    return p


def sla_policy_update(*, actor: Membership, policy_id: Any, **fields: Any) -> SlaPolicy:
    """Change an SLA policy (the fields of ``POLICY_FIELDS``; those not given keep their value). Open tickets keep
    their deadlines until their priority, category or team changes. Refuses unknown or bad fields."""
    require_service_admin(actor)
    unknown = set(fields) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in sorted(unknown)})
    with transaction.atomic():
        p = sla_policy_get(policy_id, lock=True)
        before = snapshot(p)
        current = {k: getattr(p, k) for k in POLICY_FIELDS}
        data = _clean_policy({**current, **fields})
        for k, v in data.items():
            setattr(p, k, v)
        p.save()
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="sla_policy.update", obj=p, before=before,
            after=snapshot(p),
        )  # fmt: skip
    return p


def sla_policy_delete(*, actor: Membership, policy_id: Any) -> None:
    """Delete an SLA policy. Tickets that used it keep the deadlines already computed but lose the link, so the
    warning and breach job no longer treats them as governed by it. Audited."""
    require_service_admin(actor)
    with transaction.atomic():
        p = sla_policy_get(policy_id, lock=True)
        before = snapshot(p)
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="sla_policy.delete", obj=p, before=before
        )
        p.delete()


def sla_policy_get(policy_id: Any, *, lock: bool = False) -> SlaPolicy:
    """An SLA policy of the current workspace; missing and another workspace's are one NotFound."""
    from guanxi.core.errors import NotFound  # noqa: PLC0415

    qs = SlaPolicy.objects.select_related("category")
    if lock:
        qs = qs.select_for_update(of=("self",))
    p = qs.filter(pk=policy_id).first() if str(policy_id).isdigit() else None
    if p is None:
        raise NotFound()
    return p
