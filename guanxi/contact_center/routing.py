"""The routing engine (智能分配): enqueue a contact, offer it to the right agent, accept / reject / time out.

Channel-neutral: calls, chats, emails and SMS are Tasks routed the same way. Correct under concurrency with many web
and worker processes:

* a pending task is claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` (two routers never offer the same task);
* an agent's channel slot is taken with a conditional ``UPDATE … SET active = active + 1 WHERE active < capacity``
  (the database decides; a CHECK constraint backs it), after a ``FOR UPDATE SKIP LOCKED`` pick so routers racing
  for the same agent move on to the next one instead of waiting;
* a reservation is decided once (its row is locked; an expired or foreign reservation is refused).

Who may do what: an agent accepts, rejects and completes their own work; setting up queues, skills and workflows
needs workspace-wide edit of the contact-centre module (a supervisor).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, Exists, F, IntegerField, OuterRef, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.contact_center import expressions
from guanxi.contact_center.models import (
    DEFAULT_CAPACITY,
    OPEN_TASK_STATUSES,
    Agent,
    AgentChannel,
    AgentPresenceLog,
    AgentSkill,
    Channel,
    Presence,
    Queue,
    QueueMember,
    Reservation,
    ReservationStatus,
    Skill,
    Strategy,
    Task,
    TaskStatus,
    Workflow,
    WorkflowStep,
)
from guanxi.core.context import require_workspace
from guanxi.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from guanxi.ledger.services import audit_record, snapshot
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module, Scope

log = logging.getLogger("guanxi.contact_center")

# a value tier (from analytics) raises a waiting contact's priority: VIP customers are answered first
TIER_PRIORITY = {"vip": 20, "major": 10}
RING_ALL_LIMIT = 50


def require_supervisor(actor: Membership) -> None:
    if permissions.scope_for(actor, Module.CONTACT_CENTER, "edit") != Scope.WORKSPACE:
        raise Forbidden(_("Only contact-centre supervisors can change queues, skills and routing."))


def require_agent_rights(actor: Membership) -> None:
    if permissions.scope_for(actor, Module.CONTACT_CENTER, "edit") == Scope.NONE:
        raise Forbidden(_("You are not a contact-centre agent in this workspace."))


# --- set-up: skills, agents, queues, workflows ----------------------------------------------------------------------


def skill_get_or_create(*, actor: Membership, name: str) -> Skill:
    require_supervisor(actor)
    name = (name or "").strip()
    if not name or len(name) > 60:
        raise ValidationFailed(fields={"name": _("A skill needs a name of at most 60 characters.")})
    skill, _created = Skill.objects.get_or_create(name=name)
    return skill


def agent_for(member: Membership) -> Agent:
    """The member's agent record, created (offline, default capacities) on first use."""
    agent = Agent.objects.filter(user_id=member.user_id).first()
    if agent is None:
        with transaction.atomic():
            agent, created = Agent.objects.get_or_create(user_id=member.user_id)
            if created:
                AgentChannel.objects.bulk_create(
                    AgentChannel(workspace_id=agent.workspace_id, agent=agent, channel=c, capacity=n)
                    for c, n in DEFAULT_CAPACITY.items()
                )
    return agent


def agent_configure(
    *,
    actor: Membership,
    member: Membership,
    capacities: dict[str, int] | None = None,
    skills: dict[str, int] | None = None,
    queue_ids: Iterable[int] | None = None,
    phone_uri: str | None = None,
) -> Agent:
    """Set an agent's capacity per channel (0-50), skills with levels (1-10) and queues. Supervisor only. Audited."""
    require_supervisor(actor)
    errors: dict[str, str] = {}
    for channel, n in (capacities or {}).items():
        if channel not in Channel.values:
            errors[f"capacities.{channel}"] = _("Unknown channel.")
        elif not isinstance(n, int) or not 0 <= n <= 50:
            errors[f"capacities.{channel}"] = _("Capacity is a whole number from 0 to 50.")
    for name, level in (skills or {}).items():
        if not isinstance(level, int) or not 1 <= level <= 10:
            errors[f"skills.{name}"] = _("A skill level is a whole number from 1 to 10.")
    queue_ids = list(queue_ids) if queue_ids is not None else None
    if queue_ids is not None and Queue.objects.filter(pk__in=queue_ids).count() != len(set(queue_ids)):
        errors["queue_ids"] = _("Choose queues of this workspace.")
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        agent = agent_for(member)
        before = {"skills": _skills_of(agent), "capacity": _capacity_of(agent)}
        for channel, n in (capacities or {}).items():
            slot = AgentChannel.objects.select_for_update().get(agent=agent, channel=channel)
            if n < slot.active:
                raise ValidationFailed(
                    fields={
                        f"capacities.{channel}": _("The agent holds %(n)s contacts now.") % {"n": slot.active}
                    }
                )
            slot.capacity = n
            slot.save(update_fields=["capacity"])
        if skills is not None:
            AgentSkill.objects.filter(agent=agent).delete()
            for name, level in skills.items():
                skill = skill_get_or_create(actor=actor, name=name)
                AgentSkill.objects.create(agent=agent, skill=skill, level=level)
        if queue_ids is not None:
            QueueMember.objects.filter(agent=agent).exclude(queue_id__in=queue_ids).delete()
            for qid in set(queue_ids):
                QueueMember.objects.get_or_create(agent=agent, queue_id=qid)
        if phone_uri is not None:
            agent.phone_uri = phone_uri.strip()[:200]
            agent.save(update_fields=["phone_uri"])
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="cc.agent.configure", obj=agent,
            before=before, after={"skills": _skills_of(agent), "capacity": _capacity_of(agent)},
        )  # fmt: skip
    return agent


