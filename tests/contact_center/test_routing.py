"""The routing engine: workflows and expressions, queues (hours, overflow, length), skills, capacity, strategies,
reservations (accept, reject, time out, ring-all), widening after a step's timeout, presence."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from guanxi.contact_center import routing
from guanxi.contact_center.expressions import ExpressionError, compile_expression, matches
from guanxi.contact_center.models import (
    AgentChannel,
    Presence,
    Reservation,
    ReservationStatus,
    Strategy,
    Task,
    TaskStatus,
)
from guanxi.core.context import workspace_context
from guanxi.core.errors import Conflict, Forbidden, NotFound, ValidationFailed

NOON = dt.datetime(2026, 11, 23, 4, 0, tzinfo=dt.UTC)  # 12:00 in Shanghai, a Monday


def test_expressions_read_attributes_and_refuse_code():
    attrs = {"channel": "chat", "language": "zh", "tier": "vip", "priority": 7}
    assert matches('channel == "chat" and language == "zh"', attrs)
    assert matches('tier in ["vip", "major"] or priority >= 9', attrs)
    assert not matches('not (channel == "chat")', attrs)
    assert matches("", attrs)
    assert not matches("missing > 3", attrs)  # None > 3 is a mismatch, not a crash
    for bad in (
        "__import__('os')",
        "channel.upper() == 'CHAT'",
        "attrs[0]",
        "1 + 1 == 2",
        "lambda: 1",
        "chan ==",
    ):
        with pytest.raises(ExpressionError):
            compile_expression(bad)


@pytest.fixture
def cc(world):
    """Queues 普通 and VIP; agents sam (粤语 8), sue (粤语 3), alice (no skills); a default workflow."""
    with workspace_context(world.ws_a):
        general = routing.queue_create(actor=world.olivia, name="普通", reservation_timeout=15)
        vip = routing.queue_create(actor=world.olivia, name="VIP", strategy=Strategy.RING_ALL)
        for member, skills in ((world.sam, {"粤语": 8}), (world.sue, {"粤语": 3}), (world.alice, {})):
            routing.agent_configure(
                actor=world.olivia, member=member, skills=skills, queue_ids=[general.pk, vip.pk],
                capacities={"chat": 2, "phone": 1},
            )  # fmt: skip
            routing.agent_set_presence(actor=member, presence=Presence.AVAILABLE)
        wf = routing.workflow_create(
            actor=world.olivia,
            name="默认",
            is_default=True,
            steps=[
                {"expression": 'tier == "vip"', "queue_id": vip.pk},
                {"expression": 'language == "yue"', "queue_id": general.pk,
                 "skills": [{"skill": "粤语", "min_level": 5}], "timeout": 60},
                {"expression": "", "queue_id": general.pk},
            ],
        )  # fmt: skip
    return {"general": general, "vip": vip, "workflow": wf}


def _enqueue(world, **kw):
    """Enqueue, then run the router as the on-commit job would (tests run inside one transaction)."""
    now = kw.pop("now", NOON)
    with workspace_context(world.ws_a):
        task = routing.task_enqueue(channel=kw.pop("channel", "chat"), now=now, **kw)
        routing.route_pending(now=now)
        return task


def _offers(world, task):
    with workspace_context(world.ws_a):
        return list(
            Reservation.objects.filter(task=task, status=ReservationStatus.PENDING).values_list(
                "agent__user__username", flat=True
            )
        )


def test_a_skilled_contact_goes_to_the_agent_with_the_skill_level(world, cc):
    task = _enqueue(world, attributes={"language": "yue"})
    task.refresh_from_db()
    assert task.queue_id == cc["general"].pk and task.skills == [{"skill": "粤语", "min_level": 5}]
    assert task.status == TaskStatus.RESERVED
    assert _offers(world, task) == ["sam"]  # sue's 粤语 3 is below the step's 5; alice has none


def test_vip_contacts_ring_all_and_the_first_to_accept_wins(world, cc):
    task = _enqueue(world, attributes={"tier": "vip"})
    assert sorted(_offers(world, task)) == ["alice", "sam", "sue"]
    with workspace_context(world.ws_a):
        res = {
            r.agent.user.username: r
            for r in Reservation.objects.filter(task=task).select_related("agent__user")
        }
        done = routing.reservation_accept(actor=world.sue, reservation_id=res["sue"].pk, now=NOON)
        assert done.status == TaskStatus.ASSIGNED and done.agent.user_id == world.sue.user_id
        assert done.priority == routing.TIER_PRIORITY["vip"]
        # the others' offers were withdrawn and their chat slots freed
        assert set(Reservation.objects.filter(task=task).values_list("status", flat=True)) == {
            ReservationStatus.ACCEPTED, ReservationStatus.CANCELLED,
        }  # fmt: skip
        assert AgentChannel.objects.get(agent__user=world.sam.user, channel="chat").active == 0
        assert AgentChannel.objects.get(agent__user=world.sue.user, channel="chat").active == 1
        with pytest.raises(Conflict):
            routing.reservation_accept(actor=world.sam, reservation_id=res["sam"].pk, now=NOON)


def test_capacity_is_never_exceeded_and_a_freed_slot_takes_the_next_contact(world, cc):
    with workspace_context(world.ws_a):
        for m in (world.sue, world.alice):
            routing.agent_set_presence(actor=m, presence=Presence.PAUSED, reason="培训")
    tasks = [_enqueue(world, attributes={"n": i}) for i in range(3)]
    with workspace_context(world.ws_a):
        statuses = [Task.objects.get(pk=t.pk).status for t in tasks]
        assert statuses == [TaskStatus.RESERVED, TaskStatus.RESERVED, TaskStatus.PENDING]  # sam holds 2 chats
        assert AgentChannel.objects.get(agent__user=world.sam.user, channel="chat").active == 2
        first = Reservation.objects.get(task=tasks[0])
        routing.reservation_accept(actor=world.sam, reservation_id=first.pk, now=NOON)
        routing.task_complete(actor=world.sam, task_id=tasks[0].pk)
        routing.route_pending(now=NOON)
        assert Task.objects.get(pk=tasks[2].pk).status == TaskStatus.RESERVED  # routed when the slot freed
        with pytest.raises(Conflict):
            routing.task_complete(actor=world.sam, task_id=tasks[0].pk)


def test_an_offer_that_times_out_or_is_rejected_goes_to_the_next_agent(world, cc):
    task = _enqueue(world, attributes={"language": "yue"})
    with workspace_context(world.ws_a):
        res = Reservation.objects.get(task=task)
        with pytest.raises(NotFound):  # another agent's offer reads as missing
            routing.reservation_accept(actor=world.sue, reservation_id=res.pk, now=NOON)
        late = res.expires_at + dt.timedelta(seconds=1)
        with pytest.raises(Conflict):
            routing.reservation_accept(actor=world.sam, reservation_id=res.pk, now=late)
        res.refresh_from_db()
        assert res.status == ReservationStatus.TIMED_OUT
        task.refresh_from_db()
        # sam is excluded now and nobody else has 粤语 5: the contact waits for the step's timeout
        assert task.status == TaskStatus.PENDING and task.excluded_agents == [res.agent_id]
        assert routing.route_pending(now=late) == 0
        widened = task.step_entered_at + dt.timedelta(seconds=61)
        assert routing.tasks_widen(now=widened) == 1
        assert routing.route_pending(now=widened) == 1  # the catch-all step: any agent of 普通
        offer = Reservation.objects.get(task=task, status=ReservationStatus.PENDING)
        assert offer.agent.user_id in {world.sue.user_id, world.alice.user_id, world.sam.user_id}
        owner = {world.sue.user_id: world.sue, world.alice.user_id: world.alice, world.sam.user_id: world.sam}
        routing.reservation_reject(actor=owner[offer.agent.user_id], reservation_id=offer.pk)
        routing.route_pending(now=widened)
        again = Reservation.objects.get(task=task, status=ReservationStatus.PENDING)
        assert again.agent_id != offer.agent_id


def test_longest_idle_round_robin_and_fewest_contacts_pick_in_order(world, cc):
    with workspace_context(world.ws_a):
        q = cc["general"]
        sam_a, sue_a, alice_a = (routing.agent_for(m) for m in (world.sam, world.sue, world.alice))
        # longest idle: the agent offered longest ago first, never-offered first of all
        AgentChannel.objects.filter(agent=sam_a).update(last_offered_at=NOON - dt.timedelta(minutes=5))
        AgentChannel.objects.filter(agent=sue_a).update(last_offered_at=NOON - dt.timedelta(hours=1))
        t = _enqueue(world, attributes={})
        assert _offers(world, t) == ["alice"]
        t2 = _enqueue(world, attributes={})
        assert _offers(world, t2) == ["sue"]

        q.strategy = Strategy.ROUND_ROBIN
        q.rr_last_agent_id = sue_a.pk
        q.save()
        t3 = _enqueue(world, attributes={})
        nxt = sorted([sam_a.pk, sue_a.pk, alice_a.pk])
        expected = next((a for a in nxt if a > sue_a.pk), nxt[0])
        assert Reservation.objects.get(task=t3).agent_id == expected

        q.strategy = Strategy.FEWEST_CONTACTS
        q.save()
        today = timezone.localdate(NOON)
        for agent, n in ((sam_a, 9), (sue_a, 1), (alice_a, 4)):
            agent.contacts_today, agent.contacts_day = n, today
            agent.save()
        # sue and alice hold a chat each already; with capacity 2 both still have room
        t4 = _enqueue(world, attributes={})
        assert _offers(world, t4) == ["sue"]


def test_closed_or_full_queues_overflow_or_refuse_with_a_reason(world, cc):
    with workspace_context(world.ws_a):
        night = routing.queue_create(actor=world.olivia, name="夜班")
        day = routing.queue_create(
            actor=world.olivia, name="白班", hours={str(d): [["09:00", "18:00"]] for d in range(1, 6)},
            holidays=["2026-10-01"], overflow_id=night.pk, max_length=1,
        )  # fmt: skip
        wf = routing.workflow_create(actor=world.olivia, name="白班流程", steps=[{"queue_id": day.pk}])
        assert routing.queue_is_open(day, NOON)
        evening = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)  # 20:00 in Shanghai
        assert routing.task_enqueue(channel="chat", workflow=wf, now=evening).queue_id == night.pk
        holiday = dt.datetime(2026, 10, 1, 4, 0, tzinfo=dt.UTC)
        assert routing.task_enqueue(channel="chat", workflow=wf, now=holiday).queue_id == night.pk
        first = routing.task_enqueue(channel="email", workflow=wf, now=NOON)  # nobody serves 白班: it waits
        assert first.queue_id == day.pk and first.status == TaskStatus.PENDING
        assert routing.task_enqueue(channel="email", workflow=wf, now=NOON).queue_id == night.pk  # full
        night.delete()
        day.refresh_from_db()
        refused = routing.task_enqueue(channel="email", workflow=wf, now=NOON)
        assert refused.status == TaskStatus.REFUSED and "白班" in refused.status_reason


def test_the_same_source_is_queued_once(world, cc):
    a = _enqueue(world, source_type="chat", source_id="visitor-1")
    b = _enqueue(world, source_type="chat", source_id="visitor-1")
    assert a.pk == b.pk


def test_pausing_withdraws_open_offers_and_needs_a_reason(world, cc):
    task = _enqueue(world, attributes={"language": "yue"})
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed) as exc:
            routing.agent_set_presence(actor=world.sam, presence=Presence.PAUSED)
        assert "reason" in exc.value.fields
        routing.agent_set_presence(actor=world.sam, presence=Presence.PAUSED, reason="午休")
        assert Reservation.objects.get(task=task).status == ReservationStatus.CANCELLED
        assert Task.objects.get(pk=task.pk).status == TaskStatus.PENDING
        assert AgentChannel.objects.get(agent__user=world.sam.user, channel="chat").active == 0


def test_setup_is_for_supervisors_and_names_the_bad_step(world, cc):
    with workspace_context(world.ws_a):
        with pytest.raises(Forbidden):
            routing.queue_create(actor=world.sam, name="私人队列")
        with pytest.raises(Forbidden):
            routing.agent_set_presence(actor=world.sam, presence=Presence.AVAILABLE, member=world.sue)
        with pytest.raises(ValidationFailed) as exc:
            routing.workflow_create(
                actor=world.olivia, name="坏的",
                steps=[{"queue_id": cc["general"].pk}, {"expression": "open('/etc/passwd')", "queue_id": 1}],
            )  # fmt: skip
        assert "steps[1].expression" in exc.value.fields
        with pytest.raises(ValidationFailed) as exc:
            routing.queue_create(
                actor=world.olivia, name="x", hours={"1": [["18:00", "09:00"]]}, holidays=["明天"]
            )
        assert {"hours", "holidays"} <= set(exc.value.fields)
    with workspace_context(world.ws_b), pytest.raises(ValidationFailed):  # A's queue is not B's
        routing.workflow_create(actor=world.oscar, name="偷", steps=[{"queue_id": cc["general"].pk}])
