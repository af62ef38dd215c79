"""Activities as iCalendar (RFC 5545), for the per-user feed that calendar apps subscribe to."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.utils import timezone
from icalendar import Alarm, Calendar, Event

from guanxi.sales.models import Activity, ActivityKind, ActivityStatus

DEFAULT_LENGTH = {
    ActivityKind.MEETING: dt.timedelta(hours=1),
    ActivityKind.VISIT: dt.timedelta(hours=1),
    ActivityKind.CALL: dt.timedelta(minutes=15),
    ActivityKind.TASK: dt.timedelta(minutes=30),
}


def activities_ical(activities: Iterable[Activity], *, name: str, host: str) -> bytes:
    """One VCALENDAR with a VEVENT per activity (a VALARM when it has a reminder). UIDs are stable per activity,
    so a calendar app updates an event instead of adding it again."""
    cal = Calendar()
    cal.add("prodid", "-//Guanxi CRM//Activities//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", timezone.get_current_timezone_name())
    stamp = timezone.now()
    for a in activities:
        if a.due_at is None:
            continue
        event = Event()
        event.add("uid", f"activity-{a.pk}-{a.workspace_id}@{host}")
        event.add("dtstamp", stamp)
        event.add("dtstart", a.due_at)
        event.add("dtend", a.ends_at or a.due_at + DEFAULT_LENGTH[ActivityKind(a.kind)])
        done = "✓ " if a.status == ActivityStatus.DONE else ""
        event.add("summary", f"{done}{a.get_kind_display()}: {a.subject} · {a.customer.name}")
        if a.location:
            event.add("location", a.location)
        description = "\n\n".join(x for x in (a.notes, a.outcome) if x)
        if description:
            event.add("description", description)
        event.add("status", "CONFIRMED")  # VEVENT knows no "done"; the summary says it
        event.add("priority", {"high": 1, "normal": 5, "low": 9}.get(a.priority, 5))
        event.add("last-modified", a.updated_at)
        if a.remind_minutes is not None and a.status == ActivityStatus.OPEN:
            alarm = Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", a.subject)
            alarm.add("trigger", dt.timedelta(minutes=-a.remind_minutes))
            event.add_component(alarm)
        cal.add_component(event)
    return cal.to_ical()
