"""Activity pages: forms, my open activities, the calendar (month, week, team), the customer 360 and opportunity
panels, notices with the top-bar count, and the secret iCal feed (no login, only its owner's activities)."""

from __future__ import annotations

import datetime as dt
import re

from django.test import Client
from django.utils import timezone
from icalendar import Calendar

from guanxi.core.context import workspace_context
from guanxi.sales.models import Activity, ActivityNotification
from guanxi.sales.services import activities as svc


def _local(minutes: int) -> str:
    return timezone.localtime(timezone.now() + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")


def _make(world, customers, m=None, **kw):
    m = m or world.sam
    with workspace_context(world.ws_a):
        data = {"subject": "跟进", "customer_id": customers["sam_c" if m == world.sam else "sue_c"].pk, **kw}
        subject = data.pop("subject")
        return svc.activity_create(actor=m, subject=subject, **data)


def test_create_by_form_then_calendar_and_complete(world, customers, sales):
    c = world.client_for(world.sam)
    assert c.get(f"/sales/activities/new/?opportunity={sales.sam_opp.pk}").status_code == 200
    due = _local(60 * 3)
    r = c.post(
        "/sales/activities/new/",
        {
            "kind": "visit",
            "subject": "上门演示",
            "customer_id": customers["sam_c"].pk,
            "opportunity_id": sales.sam_opp.pk,
            "owner_id": world.sam.user_id,
            "due_at": due,
            "ends_at": "",
            "location": "杭州",
            "priority": "normal",
            "notes": "",
            "remind_minutes": "15",
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    with workspace_context(world.ws_a):
        a = Activity.objects.get()
    assert a.opportunity_id == sales.sam_opp.pk and a.remind_minutes == 15
    day = due[:10]
    month = c.get(f"/sales/activities/calendar/?date={day}")
    assert month.status_code == 200 and f'data-testid="cal-activity-{a.pk}"' in month.content.decode()
    week = c.get(f"/sales/activities/calendar/?view=week&date={day}").content.decode()
    assert "上门演示" in week and "杭州" in week
    assert "上门演示" in c.get("/sales/activities/").content.decode()
    assert "上门演示" in c.get(f"/sales/opportunities/{sales.sam_opp.pk}/").content.decode()
    r = c.post(f"/sales/activities/{a.pk}/complete/", {"outcome": "客户很满意"})
    assert r.status_code == 302
    c.post(f"/sales/activities/{a.pk}/complete/", {"outcome": "twice"})
    page = c.get(f"/customers/{customers['sam_c'].pk}/").content.decode()
    assert page.count("客户很满意") == 1  # on the timeline once
    assert "上门演示" in page  # and in the activities panel


def test_form_errors_are_shown_on_the_field(world, customers):
    c = world.client_for(world.sam)
    r = c.post(
        "/sales/activities/new/",
        {"kind": "meeting", "subject": "会", "customer_id": customers["sam_c"].pk, "due_at": ""},
    )
    assert r.status_code == 422
    assert 'id="err-due_at"' in r.content.decode()
    r = c.post(
        "/sales/activities/new/",
        {
            "kind": "meeting",
            "subject": "会",
            "customer_id": customers["sam_c"].pk,
            "due_at": _local(120),
            "ends_at": _local(60),
        },
    )
    assert r.status_code == 422 and 'id="err-ends_at"' in r.content.decode()
    with workspace_context(world.ws_a):
        assert not Activity.objects.exists()


def test_overdue_list_and_team_calendar(world, customers):
    late = _make(
        world, customers, subject="逾期电话", kind="call", due_at=timezone.now() - dt.timedelta(days=1)
    )
    sue_a = _make(
        world,
        customers,
        m=world.sue,
        subject="Sue 拜访",
        kind="visit",
        due_at=timezone.now() + dt.timedelta(hours=2),
    )
    page = world.client_for(world.sam).get("/sales/activities/").content.decode()
    assert "逾期电话" in page and 'data-testid="overdue-count">1<' in page
    assert "Sue 拜访" not in page  # my own only
    day = timezone.localdate(sue_a.due_at).isoformat()
    mark = world.client_for(world.mark)
    assert "Sue 拜访" not in mark.get(f"/sales/activities/calendar/?date={day}").content.decode()
    team = mark.get(f"/sales/activities/calendar/?who=team&date={day}").content.decode()
    assert "Sue 拜访" in team and "sue" in team
    assert (
        late.subject
        not in world.client_for(world.sue).get(f"/sales/activities/calendar/?date={day}").content.decode()
    )


def test_calendar_is_translated_and_survives_bad_dates(world, customers):
    c = world.client_for(world.sam)
    r = c.get("/sales/activities/calendar/?date=2026-02-31&view=week", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert r.status_code == 200
    text = r.content.decode()
    assert "日历" in text and "下一周" in text
    r = c.get("/sales/activities/calendar/?date=2026-12-15")
    assert 'data-date="2026-12-15" tabindex="0"' in r.content.decode()
    assert 'data-date="2026-12-31"' in r.content.decode() and 'data-date="2026-11-30"' in r.content.decode()


def test_ical_feed_secret_revocable_and_only_mine(world, customers):
    mine = _make(
        world,
        customers,
        subject="我的会议",
        kind="meeting",
        due_at=timezone.now() + dt.timedelta(days=1),
        remind_minutes=30,
    )
    _make(
        world,
        customers,
        m=world.sue,
        subject="别人的会议",
        kind="meeting",
        due_at=timezone.now() + dt.timedelta(days=1),
    )
    c = world.client_for(world.sam)
    r = c.post("/sales/activities/settings/", {"action": "feed"})
    assert r.status_code == 200
    feed = re.search(r'value="(http://testserver(/sales/activities/ical/[^"]+\.ics))"', r.content.decode())
    assert feed, r.content.decode()
    path = feed.group(2)
    anon = Client()
    resp = anon.get(path)
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/calendar")
    cal = Calendar.from_ical(resp.content)
    events = [e for e in cal.walk("VEVENT")]
    assert [str(e["summary"]) for e in events] == [f"{mine.get_kind_display()}: 我的会议 · 张三丰"]
    assert events[0].decoded("dtstart") == mine.due_at.replace(microsecond=0)
    assert len(list(events[0].walk("VALARM"))) == 1
    # a new address revokes the old one
    r2 = c.post("/sales/activities/settings/", {"action": "feed"})
    new_path = re.search(
        r'value="http://testserver(/sales/activities/ical/[^"]+\.ics)"', r2.content.decode()
    ).group(1)
    assert new_path != path and anon.get(path).status_code == 404
    assert anon.get(new_path).status_code == 200
    c.post("/sales/activities/settings/", {"action": "revoke"})
    assert anon.get(new_path).status_code == 404
    assert anon.get("/sales/activities/ical/not-a-token.ics").status_code == 404


def test_ical_feed_stops_for_a_former_member(world, customers):
    _make(world, customers, subject="会", kind="call", due_at=timezone.now() + dt.timedelta(days=1))
    with workspace_context(world.ws_a):
        token = svc.ical_token_regenerate(actor=world.sam)
    assert Client().get(f"/sales/activities/ical/{token}.ics").status_code == 200
    with workspace_context(world.ws_a):
        world.sam.is_active = False
        world.sam.save()
    assert Client().get(f"/sales/activities/ical/{token}.ics").status_code == 404


def test_settings_change_the_default_reminder(world, customers):
    c = world.client_for(world.sue)
    r = c.post("/sales/activities/settings/", {"action": "save", "default_remind_minutes": "45"})
    assert r.status_code == 302
    a = _make(world, customers, m=world.sue, due_at=timezone.now() + dt.timedelta(days=1))
    assert a.remind_minutes == 45
    r = c.post("/sales/activities/settings/", {"action": "save", "default_remind_minutes": "-3"})
    assert r.status_code == 422 and 'id="err-default_remind_minutes"' in r.content.decode()


def test_notices_and_the_top_bar_count(world, customers, django_capture_on_commit_callbacks):
    from guanxi.sales.tasks_activities import send_reminders_everywhere

    _make(
        world,
        customers,
        subject="快到了",
        kind="call",
        due_at=timezone.now() + dt.timedelta(minutes=5),
        remind_minutes=10,
    )
    with django_capture_on_commit_callbacks(execute=True):
        send_reminders_everywhere()
    c = world.client_for(world.sam)
    home = c.get("/sales/activities/").content.decode()
    assert 'hx-get="/sales/activities/notifications/count/"' in home  # the top bar loads the count
    count = "/sales/activities/notifications/count/"
    assert re.search(r"data-notice-count[^>]*>1<", c.get(count).content.decode())
    assert "data-notice-count hidden" in world.client_for(world.sue).get(count).content.decode()
    page = c.get("/sales/activities/notifications/").content.decode()
    assert "快到了" in page
    c.post("/sales/activities/notifications/", {})
    with workspace_context(world.ws_a):
        assert not ActivityNotification.objects.filter(read_at__isnull=True).exists()
    assert "data-notice-count hidden" in c.get(count).content.decode()


def test_outsider_and_teammate_pages(world, customers):
    a = _make(world, customers, subject="机密", kind="call")
    oscar = world.client_for(world.oscar)
    for path in (f"/sales/activities/{a.pk}/", f"/sales/activities/{a.pk}/edit/"):
        assert oscar.get(path).status_code == 404
    assert oscar.post(f"/sales/activities/{a.pk}/complete/", {}).status_code == 404
    assert oscar.post(f"/sales/activities/{a.pk}/delete/", {}).status_code == 404
    assert "机密" not in oscar.get("/sales/activities/calendar/?who=team").content.decode()
    sue = world.client_for(world.sue)
    assert sue.get(f"/sales/activities/{a.pk}/").status_code == 200  # team view
    assert sue.post(f"/sales/activities/{a.pk}/complete/", {}).status_code == 403
    with workspace_context(world.ws_a):
        assert Activity.objects.get(pk=a.pk).status == "open"


def test_activities_have_their_own_entry_in_the_side_navigation(world, customers):
    c = world.client_for(world.sam)
    nav = re.search(
        r'<nav class="sidenav".*?</nav>', c.get("/sales/activities/").content.decode(), re.S
    ).group(0)
    current = re.findall(r'<a href="([^"]+)" aria-current="page">', nav)
    assert current == ["/sales/activities/"]
    nav = re.search(r'<nav class="sidenav".*?</nav>', c.get("/sales/").content.decode(), re.S).group(0)
    assert re.findall(r'<a href="([^"]+)" aria-current="page">', nav) == ["/sales/"]
    assert 'href="/sales/activities/"' in nav
    c.cookies["django_language"] = "zh-hans"
    page = c.get("/sales/activities/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert ">活动</a>" in page
