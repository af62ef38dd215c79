"""China's public holidays as shipped data, and the bridge from a ``WorkingCalendar`` row to a ``CalendarSpec``."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from guanxi.service.businesstime import CalendarSpec

if TYPE_CHECKING:
    from guanxi.service.models import WorkingCalendar

DATA = Path(__file__).parent / "data" / "cn_holidays.json"


@cache
def _data() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


def public_holiday_years() -> list[int]:
    return sorted(int(y) for y in _data())


def public_holidays(year: int) -> tuple[list[tuple[dt.date, str]], list[tuple[dt.date, str]]]:
    """China's public holidays of ``year`` (each day off, with its name) and the 调休 make-up working days, from the
    State Council's notice shipped in data/cn_holidays.json. Empty lists for a year not shipped."""
    entry = _data().get(str(year))
    if not entry:
        return [], []
    days: list[tuple[dt.date, str]] = []
    for first, last, name in entry["holidays"]:
        d, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
        while d <= end:
            days.append((d, name))
            d += dt.timedelta(days=1)
    workdays = [(dt.date.fromisoformat(d), name) for d, name in entry["workdays"]]
    return days, workdays


def _intervals(raw: list) -> tuple[tuple[int, int], ...]:
    return tuple((int(s), int(e)) for s, e in raw)


def spec_for(calendar: WorkingCalendar | None) -> CalendarSpec:
    """The pure calendar of a ``WorkingCalendar`` row (its days prefetched or queried); None gives the built-in
    default: Monday-Friday 09:00-12:00, 13:00-18:00 with the shipped Chinese holidays."""
    from guanxi.service.models.sla import DEFAULT_WEEKLY_HOURS  # noqa: PLC0415

    if calendar is None:
        holidays: set[dt.date] = set()
        workdays: set[dt.date] = set()
        for year in public_holiday_years():
            h, w = public_holidays(year)
            holidays.update(d for d, _ in h)
            workdays.update(d for d, _ in w)
        return CalendarSpec(
            weekly=[_intervals(d) for d in DEFAULT_WEEKLY_HOURS],
            holidays=frozenset(holidays),
            workdays=frozenset(workdays),
            workday_hours=_intervals(DEFAULT_WEEKLY_HOURS[0]),
        )
    days = list(calendar.days.all())
    return CalendarSpec(
        weekly=[_intervals(d) for d in calendar.weekly_hours],
        holidays=frozenset(d.date for d in days if d.kind == "holiday"),
        workdays=frozenset(d.date for d in days if d.kind == "workday"),
        workday_hours=_intervals(calendar.workday_hours),
        tz=calendar.time_zone,
    )
