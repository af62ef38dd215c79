"""Business-time deadlines across Chinese public holidays and 调休 weekends, against dates worked out by hand.

Calendar: Monday-Friday 09:00-12:00 and 13:00-18:00 (480 minutes a day), Asia/Shanghai, with China's 2026 holidays.
"""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from guanxi.service.businesstime import (
    BusinessClock,
    CalendarSpec,
    NoWorkingTime,
    add_business_minutes,
    business_minutes_between,
    epoch_us,
    from_epoch_us,
)
from guanxi.service.calendars import public_holidays

SH = ZoneInfo("Asia/Shanghai")
WEEK = [((540, 720), (780, 1080))] * 5 + [(), ()]


def t(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


@pytest.fixture(scope="module")
def cn2026() -> CalendarSpec:
    holidays, workdays = public_holidays(2026)
    return CalendarSpec(
        weekly=WEEK, holidays=frozenset(d for d, _ in holidays), workdays=frozenset(d for d, _ in workdays)
    )


@pytest.mark.parametrize(
    ("start", "minutes", "due"),
    [
        # Fri 13 Feb 17:00: 60 min that day, Sat 14 Feb is a 调休 working day (480), Spring Festival 15-23 Feb off,
        # the last 420 on Tue 24 Feb: 09:00-12:00 (180) and 13:00-17:00 (240)
        (t(2026, 2, 13, 17, 0), 960, t(2026, 2, 24, 17, 0)),
        # Sat 19 Sep 10:00 is a weekend day; Sun 20 Sep is worked (调休, 480); 120 more on Mon 21 Sep -> 11:00
        (t(2026, 9, 19, 10, 0), 600, t(2026, 9, 21, 11, 0)),
        # Thu 24 Sep 16:30: 90 min; Mid-Autumn 25-27 Sep off; Mon 28 Sep's 480 ends exactly at 18:00
        (t(2026, 9, 24, 16, 30), 570, t(2026, 9, 28, 18, 0)),
        # Wed 30 Sep 17:00: 60 min; National Day 1-7 Oct off; Thu 8 Oct 09:00 + 60
        (t(2026, 9, 30, 17, 0), 120, t(2026, 10, 8, 10, 0)),
        # New Year: Wed 31 Dec 2025 is outside this year's data, so a plain Wednesday; Thu 1 - Sat 3 Jan off,
        # Sun 4 Jan worked (调休): 31 Dec 17:00 + 60 + 30 -> Sun 4 Jan 09:30
        (t(2025, 12, 31, 17, 0), 90, t(2026, 1, 4, 9, 30)),
        # the lunch break does not count
        (t(2026, 3, 2, 11, 30), 60, t(2026, 3, 2, 13, 30)),
        # a start before opening counts from 09:00
        (t(2026, 3, 2, 7, 0), 30, t(2026, 3, 2, 9, 30)),
    ],
)
def test_deadlines_worked_out_by_hand(cn2026, start, minutes, due):
    assert add_business_minutes(cn2026, start, minutes) == due
    clock = BusinessClock(cn2026, dt.date(2025, 12, 1), dt.date(2026, 12, 31))
    assert clock.deadline(start, minutes) == due


def test_a_start_in_utc_is_read_in_the_calendars_zone(cn2026):
    # 13 Feb 09:00 UTC is 17:00 in Shanghai
    start = dt.datetime(2026, 2, 13, 9, 0, tzinfo=dt.UTC)
    assert add_business_minutes(cn2026, start, 960) == t(2026, 2, 24, 17, 0)


def test_minutes_between_skips_holidays_and_counts_make_up_days(cn2026):
    assert business_minutes_between(cn2026, t(2026, 2, 13, 17, 0), t(2026, 2, 24, 17, 0)) == 960
    assert business_minutes_between(cn2026, t(2026, 3, 2, 10, 0), t(2026, 3, 2, 14, 0)) == 180
    assert business_minutes_between(cn2026, t(2026, 3, 2, 14, 0), t(2026, 3, 2, 10, 0)) == 0


def test_vectorised_clock_agrees_with_the_reference(cn2026):
    rng = random.Random(7)
    base = t(2026, 1, 1)
    starts = [base + dt.timedelta(microseconds=rng.randrange(0, 330 * 86400 * 10**6)) for _ in range(400)]
    minutes = [rng.randrange(1, 5000) for _ in range(400)]
    clock = BusinessClock(cn2026, dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    got = clock.deadlines(np.array([epoch_us(s) for s in starts]), np.array(minutes))
    for s, m, g in zip(starts, minutes, got, strict=True):
        assert from_epoch_us(int(g)) == add_business_minutes(cn2026, s, m)


def test_a_calendar_without_working_time_is_an_error():
    empty = CalendarSpec(weekly=[()] * 7)
    with pytest.raises(NoWorkingTime):
        add_business_minutes(empty, t(2026, 3, 2, 9, 0), 10)
    with pytest.raises(NoWorkingTime):
        BusinessClock(empty, dt.date(2026, 1, 1), dt.date(2026, 1, 2))