def _skills_of(agent: Agent) -> dict[str, int]:
    return dict(AgentSkill.objects.filter(agent=agent).values_list("skill__name", "level"))


def _capacity_of(agent: Agent) -> dict[str, int]:
    return dict(AgentChannel.objects.filter(agent=agent).values_list("channel", "capacity"))


def agent_set_presence(
    *,
    actor: Membership,
    presence: str,
    reason: str = "",
    member: Membership | None = None,
    now: dt.datetime | None = None,
) -> Agent:
    """Change an agent's presence (their own, or a supervisor for anyone). Going offline or pausing does not take
    away contacts already held; it stops new offers. Pending offers of an agent going away are cancelled."""
    target = member or actor
    if target.pk != actor.pk:
        require_supervisor(actor)
    else:
        require_agent_rights(actor)
    if presence not in Presence.values:
        raise ValidationFailed(fields={"presence": _("Unknown presence state.")})
    if presence == Presence.PAUSED and not reason.strip():
        raise ValidationFailed(
            fields={"reason": _("Say why you pause (break, training, after-call work...).")}
        )
    with transaction.atomic():
        agent = Agent.objects.select_for_update().get(pk=agent_for(target).pk)
        agent.presence = presence
        agent.pause_reason = reason.strip()[:100] if presence == Presence.PAUSED else ""
        agent.presence_since = now or timezone.now()
        agent.save(update_fields=["presence", "pause_reason", "presence_since"])
        AgentChannel.objects.filter(agent=agent).update(available=presence == Presence.AVAILABLE)
        # the presence history the KPI report's occupancy reads: close the open stretch, open the new one
        AgentPresenceLog.objects.filter(agent=agent, ended_at=None).update(ended_at=agent.presence_since)
        AgentPresenceLog.objects.create(
            agent=agent, presence=presence, reason=agent.pause_reason, started_at=agent.presence_since
        )
        if presence in (Presence.OFFLINE, Presence.PAUSED):
            for res in Reservation.objects.select_for_update().filter(
                agent=agent, status=ReservationStatus.PENDING
            ):
                _reservation_close(res, ReservationStatus.CANCELLED, requeue=True)
    return agent


def _clean_hours(hours: Any, errors: dict[str, str]) -> dict[str, list[list[str]]]:
    if not hours:
        return {}
    if not isinstance(hours, dict):
        errors["hours"] = _("Opening hours are a list of periods per weekday.")
        return {}
    out: dict[str, list[list[str]]] = {}
    for day, periods in hours.items():
        if str(day) not in {"1", "2", "3", "4", "5", "6", "7"}:
            errors["hours"] = _("Weekdays are numbered 1 (Monday) to 7 (Sunday).")
            continue
        clean = []
        for period in periods or []:
            try:
                start, end = (dt.time.fromisoformat(p) for p in period)
            except (TypeError, ValueError):
                errors["hours"] = _('Write periods as ["09:00", "18:00"].')
                continue
            if end <= start:
                errors["hours"] = _("A period must end after it starts.")
                continue
            clean.append([start.strftime("%H:%M"), end.strftime("%H:%M")])
        out[str(day)] = clean
    return out


def queue_create(
    *,
    actor: Membership,
    name: str,
    strategy: str = Strategy.LONGEST_IDLE,
    hours: dict | None = None,
    holidays: list[str] | None = None,
    max_length: int | None = None,
    overflow_id: int | None = None,
    service_level_seconds: int = 20,
    reservation_timeout: int = 15,
) -> Queue:
    """Create a queue. Supervisor only. Refuses an unknown strategy, bad hours, a holiday that is not a date."""
    require_supervisor(actor)
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name or len(name) > 100:
        errors["name"] = _("A queue needs a name of at most 100 characters.")
    elif Queue.objects.filter(name=name).exists():
        errors["name"] = _("A queue with this name exists.")
    if strategy not in Strategy.values:
        errors["strategy"] = _("Unknown strategy.")
    clean_hours = _clean_hours(hours, errors)
    days: list[str] = []
    for h in holidays or []:
        try:
            days.append(dt.date.fromisoformat(str(h)).isoformat())
        except ValueError:
            errors["holidays"] = _("%(value)s is not a date (YYYY-MM-DD).") % {"value": h}
    if overflow_id is not None and not Queue.objects.filter(pk=overflow_id).exists():
        errors["overflow_id"] = _("Choose a queue of this workspace.")
    if max_length is not None and max_length < 0:
        errors["max_length"] = _("The maximum cannot be negative.")
    if not 1 <= int(reservation_timeout) <= 600:
        errors["reservation_timeout"] = _("Between 1 and 600 seconds.")
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        queue = Queue.objects.create(
            name=name, strategy=strategy, hours=clean_hours, holidays=sorted(set(days)), max_length=max_length,
            overflow_id=overflow_id, service_level_seconds=service_level_seconds,
            reservation_timeout=reservation_timeout,
        )  # fmt: skip
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="cc.queue.create",
            obj=queue,
            after=snapshot(queue),
        )
    return queue


