"""Activities (销售活动) through the services: links, times, permissions, completing onto the timeline once, the
opportunity's last activity, cancel/reopen, and reminders claimed exactly once (in-app and by real SMTP)."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from email import message_from_bytes
from email.header import decode_header, make_header

import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from guanxi.core import rls
from guanxi.core.context import workspace_context
from guanxi.core.errors import Forbidden, NotFound, ValidationFailed
from guanxi.customers.models import Interaction
from guanxi.ledger.models import AuditEvent
from guanxi.sales.models import Activity, ActivityNotification, ActivitySettings, Opportunity
from guanxi.sales.services import activities as svc
from guanxi.sales.tasks_activities import send_reminders_everywhere


def _in(minutes: int) -> dt.datetime:
    return timezone.now() + dt.timedelta(minutes=minutes)


def _fields(exc: ValidationFailed) -> set[str]:
    return set(exc.fields)


# --- create, validation, links ------------------------------------------------------------------------------------


def test_create_a_meeting_with_owner_default_reminder(world, customers, sales):
    with workspace_context(world.ws_a):
        ActivitySettings.objects.create(user=world.sam.user, default_remind_minutes=30)
        due = _in(24 * 60)
        a = svc.activity_create(
            actor=world.sam,
            kind="meeting",
            subject="方案演示",
            opportunity_id=sales.sam_opp.pk,
            due_at=due,
            ends_at=due + dt.timedelta(hours=1),
            location="上海 浦东",
            priority="high",
        )
        assert a.customer_id == customers["sam_c"].pk  # taken from the opportunity
        assert a.owner_id == world.sam.user_id and a.status == "open"
        assert a.remind_minutes == 30 and a.remind_at == due - dt.timedelta(minutes=30)
        assert AuditEvent.objects.filter(action="activity.create", object_id=str(a.pk)).exists()


def test_naive_browser_times_are_read_in_the_current_zone(world, customers):
    with workspace_context(world.ws_a):
        a = svc.activity_create(
            actor=world.sam,
            subject="call",
            kind="call",
            customer_id=customers["sam_c"].pk,
            due_at="2031-03-01T09:30",
        )
        assert timezone.localtime(a.due_at).strftime("%Y-%m-%d %H:%M") == "2031-03-01 09:30"
        assert a.due_at.utcoffset() is not None


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"kind": "meeting"}, {"due_at"}),  # a meeting needs its start
        ({"kind": "visit", "due_at": "2031-01-01T10:00", "ends_at": "2031-01-01T09:00"}, {"ends_at"}),
        ({"kind": "meeting", "due_at": "2031-01-01T10:00", "ends_at": "2031-01-01T10:00"}, {"ends_at"}),
        ({"kind": "task", "due_at": "2031-01-01T10:00", "ends_at": "2031-01-01T11:00"}, {"ends_at"}),
        ({"kind": "party"}, {"kind"}),
        ({"due_at": "tomorrow"}, {"due_at"}),
        ({"remind_minutes": -5}, {"remind_minutes"}),
        ({"remind_minutes": "soon"}, {"remind_minutes"}),
        ({"priority": "urgent"}, {"priority"}),
        ({"subject": "   "}, {"subject"}),
    ],
)
def test_bad_input_is_refused_naming_the_field(world, customers, fields, bad):
    with workspace_context(world.ws_a):
        data = {"subject": "x", "customer_id": customers["sam_c"].pk, **fields}
        subject = data.pop("subject")
        with pytest.raises(ValidationFailed) as e:
            svc.activity_create(actor=world.sam, subject=subject, **data)
        assert _fields(e.value) == bad
        assert not Activity.objects.exists()


def test_another_workspaces_customer_or_opportunity_is_refused(world, customers, sales):
    with workspace_context(world.ws_b):
        from guanxi.sales.services import opportunity_create

        b_opp = opportunity_create(actor=world.oscar, customer_id=customers["oscar_c"].pk, name="B deal")
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed) as e:
            svc.activity_create(actor=world.olivia, subject="x", customer_id=customers["oscar_c"].pk)
        assert _fields(e.value) == {"customer_id"}
        with pytest.raises(ValidationFailed) as e:
            svc.activity_create(
                actor=world.olivia, subject="x", customer_id=customers["sam_c"].pk, opportunity_id=b_opp.pk
            )
        assert "opportunity_id" in _fields(e.value)
        with pytest.raises(ValidationFailed) as e:  # an opportunity of another customer of A
            svc.activity_create(
                actor=world.olivia,
                subject="x",
                customer_id=customers["sue_c"].pk,
                opportunity_id=sales.sam_opp.pk,
            )
        assert _fields(e.value) == {"opportunity_id"}
        assert not Activity.objects.exists()
    with workspace_context(world.ws_b):
        with pytest.raises(ValidationFailed):
            svc.activity_create(actor=world.oscar, subject="x", opportunity_id=sales.sam_opp.pk)
        assert not Activity.objects.exists()


def test_permissions_own_and_team_scope(world, customers):
    with workspace_context(world.ws_a):
        with pytest.raises(Forbidden):  # read-only
            svc.activity_create(actor=world.rita, subject="x", customer_id=customers["sam_c"].pk)
        with pytest.raises(Forbidden):  # a sales rep cannot give work to a colleague
            svc.activity_create(
                actor=world.sam, subject="x", customer_id=customers["sam_c"].pk, owner_id=world.sue.user_id
            )
        # the team's manager can
        a = svc.activity_create(
            actor=world.mark, subject="拜访", customer_id=customers["sue_c"].pk, owner_id=world.sue.user_id
        )
        assert a.owner_id == world.sue.user_id
        # sam sees his team-mate's activity (team view) but may not change it (own edit)
        from guanxi.sales.selectors_activities import activity_list, get_activity_for

        assert get_activity_for(world.sam, a.pk).pk == a.pk
        with pytest.raises(Forbidden):
            svc.activity_update(actor=world.sam, activity_id=a.pk, subject="mine now")
        with pytest.raises(Forbidden):
            svc.activity_complete(actor=world.sam, activity_id=a.pk)
        # alice (service) has workspace view of sales by default but no edit
        with pytest.raises(Forbidden):
            svc.activity_delete(actor=world.alice, activity_id=a.pk)
        assert Activity.objects.get(pk=a.pk).status == "open"
        assert list(activity_list(actor=world.sue)) == [a]
    with workspace_context(world.ws_b), pytest.raises(NotFound):
        from guanxi.sales.selectors_activities import get_activity_for

        get_activity_for(world.oscar, a.pk)


# --- complete ------------------------------------------------------------------------------------------------------


def test_complete_writes_the_timeline_once_and_resets_the_stale_alert(world, customers, sales):
    with workspace_context(world.ws_a):
        old = timezone.now() - dt.timedelta(days=30)
        Opportunity.objects.filter(pk=sales.sam_opp.pk).update(last_activity_at=old, stale_since=old)
        a = svc.activity_create(
            actor=world.sam,
            kind="visit",
            subject="上门拜访",
            opportunity_id=sales.sam_opp.pk,
            due_at=timezone.now() - dt.timedelta(hours=2),
            ends_at=timezone.now() - dt.timedelta(hours=1),
        )
        first = svc.activity_complete(actor=world.sam, activity_id=a.pk, outcome="客户同意试用")
        assert first.completed and first.activity.status == "done"
        again = svc.activity_complete(actor=world.sam, activity_id=a.pk, outcome="twice")
        assert not again.completed
        rows = list(Interaction.objects.filter(external_key=f"sales:activity:{a.pk}"))
        assert len(rows) == 1
        row = rows[0]
        assert row.kind == "visit" and row.customer_id == customers["sam_c"].pk
        assert row.body == "客户同意试用" and "上门拜访" in row.subject
        assert abs((row.occurred_at - a.due_at).total_seconds()) < 1  # when it took place
        opp = Opportunity.objects.get(pk=sales.sam_opp.pk)
        assert opp.stale_since is None and opp.last_activity_at > old
        a.refresh_from_db()
        assert a.outcome == "客户同意试用" and a.interaction_id == row.pk
        assert AuditEvent.objects.filter(action="activity.complete", object_id=str(a.pk)).count() == 1


@pytest.mark.parametrize(("kind", "timeline"), [("call", "call"), ("meeting", "meeting"), ("task", "note")])
def test_timeline_kind_follows_the_activity_type(world, customers, kind, timeline):
    with workspace_context(world.ws_a):
        a = svc.activity_create(
            actor=world.sam, kind=kind, subject="s", customer_id=customers["sam_c"].pk, due_at=_in(-5)
        )
        svc.activity_complete(actor=world.sam, activity_id=a.pk)
        assert Interaction.objects.get(external_key=f"sales:activity:{a.pk}").kind == timeline


def test_done_activities_keep_their_facts_and_cancelled_cannot_be_completed(world, customers):
    with workspace_context(world.ws_a):
        a = svc.activity_create(actor=world.sam, subject="s", customer_id=customers["sam_c"].pk)
        svc.activity_set_status(actor=world.sam, activity_id=a.pk, status="cancelled")
        with pytest.raises(ValidationFailed):
            svc.activity_complete(actor=world.sam, activity_id=a.pk)
        assert not Interaction.objects.filter(external_key=f"sales:activity:{a.pk}").exists()
        svc.activity_set_status(actor=world.sam, activity_id=a.pk, status="open")
        svc.activity_complete(actor=world.sam, activity_id=a.pk)
        with pytest.raises(ValidationFailed) as e:
            svc.activity_update(actor=world.sam, activity_id=a.pk, customer_id=customers["sue_c"].pk)
        assert _fields(e.value) == {"customer_id"}
        with pytest.raises(ValidationFailed):
            svc.activity_set_status(actor=world.sam, activity_id=a.pk, status="cancelled")
        svc.activity_update(actor=world.sam, activity_id=a.pk, outcome="补充：下周报价")
        assert Activity.objects.get(pk=a.pk).outcome == "补充：下周报价"


def test_delete_keeps_the_timeline(world, customers):
    with workspace_context(world.ws_a):
        a = svc.activity_create(actor=world.sam, subject="s", kind="call", customer_id=customers["sam_c"].pk)
        svc.activity_complete(actor=world.sam, activity_id=a.pk)
        svc.activity_delete(actor=world.sam, activity_id=a.pk)
        assert not Activity.objects.exists()
        assert Interaction.objects.filter(external_key=f"sales:activity:{a.pk}").exists()


# --- reminders -----------------------------------------------------------------------------------------------------


def _due_reminder(world, customers, *, minutes=10, remind=15, owner=None):
    with workspace_context(world.ws_a):
        return svc.activity_create(
            actor=world.olivia,
            kind="call",
            subject="回访电话",
            customer_id=customers["sam_c"].pk,
            owner_id=(owner or world.sam).user_id,
            due_at=_in(minutes),
            remind_minutes=remind,
        )


def test_reminder_jobs_run_twice_send_one_notice_and_one_email(
    world, customers, mailoutbox, django_capture_on_commit_callbacks
):
    a = _due_reminder(world, customers)
    later = _due_reminder(world, customers, minutes=120)  # not due yet
    with django_capture_on_commit_callbacks(execute=True):
        assert send_reminders_everywhere() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert send_reminders_everywhere() == 0
    with workspace_context(world.ws_a):
        notices = list(ActivityNotification.objects.all())
        assert [n.activity_id for n in notices] == [a.pk] and notices[0].user_id == world.sam.user_id
        assert Activity.objects.get(pk=later.pk).reminder_sent_at is None
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["sam@example.com"] and "回访电话" in mailoutbox[0].subject


def test_moving_the_due_time_rearms_the_reminder(
    world, customers, mailoutbox, django_capture_on_commit_callbacks
):
    a = _due_reminder(world, customers)
    with django_capture_on_commit_callbacks(execute=True):
        send_reminders_everywhere()
    with workspace_context(world.ws_a):
        svc.activity_update(actor=world.sam, activity_id=a.pk, due_at=_in(5))
        assert Activity.objects.get(pk=a.pk).reminder_sent_at is None
    with django_capture_on_commit_callbacks(execute=True):
        assert send_reminders_everywhere() == 1
    assert len(mailoutbox) == 2


def test_no_reminder_for_past_done_cancelled_or_opted_out(
    world, customers, mailoutbox, django_capture_on_commit_callbacks
):
    with workspace_context(world.ws_a):
        svc.activity_create(
            actor=world.sam, subject="logged call", customer_id=customers["sam_c"].pk, due_at=_in(-30)
        )
    cancelled = _due_reminder(world, customers)
    none = _due_reminder(world, customers, remind=None)
    with workspace_context(world.ws_a):
        svc.activity_set_status(actor=world.sam, activity_id=cancelled.pk, status="cancelled")
        assert Activity.objects.get(pk=none.pk).remind_at is None
        svc.activity_settings_update(actor=world.sue, default_remind_minutes=60, email_reminders=False)
    _due_reminder(world, customers, owner=world.sue)
    with django_capture_on_commit_callbacks(execute=True):
        assert send_reminders_everywhere() == 1  # sue's, in-app only
    assert mailoutbox == []
    with workspace_context(world.ws_a):
        assert ActivityNotification.objects.get().user_id == world.sue.user_id


def test_concurrent_reminder_workers_claim_each_reminder_once(world, customers, transactional_db):
    """Two workers at once: each reminder is claimed by exactly one of them (PostgreSQL: real concurrency)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL for two concurrent database sessions (SQLite serialises writers)")
    for i in range(6):
        _due_reminder(world, customers, minutes=5 + i)
    results: list[list[int]] = []
    barrier = threading.Barrier(2)

    def worker():
        from django.db import connections

        try:
            barrier.wait()
            with workspace_context(world.ws_a):
                results.append(svc.activity_reminders_send())
        finally:
            connections.close_all()

    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    claimed = [i for r in results for i in r]
    assert len(claimed) == 6 and len(set(claimed)) == 6
    with rls.bypass():
        assert ActivityNotification.all_workspaces.count() == 6


