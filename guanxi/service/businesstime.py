"""Business time (工作时间) on a working calendar: pure functions, no database.

A calendar is a ``CalendarSpec``: the working intervals of each weekday (Monday first, minutes after local
midnight), the dates that are holidays (no work) and the make-up working days (调休: a weekend day worked in
exchange, with ``workday_hours``). Deadlines are "start + N business minutes": the clock runs only inside working
intervals; a deadline that falls exactly at the end of an interval is that end (18:00, not 09:00 next day).

``add_business_minutes`` is the readable reference; ``BusinessClock`` does the same for a million starts at once
(cumulative business microseconds over the calendar's intervals, then numpy ``searchsorted``), and the tests check
that both give the very same instants.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np

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


def _at(spec: CalendarSpec, day: dt.date, offset: dt.timedelta) -> dt.datetime:
    """The aware moment ``offset`` after local midnight of ``day``."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=spec.zone) + offset


def _minutes(m: float) -> dt.timedelta:
    return dt.timedelta(minutes=m)


def add_business_minutes(spec: CalendarSpec, start: dt.datetime, minutes: float) -> dt.datetime:
    """The moment ``minutes`` business minutes after ``start`` (aware), as an aware datetime in the calendar's zone.

    Exact to the microsecond: the arithmetic is in ``timedelta`` (integer microseconds), never in float minutes,
    so the vectorised ``BusinessClock`` (integer microseconds too) gives the very same instants."""
    local = start.astimezone(spec.zone)
    day = local.date()
    now = local.replace(tzinfo=None) - dt.datetime(day.year, day.month, day.day)
    remaining = _minutes(minutes)
    if remaining <= dt.timedelta(0):
        return local
    for _ in range(MAX_DAYS):
        for s, e in spec.intervals_on(day):
            begin, end = max(_minutes(s), now), _minutes(e)
            if begin >= end:
                continue
            if remaining <= end - begin:
                return _at(spec, day, begin + remaining)
            remaining -= end - begin
        day += dt.timedelta(days=1)
        now = dt.timedelta(0)
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
            lo, hi = _at(spec, day, _minutes(s)), _at(spec, day, _minutes(e))
            lo, hi = max(lo, a), min(hi, b)
            if hi > lo:
                total += (hi - lo).total_seconds() / 60
        day += dt.timedelta(days=1)
    return total


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)
US_PER_MINUTE = 60_000_000


def epoch_us(moment: dt.datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime, exactly (no float on the way)."""
    return (moment - _EPOCH) // _US


def from_epoch_us(us: int, tz: dt.tzinfo = dt.UTC) -> dt.datetime:
    return (_EPOCH + dt.timedelta(microseconds=int(us))).astimezone(tz)


class BusinessClock:
    """Many deadlines on one calendar at once: ``deadlines(starts_us, minutes)`` over numpy arrays.

    Built once per calendar over the days from ``first`` to ``last`` (+ a horizon): the working intervals as sorted
    arrays of their start (epoch microseconds), length and the business microseconds before each (a running sum).
    A start's business offset comes from one ``searchsorted`` over the interval starts; the deadline is the moment
    whose offset is that offset + the target, one ``searchsorted`` over the interval ends. All integer
    microseconds, so every deadline is exactly the one ``add_business_minutes`` gives (the tests compare them
    across holidays and 调休 days); a million tickets take well under a second.
    """

    def __init__(self, spec: CalendarSpec, first: dt.date, last: dt.date, horizon_days: int = 400):
        starts: list[int] = []
        lengths: list[int] = []
        day = first
        end = last + dt.timedelta(days=horizon_days)
        while day <= end:
            for s, e in spec.intervals_on(day):
                if e > s:
                    starts.append(epoch_us(_at(spec, day, _minutes(s))))
                    lengths.append((e - s) * US_PER_MINUTE)
            day += dt.timedelta(days=1)
        if not starts:
            raise NoWorkingTime("no working time on this calendar")
        self.starts = np.array(starts, dtype=np.int64)
        self.lengths = np.array(lengths, dtype=np.int64)
        self.after = np.cumsum(self.lengths)  # business microseconds up to each interval's end
        self.before = self.after - self.lengths  # ... and up to its start

    def offsets(self, ts: np.ndarray) -> np.ndarray:
        """Business microseconds from the first interval's start to each epoch-microsecond moment in ``ts``."""
        i = np.searchsorted(self.starts, ts, side="right") - 1
        inside = i >= 0
        j = np.where(inside, i, 0)
        off = self.before[j] + np.minimum(ts - self.starts[j], self.lengths[j])
        return np.where(inside, off, 0)

    def at_offsets(self, off: np.ndarray) -> np.ndarray:
        """Epoch microseconds of the moments with these business offsets (an interval's end when exactly on it)."""
        i = np.searchsorted(self.after, off, side="left")
        if i.size and int(i.max()) >= self.starts.size:
            raise NoWorkingTime("a deadline falls past the calendar's horizon")
        return self.starts[i] + (off - self.before[i])

    def deadlines(self, starts_us: np.ndarray, minutes: np.ndarray) -> np.ndarray:
        """Epoch microseconds of each start (epoch microseconds) + its ``minutes`` (whole) business minutes."""
        starts_us = np.asarray(starts_us, dtype=np.int64)
        minutes = np.asarray(minutes, dtype=np.int64)
        out = self.at_offsets(self.offsets(starts_us) + minutes * US_PER_MINUTE)
        return np.where(minutes > 0, out, starts_us)

    def deadline(self, start: dt.datetime, minutes: int) -> dt.datetime:
        """One deadline (for tests and single tickets): aware ``start`` + ``minutes`` business minutes, in UTC."""
        got = self.deadlines(np.array([epoch_us(start)]), np.array([minutes]))
        return from_epoch_us(int(got[0]))