def workflow_create(
    *, actor: Membership, name: str, steps: list[dict[str, Any]], is_default: bool = False
) -> Workflow:
    """A routing workflow from ordered steps ``{"expression", "queue_id", "skills", "timeout", "priority_boost"}``.
    Each condition is checked when saved (the error names the step). Supervisor only. Audited."""
    require_supervisor(actor)
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name or len(name) > 100:
        errors["name"] = _("A workflow needs a name of at most 100 characters.")
    if not steps:
        errors["steps"] = _("Add at least one step.")
    clean: list[dict[str, Any]] = []
    for i, step in enumerate(steps or []):
        field = f"steps[{i}]"
        try:
            expr = expressions.validate_expression(step.get("expression", ""), f"{field}.expression")
        except ValidationFailed as exc:
            errors.update(exc.fields)
            continue
        queue_id = step.get("queue_id")
        if not Queue.objects.filter(pk=queue_id).exists() if str(queue_id).isdigit() else True:
            errors[f"{field}.queue_id"] = _("Choose a queue of this workspace.")
            continue
        reqs = []
        for r in step.get("skills") or []:
            level = r.get("min_level", 1)
            if not r.get("skill") or not isinstance(level, int) or not 1 <= level <= 10:
                errors[f"{field}.skills"] = _("Each required skill needs a name and a level from 1 to 10.")
                break
            reqs.append({"skill": str(r["skill"]).strip(), "min_level": level})
        timeout = step.get("timeout")
        if timeout is not None and (not isinstance(timeout, int) or timeout < 1):
            errors[f"{field}.timeout"] = _("A timeout is a whole number of seconds, at least 1.")
        clean.append(
            {"expression": expr, "queue_id": int(queue_id), "skills": reqs, "timeout": timeout,
             "priority_boost": int(step.get("priority_boost") or 0), "position": i}
        )  # fmt: skip
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        if is_default:
            Workflow.objects.filter(is_default=True).update(is_default=False)
        wf = Workflow.objects.create(name=name, is_default=is_default)
        for s in clean:
            WorkflowStep.objects.create(workflow=wf, **s)
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="cc.workflow.create", obj=wf,
            after={"name": name, "steps": clean},
        )  # fmt: skip
    return wf


# --- enqueue ---------------------------------------------------------------------------------------------------------


def queue_is_open(queue: Queue, at: dt.datetime) -> bool:
    """Open at that moment by the queue's hours (workspace time zone) and not a holiday; no hours: always open."""
    local = timezone.localtime(at)
    if local.date().isoformat() in (queue.holidays or []):
        return False
    if not queue.hours:
        return True
    t = local.strftime("%H:%M")
    return any(start <= t < end for start, end in queue.hours.get(str(local.isoweekday()), []))


def _waiting(queue_id: int) -> int:
    return Task.objects.filter(
        queue_id=queue_id, status__in=[TaskStatus.PENDING, TaskStatus.RESERVED]
    ).count()


def _place(queue: Queue, at: dt.datetime) -> tuple[Queue | None, str]:
    """The queue a new contact waits in: this one, or along its overflow chain when closed or full."""
    seen: set[int] = set()
    reason = ""
    while queue is not None and queue.pk not in seen:
        seen.add(queue.pk)
        if not queue_is_open(queue, at):
            reason = _("Queue %(q)s is closed.") % {"q": queue.name}
        elif queue.max_length is not None and _waiting(queue.pk) >= queue.max_length:
            reason = _("Queue %(q)s is full.") % {"q": queue.name}
        else:
            return queue, ""
        queue = queue.overflow
    return None, reason


def _first_step(workflow: Workflow, attrs: dict[str, Any], after: int = -1) -> WorkflowStep | None:
    for step in workflow.steps.all():
        if step.position > after and expressions.matches(step.expression, attrs):
            return step
    return None