class _Collect:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.rcpt_tos, envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_reminder_goes_out_through_a_real_smtp_server_once(
    world, customers, django_capture_on_commit_callbacks
):
    from guanxi.workspaces.models import User

    User.objects.filter(pk=world.sam.user_id).update(language="zh-hans")
    _due_reminder(world, customers)
    handler = _Collect()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=port,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
            EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False,
            EMAIL_TIMEOUT=10,
        ):
            for _run in range(2):  # the periodic job fires twice
                with django_capture_on_commit_callbacks(execute=True):
                    send_reminders_everywhere()
    finally:
        controller.stop()
    assert not mail.outbox
    assert len(handler.messages) == 1
    rcpt, raw = handler.messages[0]
    assert rcpt == ["sam@example.com"]
    parsed = message_from_bytes(raw)
    subject = str(make_header(decode_header(parsed["Subject"])))
    assert "回访电话" in subject and "提醒" in subject
    body = parsed.get_payload(decode=True).decode(parsed.get_content_charset() or "utf-8")
    assert "张三丰" in body and "/sales/activities/" in body


def test_notices_mark_read(world, customers, django_capture_on_commit_callbacks):
    _due_reminder(world, customers)
    with django_capture_on_commit_callbacks(execute=True):
        send_reminders_everywhere()
    from guanxi.sales.selectors_activities import notification_unread_count

    with workspace_context(world.ws_a):
        assert notification_unread_count(actor=world.sam) == 1
        assert notification_unread_count(actor=world.sue) == 0
        assert svc.notification_mark_read(actor=world.sue) == 0  # not hers
        assert svc.notification_mark_read(actor=world.sam) == 1
        assert notification_unread_count(actor=world.sam) == 0


