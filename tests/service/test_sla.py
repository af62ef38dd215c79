"""Service levels on tickets: policy choice, deadlines on the team calendar, pause while pending, warning line and
escalation once each, nightly recalculation after a calendar change, calendar input errors."""

from __future__ import annotations

import datetime as dt
import random
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from guanxi.core.context import workspace_context
from guanxi.core.errors import Forbidden, ValidationFailed
from guanxi.customers.models import Customer
from guanxi.service.models import CalendarDay, Ticket, WorkingCalendar
from guanxi.service.services import calendars as cal_services
from guanxi.service.services.escalation import sla_check
from guanxi.service.services.sla import sla_recalculate
from guanxi.service.services.tickets import ticket_create, ticket_set_status
from guanxi.service.tasks import sla_check_all, sla_recalculate_changed

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


def at(*args):
    return dt.datetime(*args, tzinfo=SH)


def _create_at(when, **kw):
    with mock.patch("django.utils.timezone.now", return_value=when):
        return ticket_create(**kw)


@pytest.fixture
def policies(world):
    with workspace_context(world.ws_a):
        return {
            "default": cal_services.sla_policy_create(
                actor=world.olivia, name="标准", first_response_minutes=240, resolution_minutes=960
            ),
            "urgent": cal_services.sla_policy_create(
                actor=world.olivia,
                name="紧急",
                priority="urgent",
                first_response_minutes=30,
                resolution_minutes=240,
                warn_share="0.5",
            ),
            "vip": cal_services.sla_policy_create(
                actor=world.olivia,
                name="VIP",
                customer_tier="VIP",
                first_response_minutes=60,
                resolution_minutes=480,
            ),
        }


def test_most_specific_policy_wins_and_deadlines_skip_the_spring_festival(world, customers, policies):
    with workspace_context(world.ws_a):
        kw = dict(actor=world.alice, customer=customers["sam_c"], subject="x")
        # Fri 13 Feb 2026 17:00, 960 business minutes: 60 that day, Sat 14 Feb (调休) 480, then 24 Feb until 17:00
        t = _create_at(at(2026, 2, 13, 17, 0), **kw)
        assert t.sla_policy == policies["default"]
        assert t.resolution_due_at == at(2026, 2, 24, 17, 0)
        assert t.first_response_due_at == at(2026, 2, 14, 12, 0)  # 60 + 180 on the make-up Saturday
        # the warning line at 80%: 768 minutes -> 60 + 480 + 228 -> 24 Feb 09:00 + 180, then 13:00 + 48
        assert t.resolution_warn_at == at(2026, 2, 24, 13, 48)
        u = _create_at(at(2026, 2, 13, 17, 0), **kw, priority="urgent")
        assert u.sla_policy == policies["urgent"] and u.first_response_warn_at == at(2026, 2, 13, 17, 15)
        Customer.objects.filter(pk=customers["sam_c"].pk).update(custom={"tier": "VIP"})
        v = _create_at(at(2026, 2, 13, 17, 0), **kw, priority="urgent")
        assert v.sla_policy == policies["vip"]  # the customer tier outweighs the priority


def test_pending_pauses_the_clock(world, customers, policies):
    with workspace_context(world.ws_a):
        t = _create_at(at(2026, 3, 2, 9, 0), actor=world.alice, customer=customers["sam_c"], subject="x")
        assert t.resolution_due_at == at(2026, 3, 3, 18, 0)  # 960 = Mon 480 + Tue 480, ending at 18:00
        with mock.patch("django.utils.timezone.now", return_value=at(2026, 3, 2, 10, 0)):
            t = ticket_set_status(actor=world.alice, ticket=t, status="pending")
        assert t.sla_paused_at is not None
        # while paused the job does nothing, even past the deadline
        assert sum(sla_check(now=at(2026, 3, 9, 9, 0)).values()) == 0
        with mock.patch("django.utils.timezone.now", return_value=at(2026, 3, 2, 14, 0)):
            t = ticket_set_status(actor=world.alice, ticket=t, status="open")
        # paused 10:00-12:00 and 13:00-14:00: 180 business minutes push the deadline out
        assert t.sla_paused_minutes == 180 and t.sla_paused_at is None
        assert t.resolution_due_at == at(2026, 3, 4, 12, 0)  # 1140 = 480 + 480 + Wed 09:00-12:00


