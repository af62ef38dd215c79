"""The presence history occupancy is computed from: each change closes the open stretch and opens the next."""

from __future__ import annotations

import datetime as dt

from guanxi.contact_center import routing
from guanxi.contact_center.models import AgentPresenceLog, Presence
from guanxi.core.context import workspace_context

T0 = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)


def test_presence_changes_are_kept_as_stretches(world):
    with workspace_context(world.ws_a):
        routing.agent_set_presence(actor=world.alice, presence=Presence.AVAILABLE, now=T0)
        routing.agent_set_presence(
            actor=world.alice, presence=Presence.PAUSED, reason="培训", now=T0 + dt.timedelta(minutes=50)
        )
        routing.agent_set_presence(
            actor=world.alice, presence=Presence.AVAILABLE, now=T0 + dt.timedelta(hours=1)
        )
        rows = list(AgentPresenceLog.objects.order_by("started_at").values_list("presence", "reason", "started_at",
                                                                                 "ended_at"))  # fmt: skip
    assert rows == [
        ("available", "", T0, T0 + dt.timedelta(minutes=50)),
        ("paused", "培训", T0 + dt.timedelta(minutes=50), T0 + dt.timedelta(hours=1)),
        ("available", "", T0 + dt.timedelta(hours=1), None),
    ]
    with workspace_context(world.ws_b):
        assert not AgentPresenceLog.objects.exists()  # another workspace sees none of it
