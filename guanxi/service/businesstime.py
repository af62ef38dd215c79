"""Business time (工作时间) on a working calendar: pure functions, no database.

A calendar is a ``CalendarSpec``: the working intervals of each weekday (Monday first, minutes after local
midnight), the dates that are holidays (no work) and the make-up working days (调休: a weekend day worked in
exchange, with ``workday_hours``). Deadlines are "start + N business minutes": the clock runs only inside working
intervals; a deadline that falls exactly at the end of an interval is that end (18:00, not 09:00 next day).

``add_business_minutes`` is the readable reference; ``BusinessClock`` does the same for a million starts at once
(cumulative business seconds over the calendar's intervals, then bisection), and the tests check that both agree.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

MAX_DAYS = 3 * 366  # a target never reaches this far; guards a calendar with no working time at all

Interval = tuple[int, int]


class NoWorkingTime(ValueError):
    """The calendar has no working time within the search horizon."""


@dataclass(frozen=True)
class CalendarSpec:
    weekly: Sequence[Sequence[Interval]]  # 7 entries, Monday..Sunday
    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()
    workday_hours: Sequence[Interval] = ((540, 720), (780, 1080))
    tz: str = "Asia/Shanghai"
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_zone", ZoneInfo(self.tz))

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    def intervals_on(self, day: dt.date) -> Sequence[Interval]:
        """The working intervals of one local date."""
        if day in self.holidays:
            return ()
        if day in self.workdays:
            return self.workday_hours
        return self.weekly[day.weekday()]


def _at(spec: CalendarSpec, day: dt.date, minute: float) -> dt.datetime:
    base = dt.datetime(day.year, day.month, day.day, tzinfo=spec.zone)
    return base + dt.timedelta(minutes=minute)


def add_business_minutes(spec: CalendarSpec, start: dt.datetime, minutes: float) -> dt.datetime:
    """The moment ``minutes`` business minutes after ``start`` (aware), as an aware datetime in the calendar's zone."""
    local = start.astimezone(spec.zone)
    day = local.date()
    now_min = local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 60_000_000
    remaining = float(minutes)
    if remaining <= 0:
        return local
    for _ in range(MAX_DAYS):
        for s, e in spec.intervals_on(day):
            begin = max(s, now_min)
            if begin >= e:
                continue
            if remaining <= e - begin:
                return _at(spec, day, begin + remaining)
            remaining -= e - begin
        day += dt.timedelta(days=1)
        now_min = 0
    raise NoWorkingTime("no working time on this calendar")


def business_minutes_between(spec: CalendarSpec, a: dt.datetime, b: dt.datetime) -> float:
    """Business minutes from ``a`` to ``b`` (0 when b <= a)."""
    a, b = a.astimezone(spec.zone), b.astimezone(spec.zone)
    if b <= a:
        return 0.0
    total = 0.0
    day = a.date()
    while day <= b.date():
        for s, e in spec.intervals_on(day):
            lo, hi = _at(spec, day, s), _at(spec, day, e)
            lo, hi = max(lo, a), min(hi, b)
            if hi > lo:
                total += (hi - lo).total_seconds() / 60
        day += dt.timedelta(days=1)
    return total


class BusinessClock:
    """Many deadlines on one calendar fast: ``deadline(start_epoch_s, minutes)``, ~2 µs each.

    Built once per calendar over the days from ``first`` to ``last`` (+ a horizon): for every working interval its
    start (epoch seconds) and the business seconds before it. A start's business offset is found by bisection; the
    deadline is the moment whose offset is that offset + the target. No numpy needed: a million deadlines take a
    few seconds of pure Python, and the database write is the larger cost anyway.
    """

    def __init__(self, spec: CalendarSpec, first: dt.date, last: dt.date, horizon_days: int = 400):
        starts: list[float] = []
        lengths: list[float] = []
        day = first
        end = last + dt.timedelta(days=horizon_days)
        while day <= end:
            for s, e in spec.intervals_on(day):
                if e > s:
                    starts.append(_at(spec, day, s).timestamp())
                    lengths.append((e - s) * 60.0)
            day += dt.timedelta(days=1)
        if not starts:
            raise NoWorkingTime("no working time on this calendar")
        self.starts = starts
        self.lengths = lengths
        self.before = [0.0]
        for n in lengths[:-1]:
            self.before.append(self.before[-1] + n)
        self.after = [b + n for b, n in zip(self.before, lengths, strict=True)]

    def offset(self, ts: float) -> float:
        """Business seconds from the first interval's start to the epoch-second timestamp ``ts``."""
        i = bisect_right(self.starts, ts) - 1
        if i < 0:
            return 0.0
        return self.before[i] + min(ts - self.starts[i], self.lengths[i])

    def at_offset(self, off: float) -> float:
        """Epoch seconds of the moment with this business offset (the end of an interval when exactly on it)."""
        i = bisect_left(self.after, off)
        if i >= len(self.starts):
            raise NoWorkingTime("a deadline falls past the calendar's horizon")
        return self.starts[i] + (off - self.before[i])

    def deadline(self, start: float, minutes: float) -> float:
        """Epoch seconds of ``start`` (epoch seconds) + ``minutes`` business minutes."""
        return self.at_offset(self.offset(start) + minutes * 60.0)
