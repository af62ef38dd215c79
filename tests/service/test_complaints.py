"""Complaints: classification, root cause, corrective action, result and confirmation; the crisis warning fires on
a spike and not in a normal week; analysis counts."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from guanxi.core.context import workspace_context
from guanxi.core.errors import ValidationFailed
from guanxi.service.models import Complaint, CrisisAlert, TicketCategory
from guanxi.service.services.complaints import (
    complaint_analysis,
    complaint_confirm,
    complaint_record,
    complaint_report_result,
    crisis_check,
)
from guanxi.service.services.tickets import ticket_create

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


def test_complaint_lifecycle(world, customers, django_capture_on_commit_callbacks):
    with workspace_context(world.ws_a):
        t = ticket_create(actor=world.alice, customer=customers["sam_c"], subject="快递员态度差")
        with pytest.raises(ValidationFailed) as exc:
            complaint_record(actor=world.alice, ticket=t, severity="major")
        assert set(exc.value.fields) == {"classification"}
        c = complaint_record(
            actor=world.alice, ticket=t, classification="attitude", severity="major", product=""
        )
        t.refresh_from_db()
        assert t.type == "complaint" and c.classification == "attitude"
        with pytest.raises(ValidationFailed) as exc:
            complaint_record(actor=world.alice, ticket=t, action="培训快递员")
        assert set(exc.value.fields) == {"action"}
        c = complaint_record(
            actor=world.alice,
            ticket=t,
            root_cause="people",
            root_cause_text="为什么态度差？高峰期超负荷……",
            action="培训快递员",
            action_owner_id=world.mark.user_id,
            action_due="2026-06-15",
        )
        assert c.action_due == dt.date(2026, 6, 15)
        with pytest.raises(ValidationFailed):
            complaint_confirm(actor=world.alice, ticket=t, satisfied=True)  # nothing reported yet
        with django_capture_on_commit_callbacks(execute=True):
            complaint_report_result(actor=world.alice, ticket=t, result="已对快递员进行培训并致歉")
        c = complaint_confirm(actor=world.alice, ticket=t, satisfied=True)
        assert c.customer_confirmed_at and c.customer_satisfied is True and c.result_reported_at
        assert t.messages.filter(kind="reply").count() == 1


def _complaints(world, customers, cat, when, n):
    for i in range(n):
        with mock.patch("django.utils.timezone.now", return_value=when - dt.timedelta(hours=i + 1)):
            ticket_create(
                actor=world.alice,
                customer=customers["sam_c"],
                subject=f"投诉 {i}",
                category=cat,
                type="complaint",
            )


def _history(world, customers, cat, per_week):
    for week, n in enumerate(per_week, start=1):
        _complaints(world, customers, cat, NOW - dt.timedelta(days=7 * week), n)


def test_a_spike_raises_the_crisis_alert_once(world, customers, django_capture_on_commit_callbacks):
    with workspace_context(world.ws_a):
        world.mark.user.email = "mark@example.com"
        cat = TicketCategory.objects.create(name="配送")
        _history(
            world, customers, cat, [2, 3, 2, 1, 2, 3, 2, 2]
        )  # mean 2.125, sd 0.6 -> at least 1: line 5.125
        _complaints(world, customers, cat, NOW, 9)
        with django_capture_on_commit_callbacks(execute=True):
            alerts = crisis_check(now=NOW)
        assert [(a.category_id, a.count) for a in alerts] == [(cat.pk, 9)]
        assert "配送" in mail.outbox[-1].subject
        assert {"olivia@example.com", "mark@example.com"} <= set(mail.outbox[-1].to)
        assert crisis_check(now=NOW + dt.timedelta(hours=1)) == []  # once
        assert CrisisAlert.objects.count() == 1


def test_a_normal_week_does_not_alert(world, customers):
    with workspace_context(world.ws_a):
        cat = TicketCategory.objects.create(name="账单")
        _history(world, customers, cat, [4, 6, 5, 7, 5, 4, 6, 5])  # mean 5.25, sd 0.97 -> 1: line 8.25
        _complaints(world, customers, cat, NOW, 8)  # busy, but within the usual range
        quiet = TicketCategory.objects.create(name="安装")
        _complaints(world, customers, quiet, NOW, 4)  # from nothing to 4: under the minimum of 5
        assert crisis_check(now=NOW) == []
        assert CrisisAlert.objects.count() == 0


def test_analysis_by_category_classification_product_cause(world, customers):
    with workspace_context(world.ws_a):
        cat = TicketCategory.objects.create(name="产品")
        for cls, product, cause in [
            ("product", "空调", "supplier"),
            ("product", "空调", "process"),
            ("billing", "", ""),
        ]:
            t = ticket_create(actor=world.alice, customer=customers["sam_c"], subject="x", category=cat)
            complaint_record(
                actor=world.alice, ticket=t, classification=cls, product=product, root_cause=cause
            )
        got = complaint_analysis(since=timezone.now() - dt.timedelta(days=1))
        assert got["category"] == [("产品", 3)]
        assert got["classification"] == [("product", 2), ("billing", 1)]
        assert got["product"][0] == ("空调", 2)
        assert Complaint.objects.count() == 3