def test_warning_and_breach_once_each_with_escalation(
    world, customers, policies, django_capture_on_commit_callbacks
):
    with workspace_context(world.ws_a):
        world.team_east.manager.email = "mark@example.com"
        t = _create_at(
            at(2026, 3, 2, 9, 0),
            actor=world.olivia,
            customer=customers["sam_c"],
            subject="打印机",
            assignee_id=world.alice.user_id,
            team_id=world.team_east.pk,
        )
        assert t.assignee_id == world.alice.user_id and t.priority == "normal"
        # 09:00 + 192 min (80% of 240): the first-response warning line is 12:00 + 12 of lunch -> 13:12
        assert t.first_response_warn_at == at(2026, 3, 2, 13, 12)
        with django_capture_on_commit_callbacks(execute=True):
            counts = sla_check(now=at(2026, 3, 2, 13, 30))
        assert counts["first_response_warned_at"] == 1 and counts["first_response_breached_at"] == 0
        assert len(mail.outbox) == 1 and f"#{t.pk}" in mail.outbox[0].subject
        assert sorted(mail.outbox[0].to) == ["alice@example.com", "mark@example.com"]
        with django_capture_on_commit_callbacks(execute=True):
            assert sum(sla_check(now=at(2026, 3, 2, 13, 31)).values()) == 0  # not again
        assert len(mail.outbox) == 1
        with django_capture_on_commit_callbacks(execute=True):
            counts = sla_check(now=at(2026, 3, 2, 14, 5))  # due 14:00
        assert counts["first_response_breached_at"] == 1
        t.refresh_from_db()
        assert (
            t.priority == "high" and t.assignee_id == world.mark.user_id
        )  # raised and handed to the manager
        assert t.first_response_breached_at == at(2026, 3, 2, 14, 5)
        assert "breached" in mail.outbox[-1].subject
        with django_capture_on_commit_callbacks(execute=True):
            sla_check(now=at(2026, 3, 2, 14, 10))
        t.refresh_from_db()
        assert t.priority == "high"  # the breach escalated once


def test_the_periodic_job_walks_workspaces(world, customers, policies):
    with workspace_context(world.ws_a):
        t = _create_at(at(2026, 3, 2, 9, 0), actor=world.alice, customer=customers["sam_c"], subject="x")
    with mock.patch("django.utils.timezone.now", return_value=at(2026, 3, 20, 9, 0)):
        sla_check_all.call_local()
    with workspace_context(world.ws_a):
        t.refresh_from_db()
        assert t.resolution_breached_at and t.first_response_breached_at and t.priority == "urgent"


def test_calendar_change_recalculates_deadlines_overnight(world, customers, policies):
    with workspace_context(world.ws_a):
        t = _create_at(at(2026, 3, 2, 17, 0), actor=world.alice, customer=customers["sam_c"], subject="x")
        assert t.resolution_due_at == at(2026, 3, 4, 17, 0)  # 60 + 480 + Wed 180 + 13:00-17:00
        cal = cal_services.calendar_create(actor=world.olivia, name="默认", holiday_years=())
        # the company takes Tue 3 Mar off: the deadline moves a working day later
        cal_services.calendar_add_days(
            actor=world.olivia, calendar=cal, first="2026-03-03", kind="holiday", name="团建"
        )
        t.refresh_from_db()
        assert t.resolution_due_at == at(2026, 3, 4, 17, 0)  # unchanged until the nightly run
    sla_recalculate_changed.call_local()
    with workspace_context(world.ws_a):
        t.refresh_from_db()
        assert t.resolution_due_at == at(2026, 3, 5, 17, 0)
        assert t.first_response_due_at == at(2026, 3, 4, 12, 0)  # 60 + (Tue off) + 180
        cal.refresh_from_db()
        assert cal.recalculated_at is not None
        assert sla_recalculate(calendar=cal, workspace_id=world.ws_a.pk) == 1


def test_calendar_input_errors_change_nothing(world):
    with workspace_context(world.ws_a):
        cal = cal_services.calendar_create(actor=world.olivia, name="默认")
        assert CalendarDay.objects.filter(calendar=cal, kind="workday").count() == 6  # 2026's 调休 days
        n = CalendarDay.objects.count()
        with pytest.raises(ValidationFailed) as exc:  # National Day is already there
            cal_services.calendar_add_days(
                actor=world.olivia, calendar=cal, first="2026-10-06", last="2026-10-09", kind="holiday"
            )
        assert "2026-10-06" in exc.value.fields["first"]
        with pytest.raises(ValidationFailed):
            cal_services.calendar_add_days(
                actor=world.olivia, calendar=cal, first="2026-11-09", last="2026-11-02", kind="holiday"
            )
        with pytest.raises(ValidationFailed):
            cal_services.calendar_load_public_holidays(actor=world.olivia, calendar=cal, year=2026)
        with pytest.raises(ValidationFailed) as exc:
            cal_services.calendar_set_hours(
                actor=world.olivia, calendar=cal, weekly=["09:00-12:00, 11:00-18:00"] + [""] * 6
            )
        assert set(exc.value.fields) == {"weekly.0"}
        with pytest.raises(ValidationFailed):
            cal_services.calendar_create(actor=world.olivia, name="第二个默认")
        with pytest.raises(Forbidden):
            cal_services.calendar_add_days(
                actor=world.alice, calendar=cal, first="2026-11-02", kind="holiday"
            )
        assert CalendarDay.objects.count() == n and WorkingCalendar.objects.count() == 1
        cal_services.calendar_set_hours(
            actor=world.olivia, calendar=cal, weekly=["08:30-17:30"] * 5 + ["", ""]
        )
        cal.refresh_from_db()
        assert cal.weekly_hours[0] == [[510, 1050]] and cal.weekly_hours[6] == []