def test_reminders_are_pushed_to_the_owners_open_tabs(world, customers, django_capture_on_commit_callbacks):
    from unittest import mock

    a = _due_reminder(world, customers)
    with (
        mock.patch("guanxi.sales.services.activities.notify_user") as notify,
        django_capture_on_commit_callbacks(execute=True),
    ):
        send_reminders_everywhere()
    notify.assert_called_once()
    user_id, payload = notify.call_args.args
    assert user_id == world.sam.user_id
    assert payload["type"] == "sales.activity_reminder" and payload["activity_id"] == a.pk
    assert "回访电话" in payload["message"] and payload["url"] == f"/sales/activities/{a.pk}/"


def test_leads_and_relinking_are_checked(world, customers, sales):
    from guanxi.sales.services import lead_create

    with workspace_context(world.ws_b):
        b_lead = lead_create(actor=world.oscar, name="B lead", phone="13700137000")
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed) as e:
            svc.activity_create(
                actor=world.sam, subject="x", customer_id=customers["sam_c"].pk, lead_id=b_lead.pk
            )
        assert _fields(e.value) == {"lead_id"}
        lead = lead_create(actor=world.sam, name="线索 A", phone="13600136000")
        a = svc.activity_create(
            actor=world.sam,
            subject="x",
            customer_id=customers["sam_c"].pk,
            opportunity_id=sales.sam_opp.pk,
            lead_id=lead.pk,
        )
        assert a.lead_id == lead.pk
        # moving it to another customer while it still names the first customer's opportunity is refused
        with pytest.raises(ValidationFailed) as e:
            svc.activity_update(actor=world.sam, activity_id=a.pk, customer_id=customers["olivia_c"].pk)
        assert _fields(e.value) == {"opportunity_id"}
        a = svc.activity_update(
            actor=world.sam, activity_id=a.pk, customer_id=customers["olivia_c"].pk, opportunity_id=None
        )
        assert a.customer_id == customers["olivia_c"].pk and a.opportunity_id is None