def task_enqueue(
    *,
    channel: str,
    attributes: dict[str, Any] | None = None,
    workflow: Workflow | None = None,
    customer_id: int | None = None,
    conversation_id: int | None = None,
    source_type: str = "",
    source_id: str = "",
    priority: int = 0,
    now: dt.datetime | None = None,
) -> Task:
    """Put a contact in line: the workflow's first matching step picks queue and skills; a closed or full queue
    overflows along its chain, or the task is refused (status ``refused`` with the reason, for the channel to
    answer: voicemail, leave a message). Idempotent on (source_type, source_id) while the task is open.
    Runs in the current workspace; routing happens on commit (and by the router job)."""
    ws = require_workspace()
    if channel not in Channel.values:
        raise ValidationFailed(fields={"channel": _("Unknown channel.")})
    now = now or timezone.now()
    attrs = {"channel": channel, **(attributes or {})}
    if source_id:
        existing = Task.objects.filter(
            source_type=source_type, source_id=source_id, status__in=OPEN_TASK_STATUSES
        ).first()
        if existing is not None:
            return existing
    workflow = workflow or Workflow.objects.filter(is_default=True).first()
    if workflow is None:
        raise Conflict(
            _("No routing workflow is set up: create one and make it the default."), code="no_workflow"
        )
    step = _first_step(workflow, attrs)
    boost = TIER_PRIORITY.get(str(attrs.get("tier") or "").lower(), 0)
    task = Task(
        workspace=ws, channel=channel, attributes=attrs, workflow=workflow, customer_id=customer_id,
        conversation_id=conversation_id, source_type=source_type, source_id=source_id, priority=priority + boost,
    )  # fmt: skip
    if step is None:
        task.status, task.status_reason = TaskStatus.REFUSED, _("No routing step matches this contact.")
    else:
        queue, reason = _place(step.queue, now)
        task.step, task.skills, task.priority = step, step.skills, task.priority + step.priority_boost
        task.step_entered_at = now
        if queue is None:
            task.queue, task.status, task.status_reason = step.queue, TaskStatus.REFUSED, reason
        else:
            task.queue, task.queued_at = queue, now
    task.save()
    if task.status == TaskStatus.PENDING:
        transaction.on_commit(lambda: _route_soon(ws.pk))
    return task


def _route_soon(workspace_id: int) -> None:
    """Route right after the commit, in this process: the screen pop's latency is this call plus the push, not a
    trip through the job queue (whose idle workers poll with a back-off of up to seconds). If it fails, the router
    job takes over; the minute sweep is the backstop for both. Safe from many processes at once (SKIP LOCKED)."""
    from guanxi.contact_center.tasks import route_now, route_workspace

    try:
        route_now(workspace_id)
    except Exception:  # noqa: BLE001 - the job retries; the caller's commit is already done
        log.warning("routing after commit failed for workspace %s; queued for the router job", workspace_id,
                    exc_info=True)  # fmt: skip
        route_workspace(workspace_id)


# --- routing ---------------------------------------------------------------------------------------------------------


def _eligible(task: Task) -> Any:
    """Channel slots of agents who may take the task now: available, serving its queue, with every required skill
    at the level asked, with room on the channel, not excluded (refused or timed out on this task)."""
    qs = AgentChannel.objects.filter(channel=task.channel, available=True, active__lt=F("capacity")).filter(
        Exists(QueueMember.objects.filter(queue_id=task.queue_id, agent_id=OuterRef("agent_id")))
    )
    for req in task.skills or []:
        qs = qs.filter(
            Exists(
                AgentSkill.objects.filter(
                    agent_id=OuterRef("agent_id"),
                    skill__name=req["skill"],
                    level__gte=req.get("min_level", 1),
                )
            )
        )
    if task.excluded_agents:
        qs = qs.exclude(agent_id__in=task.excluded_agents)
    return qs


def _ordered(qs: Any, queue: Queue) -> Any:
    s = queue.strategy
    if s == Strategy.ROUND_ROBIN:
        last = queue.rr_last_agent_id or 0
        return qs.annotate(
            _wrap=Case(When(agent_id__gt=last, then=Value(0)), default=Value(1), output_field=IntegerField())
        ).order_by("_wrap", "agent_id")
    if s == Strategy.FEWEST_CONTACTS:
        return qs.order_by(F("agent__contacts_today").asc(), F("last_offered_at").asc(nulls_first=True))
    if s == Strategy.RANDOM:
        return qs.order_by("?")
    return qs.order_by(F("last_offered_at").asc(nulls_first=True), "agent_id")  # longest idle, ring-all


def _take_slot(slot_id: int) -> bool:
    """Raise the slot's active count if there is room. The database decides, so two routers cannot both fill the
    last place."""
    return (
        AgentChannel.objects.filter(pk=slot_id, active__lt=F("capacity")).update(active=F("active") + 1) == 1
    )


def _release_slot(agent_id: int, channel: str) -> None:
    AgentChannel.objects.filter(agent_id=agent_id, channel=channel, active__gt=0).update(
        active=F("active") - 1
    )