def test_policy_input_errors(world):
    with workspace_context(world.ws_a), pytest.raises(ValidationFailed) as exc:
        cal_services.sla_policy_create(
            actor=world.olivia, name="", first_response_minutes=0, resolution_minutes="x", warn_share="1.5"
        )
    assert set(exc.value.fields) == {"name", "first_response_minutes", "resolution_minutes", "warn_share"}


def test_no_policy_no_deadlines(world, customers):
    with workspace_context(world.ws_a):
        t = ticket_create(actor=world.alice, customer=customers["sam_c"], subject="x")
        assert t.sla_policy is None and t.resolution_due_at is None
        assert timezone.now()  # the job has nothing to do
        assert sum(sla_check(now=timezone.now() + dt.timedelta(days=30)).values()) == 0
        assert Ticket.objects.get(pk=t.pk).priority == "normal"


def test_set_based_recalculation_gives_exactly_the_per_ticket_deadlines(world, customers, policies):
    """Random tickets around the 2026 Spring Festival, the 调休 Saturdays and Sundays and National Day, some paused,
    on the built-in calendar and on a team calendar with hours of its own: the numpy recalculation must give
    the very instants (to the microsecond) that the per-ticket function gives."""
    from guanxi.service.calendars import spec_for
    from guanxi.service.services.sla import _set_deadlines, calendar_for_team
    from guanxi.workspaces.models import Team

    rng = random.Random(2026)
    windows = [
        at(2026, 1, 1),
        at(2026, 2, 10),
        at(2026, 2, 26),
        at(2026, 4, 30),
        at(2026, 9, 24),
        at(2026, 10, 8),
    ]
    with workspace_context(world.ws_a):
        team = Team.objects.create(name="二线")
        cal = cal_services.calendar_create(actor=world.olivia, name="二线日历", team_id=team.pk)
        cal_services.calendar_set_hours(
            actor=world.olivia,
            calendar=cal,
            weekly=["08:30-20:00"] * 6 + [""],
            workday="10:00-16:00",
        )
        cal_services.calendar_add_days(
            actor=world.olivia, calendar=cal, first="2026-03-03", kind="holiday", name="x"
        )
        rows = []
        for i in range(300):
            w = rng.choice(windows)
            rows.append(
                Ticket(
                    workspace=world.ws_a,
                    customer=customers["sam_c"],
                    subject=f"t{i}",
                    created_at=w + dt.timedelta(microseconds=rng.randrange(0, 20 * 86400 * 10**6)),
                    sla_policy=rng.choice(list(policies.values())),
                    sla_paused_minutes=rng.choice([0, 0, 7, 600]),
                    status=rng.choice(["new", "open", "pending"]),
                    team=team if i % 3 == 0 else None,
                )
            )
        Ticket.objects.bulk_create(rows)
        stats: dict = {}
        assert sla_recalculate(calendar=None, workspace_id=world.ws_a.pk, stats=stats) == 200
        assert stats["changed"] == 200
        assert sla_recalculate(calendar=cal, workspace_id=world.ws_a.pk) == 100
        for t in Ticket.objects.select_related("sla_policy").filter(subject__startswith="t"):
            want = Ticket(
                created_at=t.created_at, sla_policy=t.sla_policy, sla_paused_minutes=t.sla_paused_minutes
            )
            _set_deadlines(want, spec_for(calendar_for_team(t.team_id)))
            for f in (
                "first_response_warn_at",
                "first_response_due_at",
                "resolution_warn_at",
                "resolution_due_at",
            ):
                assert getattr(t, f) == getattr(want, f), (t.pk, f, t.created_at)
        # a second run finds nothing to move
        again: dict = {}
        sla_recalculate(calendar=None, workspace_id=world.ws_a.pk, stats=again)
        assert again["changed"] == 0
