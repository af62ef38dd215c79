"""Service objects of workspace A for tests/test_isolation.py (one of every kind a route can name)."""

from __future__ import annotations

from guanxi.core.context import workspace_context
from guanxi.service.services.messages import Upload, ticket_message_add
from guanxi.service.services.tickets import ticket_create

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def service_objects(world, customers) -> dict:
    with workspace_context(world.ws_a):
        ticket = ticket_create(actor=world.alice, customer=customers["sam_c"], subject="张三丰 的工单")
        msg = ticket_message_add(
            actor=world.alice, ticket=ticket, kind="note", body="13800138000", files=[Upload("a.png", PNG)]
        )
        from guanxi.service.services.calendars import calendar_create

        calendar = calendar_create(actor=world.olivia, name="A 日历")
        from guanxi.service.services.assignment import ticket_rule_create
        from guanxi.service.services.calendars import sla_policy_create

        sla_policy = sla_policy_create(
            actor=world.olivia, name="张三丰 专属", first_response_minutes=30, resolution_minutes=240
        )
        ticket_rule = ticket_rule_create(actor=world.olivia, name="李四 规则", skill="13800138000")
        import datetime as dt

        from django.utils import timezone

        from guanxi.service.services.visits import visit_schedule

        start = timezone.now() + dt.timedelta(days=1)
        visit = visit_schedule(
            actor=world.alice, ticket=ticket, technician_id=world.alice.user_id, slot_start=start,
            slot_end=start + dt.timedelta(hours=2), address="李四 家", note="13800138000",
        )  # fmt: skip
        return {
            "visit": visit,
            "sla_policy": sla_policy,
            "ticket_rule": ticket_rule,
            "ticket": ticket,
            "ticket_message": msg,
            "attachment": msg.attachments.get(),
            "calendar": calendar,
        }