def _offer(task: Task, slots: list[AgentChannel], now: dt.datetime) -> list[Reservation]:
    queue = task.queue
    made = []
    for slot in slots:
        if not _take_slot(slot.pk):
            continue
        made.append(
            Reservation.objects.create(
                task=task,
                agent_id=slot.agent_id,
                expires_at=now + dt.timedelta(seconds=queue.reservation_timeout),
            )
        )
        AgentChannel.objects.filter(agent_id=slot.agent_id).update(last_offered_at=now)
        if queue.strategy != Strategy.RING_ALL:
            break
    if made:
        task.status = TaskStatus.RESERVED
        task.save(update_fields=["status"])
        _nudge_on_commit([r.agent_id for r in made])
        if queue.strategy == Strategy.ROUND_ROBIN:
            Queue.objects.filter(pk=queue.pk).update(rr_last_agent_id=made[0].agent_id)
    return made


def _nudge_on_commit(agent_ids: list[int]) -> None:
    """After commit, tell these agents' consoles that their offers changed (guanxi.contact_center.realtime)."""
    from guanxi.contact_center.realtime import nudge_agents

    user_ids = list(Agent.objects.filter(pk__in=agent_ids).values_list("user_id", flat=True))
    transaction.on_commit(lambda: nudge_agents(user_ids, {"kind": "cc.offer"}))


def route_task(task: Task, now: dt.datetime | None = None) -> list[Reservation]:
    """Offer one claimed (row-locked, pending) task to the best eligible agent(s). Runs in the caller's
    transaction. Returns the reservations made (none when no agent is free: the task keeps waiting)."""
    now = now or timezone.now()
    if task.queue_id is None:
        return []
    queue = task.queue
    if queue.strategy == Strategy.ROUND_ROBIN:
        queue = Queue.objects.select_for_update().get(pk=queue.pk)  # the pointer is shared: one at a time
        task.queue = queue
    limit = RING_ALL_LIMIT if queue.strategy == Strategy.RING_ALL else 3
    slots = list(_ordered(_eligible(task), queue).select_for_update(skip_locked=True, of=("self",))[:limit])
    return _offer(task, slots, now)


def route_pending(*, limit: int = 100, now: dt.datetime | None = None) -> int:
    """Route waiting tasks of the current workspace, highest priority and oldest first. Safe to run from many
    workers at once: each claims tasks with SKIP LOCKED. Returns how many tasks were offered.

    On PostgreSQL each task is claimed by one statement (``CLAIM_SQL``) and offered by another (``_pick_sql``); elsewhere (SQLite, one
    writer at a time, so no race to guard) by the ORM steps of ``route_task``. Both apply the same rules."""
    now = now or timezone.now()
    if connection.vendor == "postgresql":
        return _route_pending_sql(limit=limit, now=now)
    return _route_pending_orm(limit=limit, now=now)


def _route_pending_orm(*, limit: int, now: dt.datetime) -> int:
    offered = 0
    with transaction.atomic():
        claimed = list(
            Task.objects.filter(status=TaskStatus.PENDING)
            .select_related("queue")
            .order_by("-priority", "created_at", "id")
            .select_for_update(skip_locked=True, of=("self",))[:limit]
        )
        for task in claimed:
            if route_task(task, now):
                offered += 1
    return offered


# One assignment, two statements in one transaction (PostgreSQL):
#
# 1. ``CLAIM_SQL`` claims the next waiting task (``FOR UPDATE SKIP LOCKED``: another router's task is passed over)
#    and returns what the pick needs: its channel, queue, the queue's strategy, the agents it must not go to, and its
#    required skills resolved once to (skill id, minimum level) pairs (an unknown skill resolves to id 0, which no
#    agent has, so the task waits).
# 2. ``_pick_sql(strategy, n_skills)`` picks eligible agents' channel slots (``SKIP LOCKED`` again: a slot another
#    router is taking is passed over, not waited for), raises the slot's count where there is still room (the CHECK
#    constraint cc_agentchannel_within_capacity backs it), writes the reservation(s), marks the task offered and
#    moves the round-robin pointer.
#
# Why two: with one statement the queue, channel and skills came from the claimed row as InitPlan parameters the
# planner could not see, so it drove the pick from the queue members and sorted (50 of 55 ms at 1,000 agents). Here
# they are real parameters of a statement prepared per strategy and number of skills: longest idle and ring-all
# walk cc_agentchannel_idle_idx in order and stop at the first eligible slot, and each candidate's queue membership
# and skills are checked by the unique (queue, agent) and (agent, skill) indexes, one row each, so row-level
# security's workspace predicate is a filter on that row instead of a second index scan. ``OFFSET 0`` keeps each
# EXISTS a per-candidate SubPlan: without it the planner turned the skill check into a join over
# cc_agentskill_ws_skill_idx (107 rows read per candidate, 114 ms at 1,000 agents; 2.1 ms with it, same load). The SQL runs as the
# tenant role like any other statement (no SECURITY DEFINER): RLS still hides every other workspace's rows, and
# the statements name the workspace explicitly as well. ``longest idle`` reads the channel row's own
# last_offered_at: touching the agent's other channel rows here would lock them in no fixed order and let two
# routers deadlock.
CLAIM_SQL = """
SELECT t.id, t.channel, t.queue_id, q.strategy, q.reservation_timeout, COALESCE(q.rr_last_agent_id, 0),
       ARRAY(SELECT jsonb_array_elements_text(t.excluded_agents)::bigint),
       ARRAY(SELECT COALESCE(k.id, 0)
             FROM jsonb_array_elements(t.skills) WITH ORDINALITY req(r, n)
             LEFT JOIN contact_center_skill k ON k.workspace_id = t.workspace_id AND k.name = req.r->>'skill'
             ORDER BY req.n),
       ARRAY(SELECT COALESCE((req.r->>'min_level')::int, 1)
             FROM jsonb_array_elements(t.skills) WITH ORDINALITY req(r, n) ORDER BY req.n)
FROM contact_center_task t
JOIN contact_center_queue q ON q.id = t.queue_id
WHERE t.workspace_id = %(ws)s::bigint AND t.status = 'pending' AND NOT (t.id = ANY(%(skip)s::bigint[]))
ORDER BY t.priority DESC, t.created_at, t.id
LIMIT 1
FOR UPDATE OF t SKIP LOCKED
"""

