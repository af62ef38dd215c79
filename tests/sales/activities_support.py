"""One activity of workspace A (done, with a reminder notice and settings) for the isolation walk."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from guanxi.core.context import workspace_context
from guanxi.sales.models import ActivityNotification
from guanxi.sales.services import activities as svc


def activity_objects(world, customers) -> dict:
    with workspace_context(world.ws_a):
        activity = svc.activity_create(
            actor=world.sam,
            kind="meeting",
            subject="张三丰 面谈",
            customer_id=customers["sam_c"].pk,
            due_at=timezone.now() + dt.timedelta(days=1),
            ends_at=timezone.now() + dt.timedelta(days=1, hours=1),
            location="王五有限公司",
        )
        svc.ical_token_regenerate(actor=world.sam)
        ActivityNotification.objects.create(
            user=world.sam.user, activity=activity, title="张三丰 面谈", created_at=timezone.now()
        )
        return {"activity": activity}