_PICK_ORDER = {
    # longest idle and ring-all: exactly cc_agentchannel_idle_idx's order, so the pick walks it and stops early
    Strategy.LONGEST_IDLE: "ac.last_offered_at ASC NULLS FIRST, ac.agent_id",
    Strategy.RING_ALL: "ac.last_offered_at ASC NULLS FIRST, ac.agent_id",
    # the next agent after the one last offered, wrapping round
    Strategy.ROUND_ROBIN: "ac.agent_id <= %(rr_last)s::bigint, ac.agent_id",
    Strategy.FEWEST_CONTACTS: "a.contacts_today, ac.last_offered_at ASC NULLS FIRST, ac.agent_id",
    Strategy.RANDOM: "random()",
}

_PICK_TEMPLATE = """
WITH pick AS (
    SELECT ac.id AS slot_id, ac.agent_id
    FROM contact_center_agentchannel ac{join}
    WHERE ac.workspace_id = %(ws)s::bigint AND ac.channel = %(channel)s
      AND ac.available AND ac.active < ac.capacity
      AND EXISTS (SELECT 1 FROM contact_center_queuemember qm
                  WHERE qm.queue_id = %(queue)s::bigint AND qm.agent_id = ac.agent_id OFFSET 0){skills}
      AND ac.agent_id <> ALL(%(excluded)s::bigint[])
    ORDER BY {order}
    LIMIT {limit}
    FOR UPDATE OF ac SKIP LOCKED
), slot AS (
    UPDATE contact_center_agentchannel ac
    SET active = ac.active + 1, last_offered_at = %(now)s::timestamptz
    FROM pick
    WHERE ac.id = pick.slot_id AND ac.active < ac.capacity
    RETURNING ac.agent_id
), res AS (
    INSERT INTO contact_center_reservation (workspace_id, task_id, agent_id, status, created_at, expires_at)
    SELECT %(ws)s::bigint, %(task)s::bigint, slot.agent_id, 'pending', %(now)s::timestamptz,
           %(now)s::timestamptz + %(timeout)s::int * interval '1 second'
    FROM slot
    RETURNING id, agent_id
), marked AS (
    UPDATE contact_center_task t SET status = 'reserved'
    WHERE t.id = %(task)s::bigint AND EXISTS (SELECT 1 FROM slot)
    RETURNING t.id
){pointer}
SELECT res.id, a.user_id FROM res JOIN contact_center_agent a ON a.id = res.agent_id
"""

_SKILL_CHECK = """
      AND EXISTS (SELECT 1 FROM contact_center_agentskill s{i}
                  WHERE s{i}.agent_id = ac.agent_id AND s{i}.skill_id = %(skill{i})s::bigint
                    AND s{i}.level >= %(level{i})s::int OFFSET 0)"""

_POINTER = """, pointer AS (
    UPDATE contact_center_queue q SET rr_last_agent_id = (SELECT min(agent_id) FROM slot)
    WHERE q.id = %(queue)s::bigint AND EXISTS (SELECT 1 FROM slot)
    RETURNING q.id
)"""

_pick_cache: dict[tuple[str, int], str] = {}


def _pick_sql(strategy: str, n_skills: int) -> str:
    """The pick-and-offer statement for one strategy and number of required skills (a handful of texts, each
    prepared once per connection)."""
    key = (strategy, n_skills)
    if key not in _pick_cache:
        _pick_cache[key] = _PICK_TEMPLATE.format(
            join=(
                "\n    JOIN contact_center_agent a ON a.id = ac.agent_id"
                if strategy == Strategy.FEWEST_CONTACTS
                else ""
            ),
            skills="".join(_SKILL_CHECK.format(i=i) for i in range(n_skills)),
            order=_PICK_ORDER.get(strategy, _PICK_ORDER[Strategy.LONGEST_IDLE]),
            limit=RING_ALL_LIMIT if strategy == Strategy.RING_ALL else 1,
            pointer=_POINTER if strategy == Strategy.ROUND_ROBIN else "",
        )
    return _pick_cache[key]


def _route_pending_sql(*, limit: int, now: dt.datetime) -> int:
    import psycopg

    ws = require_workspace()
    offered, skip, user_ids = 0, [], []
    with transaction.atomic():
        connection.ensure_connection()
        # a server-side-binding cursor on Django's own connection (same transaction, role and workspace setting),
        # so each statement is prepared once per connection: planning cost as much as running
        cur = psycopg.Cursor(connection.connection)
        for _i in range(limit):
            cur.execute(CLAIM_SQL, {"ws": ws.pk, "skip": skip}, prepare=True)
            claimed = cur.fetchone()
            if claimed is None:
                break  # nothing (else) waits, or every waiting task is being routed by another worker
            task_id, channel, queue_id, strategy, timeout, rr_last, excluded, skill_ids, levels = claimed
            params: dict[str, Any] = {
                "ws": ws.pk, "task": task_id, "channel": channel, "queue": queue_id, "timeout": timeout,
                "excluded": excluded, "now": now,
            }  # fmt: skip
            if strategy == Strategy.ROUND_ROBIN:
                params["rr_last"] = rr_last
            for i, (sid, lvl) in enumerate(zip(skill_ids, levels, strict=True)):
                params[f"skill{i}"], params[f"level{i}"] = sid, lvl
            cur.execute(_pick_sql(strategy, len(skill_ids)), params, prepare=True)
            rows = cur.fetchall()
            if not rows:
                skip.append(task_id)  # no agent free for it: it keeps its place (and its lock until commit)
                continue
            offered += 1
            user_ids.extend(r[1] for r in rows)
        if user_ids:
            transaction.on_commit(lambda: _nudge_users(user_ids))
    return offered


def _nudge_users(user_ids: list[int]) -> None:
    from guanxi.contact_center.realtime import nudge_agents

    nudge_agents(user_ids, {"kind": "cc.offer"})


# --- decisions -----------------------------------------------------------------------------------------------------


def _reservation_close(res: Reservation, status: str, *, requeue: bool) -> None:
    """Close an open reservation: free the agent's slot; with ``requeue`` put the task back in line (unless another
    offer of a ring-all is still open) and keep this agent out of its next offers."""
    res.status, res.decided_at = status, timezone.now()
    res.save(update_fields=["status", "decided_at"])
    _nudge_on_commit([res.agent_id])
    task = Task.objects.select_for_update().get(pk=res.task_id)
    _release_slot(res.agent_id, task.channel)
    if requeue and task.status == TaskStatus.RESERVED:
        if status in (ReservationStatus.REJECTED, ReservationStatus.TIMED_OUT):
            task.excluded_agents = sorted({*task.excluded_agents, res.agent_id})
        still_open = task.reservations.filter(status=ReservationStatus.PENDING).exists()
        if not still_open:
            task.status = TaskStatus.PENDING
        task.save(update_fields=["excluded_agents", "status"])


def _own_reservation(actor: Membership, reservation_id: Any) -> Reservation:
    res = (
        Reservation.objects.select_for_update().filter(pk=reservation_id).select_related("agent").first()
        if str(reservation_id).isdigit()
        else None
    )
    if res is None or res.agent.user_id != actor.user_id:
        raise NotFound()  # someone else's offer reads as missing
    return res


def reservation_accept(*, actor: Membership, reservation_id: Any, now: dt.datetime | None = None) -> Task:
    """The agent takes the offered contact. Refuses an offer that expired, was withdrawn or decided, or that is
    another agent's (404). Other open offers of a ring-all are withdrawn. Counts a contact for the agent today."""
    now = now or timezone.now()
    with transaction.atomic():
        res = _own_reservation(actor, reservation_id)
        if res.status != ReservationStatus.PENDING:
            raise Conflict(_("This offer is no longer open."), code="reservation_closed")
        expired = res.expires_at <= now
        if expired:  # close it (committed) and tell the agent after the block
            _reservation_close(res, ReservationStatus.TIMED_OUT, requeue=True)
            transaction.on_commit(lambda: _route_soon(res.workspace_id))
    if expired:
        raise Conflict(_("This offer timed out and went to the next agent."), code="reservation_expired")
    with transaction.atomic():
        res = _own_reservation(actor, reservation_id)
        if res.status != ReservationStatus.PENDING:
            raise Conflict(_("This offer is no longer open."), code="reservation_closed")
        task = Task.objects.select_for_update().get(pk=res.task_id)
        res.status, res.decided_at = ReservationStatus.ACCEPTED, now
        res.save(update_fields=["status", "decided_at"])
        for other in task.reservations.select_for_update().filter(status=ReservationStatus.PENDING):
            other.status, other.decided_at = ReservationStatus.CANCELLED, now
            other.save(update_fields=["status", "decided_at"])
            _release_slot(other.agent_id, task.channel)
        task.status, task.agent_id, task.assigned_at = TaskStatus.ASSIGNED, res.agent_id, now
        task.save(update_fields=["status", "agent", "assigned_at"])
        agent = Agent.objects.select_for_update().get(pk=res.agent_id)
        today = timezone.localdate(now)
        agent.contacts_today = (agent.contacts_today if agent.contacts_day == today else 0) + 1
        agent.contacts_day = today
        agent.save(update_fields=["contacts_today", "contacts_day"])
        if task.conversation_id is not None:
            from guanxi.contact_center.services import conversation_assigned

            conversation_assigned(task, actor.user)
    return task


def reservation_reject(*, actor: Membership, reservation_id: Any) -> None:
    """The agent declines the offer: the task goes to the next agent (never back to this one)."""
    with transaction.atomic():
        res = _own_reservation(actor, reservation_id)
        if res.status != ReservationStatus.PENDING:
            raise Conflict(_("This offer is no longer open."), code="reservation_closed")
        _reservation_close(res, ReservationStatus.REJECTED, requeue=True)
        transaction.on_commit(lambda: _route_soon(res.workspace_id))


def reservations_expire(*, now: dt.datetime | None = None) -> int:
    """Time out the current workspace's offers past their deadline (the job runs every few seconds). Each offer is
    closed once, also with several workers. Returns how many."""
    now = now or timezone.now()
    n = 0
    with transaction.atomic():
        for res in Reservation.objects.select_for_update(skip_locked=True).filter(
            status=ReservationStatus.PENDING, expires_at__lte=now
        ):
            _reservation_close(res, ReservationStatus.TIMED_OUT, requeue=True)
            n += 1
    return n


def tasks_widen(*, now: dt.datetime | None = None) -> int:
    """Move waiting tasks whose step timed out on to the next matching step of their workflow (a wider pool: other
    queue, fewer skills). Returns how many moved."""
    now = now or timezone.now()
    moved = 0
    with transaction.atomic():
        for task in (
            Task.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=TaskStatus.PENDING, step__timeout__isnull=False)
            .select_related("step")
        ):
            if task.step_entered_at + dt.timedelta(seconds=task.step.timeout) > now:
                continue
            nxt = _first_step(task.workflow, task.attributes, after=task.step.position)
            if nxt is None:
                continue
            queue, _reason = _place(nxt.queue, now)
            task.step, task.skills, task.step_entered_at = nxt, nxt.skills, now
            task.priority += nxt.priority_boost
            if queue is not None and queue.pk != task.queue_id:
                task.queue, task.queued_at = queue, now
            task.excluded_agents = []
            task.save(update_fields=["step", "skills", "step_entered_at", "priority", "queue", "queued_at",
                                     "excluded_agents"])  # fmt: skip
            moved += 1
    return moved


def task_wrap_up(*, actor: Membership, task_id: Any) -> Task:
    """The agent finished talking and is writing notes: the slot stays held until ``task_complete``."""
    with transaction.atomic():
        task = _own_task(actor, task_id)
        if task.status != TaskStatus.ASSIGNED:
            raise Conflict(_("Only a contact you hold can go to wrap-up."), code="task_not_assigned")
        task.status = TaskStatus.WRAPPING
        task.save(update_fields=["status"])
    return task


def task_complete(*, actor: Membership, task_id: Any, now: dt.datetime | None = None) -> Task:
    """The agent is done with the contact: the slot is freed. Completing twice is refused."""
    with transaction.atomic():
        task = _own_task(actor, task_id)
        if task.status not in (TaskStatus.ASSIGNED, TaskStatus.WRAPPING):
            raise Conflict(_("This contact is not open."), code="task_not_open")
        task.status, task.completed_at = TaskStatus.COMPLETED, now or timezone.now()
        task.save(update_fields=["status", "completed_at"])
        _release_slot(task.agent_id, task.channel)
    transaction.on_commit(lambda: _route_soon(task.workspace_id))
    return task


def task_cancel(*, task_id: int, reason: str = "") -> Task | None:
    """The contact left before an agent took it (caller hung up, chat closed): withdraw its offers. System call."""
    with transaction.atomic():
        task = Task.objects.select_for_update().filter(pk=task_id).first()
        if task is None or task.status not in (TaskStatus.PENDING, TaskStatus.RESERVED):
            return task
        for res in task.reservations.select_for_update().filter(status=ReservationStatus.PENDING):
            _reservation_close(res, ReservationStatus.CANCELLED, requeue=False)
        task.status, task.status_reason, task.completed_at = (
            TaskStatus.CANCELLED,
            reason[:200],
            timezone.now(),
        )
        task.save(update_fields=["status", "status_reason", "completed_at"])
    return task


def _own_task(actor: Membership, task_id: Any) -> Task:
    task = (
        Task.objects.select_for_update(of=("self",)).filter(pk=task_id).select_related("agent").first()
        if str(task_id).isdigit()
        else None
    )
    if task is None or task.agent is None or task.agent.user_id != actor.user_id:
        raise NotFound()
    return task
