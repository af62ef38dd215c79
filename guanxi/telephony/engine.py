"""The call-control engine: telephony events in, verbs out (docs/telephony.md).

An adapter (here: Kamailio + pjsua2 workers, ``guanxi.telephony.adapter``; later a cloud provider or Asterisk ARI)
reports what happened on a call leg; ``handle_event`` updates the call record, walks the IVR, talks to the routing
engine (``guanxi.contact_center.routing``) and answers with the verbs the adapter carries out next. Each event runs
in one transaction with the leg's row locked, so two workers reporting on one call never interleave.

Verbs (each a dict, ``call_id`` absent: the leg the event was about):
  play {text, audio}          say the prompt (``audio``: relative name in the telephony media folder, may be empty)
  gather {count, timeout}     collect up to ``count`` DTMF digits, then send ``digits`` (empty on timeout)
  record {max_seconds}        record the caller, then send ``recording``
  enqueue {queue, task_id, poll_seconds}  hold the caller (music) and send ``heartbeat`` every poll_seconds
  dial {leg_id, to, timeout}  place a new leg (to an agent's SIP URI or a number), report it under ``leg_id``
  bridge {call_id, with}      connect leg ``call_id`` with leg ``with``
  transfer {to}               hand the leg to another SIP URI
  hangup {call_id?, reason}   end the leg
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.contact_center import routing
from guanxi.contact_center.models import Agent, Reservation, ReservationStatus, Task, TaskStatus
from guanxi.core.context import workspace_context
from guanxi.core.errors import Conflict, NotFound, ValidationFailed
from guanxi.customers.normalize import InvalidValue, normalize_phone
from guanxi.telephony import prompts
from guanxi.telephony.models import (
    OPEN_STATES,
    Call,
    Callback,
    CallbackStatus,
    CallState,
    Disposition,
    IvrNode,
    LegKind,
    NodeKind,
    PhoneNumber,
    UnroutedCall,
)
from guanxi.workspaces.models import Membership

log = logging.getLogger("guanxi.telephony")

Verb = dict[str, Any]
POLL_SECONDS = 1
CALLBACK_RETRY_SECONDS = 300  # a callback the customer did not answer is tried again after 5, 10, ... minutes
MAX_HOPS = 20  # nodes entered per event without waiting for the caller: a loop in the tree ends the call
CALLBACK_SOURCE = "telephony_callback"


# --- verbs -------------------------------------------------------------------------------------------------------
def play(text: str, audio: str = "") -> Verb:
    return {"verb": "play", "text": text, "audio": audio or prompts.prompt_for_text(text)}


def hangup(reason: str, call_id: str | None = None) -> Verb:
    v: Verb = {"verb": "hangup", "reason": reason}
    if call_id:
        v["call_id"] = call_id
    return v


def _node_play(node: IvrNode) -> list[Verb]:
    if not node.prompt and not node.audio:
        return []
    return [play(node.prompt, node.audio)]


# --- helpers -----------------------------------------------------------------------------------------------------
def _e164(number: str) -> str:
    number = (number or "").strip()
    if number.startswith("sip:"):
        number = number[4:].split("@", 1)[0]
    try:
        return normalize_phone(number).e164
    except InvalidValue:
        return number


def _member_of(agent: Agent) -> Membership | None:
    return Membership.objects.filter(user_id=agent.user_id, is_active=True).select_related("user").first()


def _locked_leg(adapter: str, call_id: str) -> Call | None:
    """The leg with this (adapter, call id), row-locked: unique across workspaces (``tel_call_unique_adapter_external``)."""
    return Call.all_workspaces.select_for_update().filter(adapter=adapter, external_id=call_id).first()


def _new_leg(parent: Call, kind: str, *, to: str, agent: Agent | None = None, now: dt.datetime) -> Call:
    return Call.objects.create(
        workspace_id=parent.workspace_id, adapter=parent.adapter, external_id=f"gx-{uuid.uuid4().hex}",
        parent=parent, kind=kind,
        caller=parent.called if kind == LegKind.AGENT else "", called=to, customer_id=parent.customer_id,
        agent=agent, queue_id=parent.queue_id, task_id=parent.task_id, started_at=now, heartbeat_at=now,
    )  # fmt: skip


def _finish(call: Call, now: dt.datetime, disposition: str, cause: str) -> None:
    """Close a leg: end time, wait and talk times, disposition (kept when already set), cause."""
    if call.state == CallState.ENDED:
        return
    call.state, call.ended_at = CallState.ENDED, now
    if not call.disposition:
        call.disposition = disposition
    call.end_cause = (call.end_cause or cause)[:200]
    if call.queued_at and call.wait_seconds is None:
        call.wait_seconds = ((call.connected_at or now) - call.queued_at).total_seconds()
    if call.connected_at:
        call.talk_seconds = (now - call.connected_at).total_seconds()
    call.save()
    if call.customer_id and call.parent_id is None:
        transaction.on_commit(lambda c=call: _timeline(c))


def _timeline(call: Call) -> None:
    from guanxi.customers.timeline import interaction_record

    try:
        with workspace_context(call.workspace):
            interaction_record(
                workspace=call.workspace, customer_id=call.customer_id, kind="call", occurred_at=call.started_at,
                direction="in" if call.kind == LegKind.INBOUND else "out",
                subject=str(call.get_disposition_display()), source_type="telephony.call", source_id=str(call.pk),
                data={"disposition": call.disposition, "wait": call.wait_seconds, "talk": call.talk_seconds,
                      "ivr_path": call.ivr_path, "recording": bool(call.recording)},
                external_key=f"tel:call:{call.pk}",
            )  # fmt: skip
    except Exception:  # noqa: BLE001 - the call record is committed; the timeline entry is best effort
        log.exception("timeline entry for call %s failed", call.pk)


# --- IVR ---------------------------------------------------------------------------------------------------------
def _node(call: Call, key: str) -> IvrNode | None:
    if not key or call.menu_id is None:
        return None
    return IvrNode.objects.filter(menu_id=call.menu_id, key=key).first()


def _is_open(node: IvrNode, at: dt.datetime) -> bool:
    local = timezone.localtime(at)
    if local.date().isoformat() in (node.holidays or []):
        return False
    if not node.hours:
        return True
    t = local.strftime("%H:%M")
    return any(start <= t < end for start, end in node.hours.get(str(local.isoweekday()), []))


def _order_status_text(call: Call) -> str:
    from guanxi.sales.models import Order

    if call.customer_id is None:
        return _("We could not find orders for the number you are calling from.")
    order = Order.objects.filter(customer_id=call.customer_id).order_by("-id").first()
    if order is None:
        return _("We could not find orders for the number you are calling from.")
    return _("Your latest order %(number)s is %(status)s.") % {
        "number": " ".join(order.number), "status": order.get_status_display(),
    }  # fmt: skip


def _enter(call: Call, key: str, now: dt.datetime, verbs: list[Verb] | None = None) -> list[Verb]:
    """Walk from node ``key`` until the call waits for the caller (digits, queue, recording) or ends."""
    verbs = verbs if verbs is not None else []
    for _hop in range(MAX_HOPS):
        node = _node(call, key)
        if node is None:
            call.ivr_path = [*call.ivr_path, f"!{key or '-'}"]
            return _end_in_ivr(call, verbs, now, _("The IVR has no node %(key)s.") % {"key": key or "-"})
        call.node_key, call.retries = node.key, 0
        call.ivr_path = [*call.ivr_path, node.key]
        if node.kind == NodeKind.MENU:
            call.state = CallState.IVR
            return [
                *verbs,
                *_node_play(node),
                {"verb": "gather", "count": node.max_digits, "timeout": node.timeout},
            ]
        if node.kind == NodeKind.MESSAGE:
            verbs += _node_play(node)
            key = node.next
            if not key:
                return _end_in_ivr(call, verbs, now, "ivr_end")
            continue
        if node.kind == NodeKind.ORDER_STATUS:
            verbs += _node_play(node)
            verbs.append(play(_order_status_text(call)))
            key = node.next
            if not key:
                return _end_in_ivr(call, verbs, now, "ivr_end")
            continue
        if node.kind == NodeKind.HOURS:
            key = node.next if _is_open(node, now) else node.closed_next
            verbs += _node_play(node) if not _is_open(node, now) else []
            continue
        if node.kind == NodeKind.QUEUE:
            return _enqueue(call, node, now, verbs)
        if node.kind == NodeKind.VOICEMAIL:
            return _voicemail(call, node, now, verbs)
        if node.kind == NodeKind.HANGUP:
            return _end_in_ivr(call, [*verbs, *_node_play(node)], now, "ivr_hangup")
    return _end_in_ivr(call, verbs, now, _("The IVR loops without waiting for the caller."))


def _end_in_ivr(call: Call, verbs: list[Verb], now: dt.datetime, cause: str) -> list[Verb]:
    call.disposition = call.disposition or Disposition.SELF_SERVICE
    call.end_cause = call.end_cause or cause[:200]
    return [*verbs, hangup(cause)]


def _voicemail(call: Call, node: IvrNode | None, now: dt.datetime, verbs: list[Verb]) -> list[Verb]:
    call.state = CallState.VOICEMAIL
    if node is not None and node.kind == NodeKind.VOICEMAIL:
        call.node_key = node.key
        prompt = _node_play(node) or [
            play(_("Please leave a message after the tone. We will call you back."))
        ]
        limit = node.max_record
    else:
        call.node_key = ""
        prompt = [
            play(_("All our agents are busy. Please leave a message after the tone. We will call you back."))
        ]
        limit = 60
    call.ivr_path = [*call.ivr_path, "voicemail"]
    return [*verbs, *prompt, {"verb": "record", "max_seconds": limit}]


def _enqueue(call: Call, node: IvrNode, now: dt.datetime, verbs: list[Verb]) -> list[Verb]:
    from guanxi.contact_center.services import conversation_open

    attrs = {**(node.attributes or {}), "ivr": node.key, "caller": call.caller}
    conv = conversation_open(
        actor=None, channel="phone", address=call.caller, external_id=call.external_id[:120],
        customer_id=call.customer_id, subject=_("Call from %(n)s") % {"n": call.caller}, route=False,
    )  # fmt: skip
    if call.customer_id is None and conv.customer_id:
        call.customer_id = conv.customer_id
    try:
        task = routing.task_enqueue(
            channel="phone", attributes=attrs, workflow=node.workflow, customer_id=call.customer_id,
            conversation_id=conv.pk, source_type="telephony.call", source_id=str(call.pk), now=now,
        )  # fmt: skip
    except Conflict as exc:  # no workflow set up: voicemail rather than silence
        call.end_cause = str(exc.message)[:200]
        return _voicemail(call, _node(call, node.closed_next), now, verbs)
    call.conversation_id, call.task_id, call.queue_id = conv.pk, task.pk, task.queue_id
    if task.status == TaskStatus.REFUSED:
        call.end_cause = task.status_reason[:200]
        return _voicemail(call, _node(call, node.closed_next), now, verbs)
    call.state, call.queued_at = CallState.QUEUED, now
    call.node_key = node.key
    queue_name = task.queue.name if task.queue_id else ""
    return [*verbs, *_node_play(node),
            {"verb": "enqueue", "queue": queue_name, "task_id": task.pk, "poll_seconds": POLL_SECONDS}]  # fmt: skip


def _digits(call: Call, digits: str, now: dt.datetime) -> list[Verb]:
    node = _node(call, call.node_key)
    if call.state != CallState.IVR or node is None or node.kind != NodeKind.MENU:
        return []  # digits outside a menu (on hold, talking): ignored, the record keeps them
    target = (node.choices or {}).get(digits)
    if target:
        call.ivr_path = [*call.ivr_path, f"{digits}>"]
        return _enter(call, target, now)
    call.retries += 1
    call.ivr_path = [*call.ivr_path, f"?{digits or 'timeout'}"]
    if call.retries > node.retries:
        if node.next:
            return _enter(call, node.next, now)
        return _end_in_ivr(
            call, [play(_("Sorry, we did not get a valid choice. Goodbye."))], now, "no_valid_choice"
        )
    retries = call.retries
    again = [play(_("Sorry, that is not a valid choice.")), *_node_play(node),
             {"verb": "gather", "count": node.max_digits, "timeout": node.timeout}]  # fmt: skip
    call.retries = retries
    return again


# --- queue, agents, callbacks ------------------------------------------------------------------------------------
def _waiting(call: Call, now: dt.datetime) -> list[Verb]:
    """A queued caller's heartbeat: ring the agent the router offered the call to, or go to voicemail."""
    task = Task.objects.filter(pk=call.task_id).first()
    node = _node(call, call.node_key)
    max_wait = node.max_wait if node is not None else 60
    if task is None or task.status in (TaskStatus.CANCELLED, TaskStatus.REFUSED, TaskStatus.COMPLETED):
        return _to_voicemail_from_queue(call, task, node, now, _("The queue gave the call up."))
    if (
        task.status == TaskStatus.PENDING
        and call.queued_at
        and (now - call.queued_at).total_seconds() > max_wait
    ):
        return _to_voicemail_from_queue(
            call, task, node, now, _("Waited longer than %(n)s s.") % {"n": max_wait}
        )
    if task.status == TaskStatus.PENDING:
        _route_one(task.pk, now)
        task.refresh_from_db()
    if task.status != TaskStatus.RESERVED:
        return []
    ringing = set(call.legs.exclude(state=CallState.ENDED).values_list("reservation_id", flat=True))
    verbs: list[Verb] = []
    for res in Reservation.objects.filter(task=task, status=ReservationStatus.PENDING).select_related(
        "agent"
    ):
        if res.pk in ringing or not res.agent.phone_uri:
            continue  # already ringing, or an agent on the web console only (accepts there)
        leg = _new_leg(call, LegKind.AGENT, to=res.agent.phone_uri, agent=res.agent, now=now)
        leg.reservation_id = res.pk
        leg.save(update_fields=["reservation_id"])
        timeout = max(1, int((res.expires_at - now).total_seconds()))
        verbs.append({"verb": "dial", "leg_id": leg.external_id, "to": res.agent.phone_uri, "timeout": timeout,
                      "caller": call.caller})  # fmt: skip
    return verbs


def _to_voicemail_from_queue(
    call: Call, task: Task | None, node: IvrNode | None, now: dt.datetime, why: str
) -> list[Verb]:
    if task is not None:
        routing.task_cancel(task_id=task.pk, reason=why)
    call.wait_seconds = (now - call.queued_at).total_seconds() if call.queued_at else None
    call.end_cause = why[:200]
    verbs = [hangup("queue_left", leg.external_id) for leg in call.legs.exclude(state=CallState.ENDED)]
    for leg in call.legs.exclude(state=CallState.ENDED):
        _finish(leg, now, Disposition.NO_ANSWER, why)
    return _voicemail(call, _node(call, node.closed_next) if node else None, now, verbs)


def _agent_answered(leg: Call, now: dt.datetime) -> list[Verb]:
    parent = Call.objects.select_for_update().get(pk=leg.parent_id)
    member = _member_of(leg.agent) if leg.agent_id else None
    if parent.state != CallState.QUEUED or member is None or leg.reservation_id is None:
        _finish(leg, now, Disposition.FAILED, "caller_gone")
        return [hangup("caller_gone")]
    try:
        routing.reservation_accept(actor=member, reservation_id=leg.reservation_id, now=now)
    except (Conflict, NotFound) as exc:  # the offer timed out or went to another agent meanwhile
        _finish(leg, now, Disposition.FAILED, str(getattr(exc, "message", exc)))
        return [hangup("offer_closed")]
    leg.state, leg.connected_at = CallState.CONNECTED, now
    leg.save()
    parent.state, parent.connected_at, parent.agent_id = CallState.CONNECTED, now, leg.agent_id
    parent.wait_seconds = (now - parent.queued_at).total_seconds() if parent.queued_at else 0.0
    parent.disposition = Disposition.ANSWERED
    parent.save()
    return [{"verb": "bridge", "call_id": leg.external_id, "with": parent.external_id}]


def _complete_task(task_id: int | None, agent: Agent | None) -> None:
    if task_id is None or agent is None:
        return
    member = _member_of(agent)
    task = Task.objects.filter(pk=task_id).first()
    if member is None or task is None:
        return
    if task.status in (TaskStatus.ASSIGNED, TaskStatus.WRAPPING):
        routing.task_complete(actor=member, task_id=task_id)
    elif task.status in (TaskStatus.PENDING, TaskStatus.RESERVED):
        routing.task_cancel(task_id=task_id, reason="call ended")


def _leg_failed(leg: Call, cause: str, now: dt.datetime) -> list[Verb]:
    """An agent leg that was never answered (no answer, busy, unreachable): the offer goes to the next agent."""
    _finish(leg, now, Disposition.BUSY if cause == "busy" else Disposition.NO_ANSWER, cause)
    member = _member_of(leg.agent) if leg.agent_id else None
    if member is not None and leg.reservation_id is not None:
        res = Reservation.objects.filter(pk=leg.reservation_id, status=ReservationStatus.PENDING).first()
        if res is not None:
            routing.reservation_reject(actor=member, reservation_id=res.pk)
    return []


def callback_create(*, call: Call, now: dt.datetime) -> Callback:
    """Owe the caller a callback (runs in the caller's transaction): a Callback row and a routing task on the
    ``callback`` channel, which the router offers to the next free agent."""
    cb = Callback.objects.create(
        workspace_id=call.workspace_id, call=call, customer_id=call.customer_id, number=call.caller,
        next_attempt_at=now,
    )  # fmt: skip
    _callback_enqueue(cb, now)
    return cb


def _callback_enqueue(cb: Callback, now: dt.datetime) -> None:
    try:
        task = routing.task_enqueue(
            channel="callback", attributes={"callback": True, "number": cb.number}, customer_id=cb.customer_id,
            source_type=CALLBACK_SOURCE, source_id=f"{cb.pk}:{cb.attempts}", now=now,
        )  # fmt: skip
    except Conflict as exc:
        cb.status, cb.outcome = CallbackStatus.FAILED, str(exc.message)[:200]
        cb.save(update_fields=["status", "outcome"])
        return
    cb.task_id = task.pk
    cb.save(update_fields=["task_id"])


def _route_one(task_id: int, now: dt.datetime) -> None:
    """Offer this waiting task now if an agent is free (the heartbeat's nudge; the router job does the same on
    commit and every minute). Skips a task another router holds."""
    task = (
        Task.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(pk=task_id, status=TaskStatus.PENDING).select_related("queue").first()
    )  # fmt: skip
    if task is not None:
        routing.route_task(task, now)


def callbacks_due(now: dt.datetime | None = None) -> list[Verb]:
    """For the adapter's ``poll``: callback offers to agents with a phone, not yet rung -> ``dial`` the agent."""
    now = now or timezone.now()
    verbs: list[Verb] = []
    retries = (
        Callback.all_workspaces.filter(
            status=CallbackStatus.PENDING, task_id__isnull=True, next_attempt_at__lte=now
        )
        .select_related("workspace")
        .order_by("next_attempt_at", "id")[:50]
    )
    for cb in retries:  # a retry whose time has come: back in line for the next free agent
        with workspace_context(cb.workspace), transaction.atomic():
            cb = Callback.objects.select_for_update().filter(pk=cb.pk, task_id__isnull=True).first()
            if cb is not None and cb.status == CallbackStatus.PENDING:
                _callback_enqueue(cb, now)
    waiting = (
        Task.all_workspaces.filter(status=TaskStatus.PENDING, channel="callback", source_type=CALLBACK_SOURCE)
        .select_related("workspace")
        .order_by("id")[:50]
    )
    for task in waiting:
        with workspace_context(task.workspace), transaction.atomic():
            _route_one(task.pk, now)
    offers = (
        Reservation.all_workspaces.filter(
            status=ReservationStatus.PENDING, task__channel="callback", task__source_type=CALLBACK_SOURCE
        )  # fmt: skip
        .select_related("agent", "task", "workspace")
        .order_by("id")[:50]
    )
    for res in offers:
        with workspace_context(res.workspace), transaction.atomic():
            if not res.agent.phone_uri or Call.objects.filter(reservation_id=res.pk).exists():
                continue
            cb_id = int(res.task.source_id.split(":", 1)[0])
            cb = Callback.objects.select_for_update().filter(pk=cb_id).select_related("call").first()
            if cb is None or cb.status in (CallbackStatus.DONE, CallbackStatus.FAILED):
                continue
            leg = _new_leg(cb.call, LegKind.CALLBACK_AGENT, to=res.agent.phone_uri, agent=res.agent, now=now)
            leg.reservation_id, leg.task_id = res.pk, res.task_id
            leg.save(update_fields=["reservation_id", "task_id"])
            cb.status = CallbackStatus.CALLING
            cb.save(update_fields=["status"])
            timeout = max(1, int((res.expires_at - now).total_seconds()))
            verbs.append({"verb": "dial", "leg_id": leg.external_id, "to": res.agent.phone_uri, "timeout": timeout,
                          "caller": cb.number})  # fmt: skip
    return verbs


def _callback_of(leg: Call) -> Callback | None:
    task = Task.objects.filter(pk=leg.task_id).first()
    if task is None or task.source_type != CALLBACK_SOURCE:
        return None
    return Callback.objects.select_for_update().filter(pk=int(task.source_id.split(":", 1)[0])).first()


def _callback_agent_answered(leg: Call, now: dt.datetime) -> list[Verb]:
    member = _member_of(leg.agent) if leg.agent_id else None
    cb = _callback_of(leg)
    if member is None or cb is None:
        _finish(leg, now, Disposition.FAILED, "callback_gone")
        return [hangup("callback_gone")]
    try:
        routing.reservation_accept(actor=member, reservation_id=leg.reservation_id, now=now)
    except (Conflict, NotFound) as exc:
        _finish(leg, now, Disposition.FAILED, str(getattr(exc, "message", exc)))
        return [hangup("offer_closed")]
    leg.state, leg.connected_at = CallState.CONNECTED, now
    leg.save()
    cb.attempts += 1
    cb.save(update_fields=["attempts"])
    customer_leg = _new_leg(leg, LegKind.CALLBACK_CUSTOMER, to=cb.number, agent=leg.agent, now=now)
    customer_leg.task_id = leg.task_id
    customer_leg.save(update_fields=["task_id"])
    return [play(_("Calling the customer back now.")),
            {"verb": "dial", "leg_id": customer_leg.external_id, "to": cb.number, "timeout": 20}]  # fmt: skip


def _callback_customer_ended(leg: Call, cause: str, now: dt.datetime, *, answered: bool) -> list[Verb]:
    """The customer leg of a callback ended: reached (done), or not (retry up to the limit). The agent's leg ends
    too, and the agent's task is completed."""
    agent_leg = Call.objects.select_for_update().filter(pk=leg.parent_id).first()
    cb = _callback_of(leg)
    verbs: list[Verb] = []
    if agent_leg is not None and agent_leg.state != CallState.ENDED:
        _finish(agent_leg, now, Disposition.ANSWERED, cause)
        verbs.append(hangup("callback_over", agent_leg.external_id))
    _finish(leg, now, Disposition.ANSWERED if answered else Disposition.NO_ANSWER, cause)
    _complete_task(leg.task_id, leg.agent)
    if cb is not None and cb.status == CallbackStatus.CALLING:
        if answered:
            cb.status, cb.outcome, cb.done_at = CallbackStatus.DONE, _("Customer reached."), now
        elif cb.attempts >= cb.max_attempts:
            cb.status, cb.outcome, cb.done_at = CallbackStatus.FAILED, _("No answer after %(n)s attempts.") % {
                "n": cb.attempts}, now  # fmt: skip
        else:
            cb.status, cb.outcome = (
                CallbackStatus.PENDING,
                _("No answer (%(cause)s); will retry.") % {"cause": cause},
            )
            # spaced out: the routing task is put in line again only when the time comes (``callbacks_due``)
            cb.next_attempt_at = now + dt.timedelta(seconds=callback_retry_seconds() * cb.attempts)
            cb.task_id = None
        cb.save()
    return verbs


def callback_retry_seconds() -> int:
    from django.conf import settings

    return int(getattr(settings, "GUANXI_CALLBACK_RETRY_SECONDS", CALLBACK_RETRY_SECONDS))


# --- events ------------------------------------------------------------------------------------------------------
def _incoming(ev: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    called = _e164(ev.get("to") or "")
    caller = _e164(ev.get("from") or "")
    adapter = ev.get("adapter") or ""
    number = PhoneNumber.all_workspaces.filter(number=called).select_related("workspace", "menu").first()
    if number is None:
        UnroutedCall.objects.create(external_id=ev["call_id"][:200], adapter=adapter, caller=caller[:64],
                                    called=called[:200], reason="unknown_number")  # fmt: skip
        return {"call_id": ev["call_id"], "verbs": [hangup("unknown_number")]}
    # legs are keyed by (adapter, call id) across workspaces: looked up before entering the number's workspace,
    # where row-level security would hide another workspace's leg
    taken = Conflict(_("This call_id is already used by another call."), code="call_id_taken")
    other = Call.all_workspaces.filter(adapter=adapter, external_id=ev["call_id"]).exclude(
        workspace_id=number.workspace_id
    )
    if other.exists():
        raise taken
    with workspace_context(number.workspace), transaction.atomic():
        existing = Call.objects.select_for_update().filter(adapter=adapter, external_id=ev["call_id"]).first()
        if existing is not None:  # a retried event: the same call, answered again from where it is
            return {"call_id": existing.external_id, "verbs": []}
        from guanxi.contact_center.services import customer_match

        customer = customer_match(caller)
        try:
            with transaction.atomic():
                call = Call.objects.create(
                    adapter=adapter, external_id=ev["call_id"], caller=caller[:64], called=called[:200],
                    customer=customer, menu=number.menu, started_at=now, answered_at=now, heartbeat_at=now,
                    state=CallState.IVR, worker=(ev.get("worker") or "")[:60],
                )  # fmt: skip
        except IntegrityError:  # another workspace's call took this id at the same moment
            raise taken from None
        if number.menu is None or number.menu.root_id is None:
            verbs = _voicemail(call, None, now, [])
        else:
            root = IvrNode.objects.get(pk=number.menu.root_id)
            verbs = _enter(call, root.key, now)
        call.save()
        _closing(call, verbs, now)
        return {"call_id": call.external_id, "verbs": verbs}


def _closing(call: Call, verbs: list[Verb], now: dt.datetime) -> None:
    """A hangup verb for this leg ends its record now (the adapter's own hangup event then finds it closed)."""
    if any(v["verb"] == "hangup" and "call_id" not in v for v in verbs):
        _finish(call, now, call.disposition or Disposition.SELF_SERVICE, call.end_cause or "hangup_verb")


def _hangup_event(call: Call, cause: str, now: dt.datetime) -> list[Verb]:
    verbs: list[Verb] = []
    if call.state == CallState.ENDED:
        return verbs
    if call.kind == LegKind.AGENT:
        if call.connected_at is None:
            return _leg_failed(call, cause, now)
        parent = Call.objects.select_for_update().get(pk=call.parent_id)
        _finish(call, now, Disposition.ANSWERED, cause)
        if parent.state != CallState.ENDED:
            _finish(parent, now, Disposition.ANSWERED, "agent_hung_up")
            verbs.append(hangup("agent_hung_up", parent.external_id))
        _complete_task(parent.task_id, call.agent)
        return verbs
    if call.kind == LegKind.CALLBACK_AGENT:
        if call.connected_at is None:
            cb = _callback_of(call)
            _leg_failed(call, cause, now)
            if cb is not None and cb.status == CallbackStatus.CALLING:
                cb.status = CallbackStatus.PENDING
                cb.save(update_fields=["status"])
            return verbs
        for leg in call.legs.exclude(state=CallState.ENDED):
            verbs += _callback_customer_ended(
                leg, "agent_hung_up", now, answered=leg.connected_at is not None
            )
        _finish(call, now, Disposition.ANSWERED, cause)
        return verbs
    if call.kind == LegKind.CALLBACK_CUSTOMER:
        return _callback_customer_ended(call, cause, now, answered=call.connected_at is not None)
    # the caller's own leg
    if call.state == CallState.QUEUED:
        if call.task_id:
            routing.task_cancel(task_id=call.task_id, reason=_("Caller hung up while waiting."))
        for leg in call.legs.exclude(state=CallState.ENDED):
            _finish(leg, now, Disposition.ABANDONED, "caller_gone")
            verbs.append(hangup("caller_gone", leg.external_id))
        _finish(call, now, Disposition.ABANDONED, cause)
        return verbs
    if call.state == CallState.CONNECTED:
        agent_leg = call.legs.filter(kind=LegKind.AGENT, connected_at__isnull=False).first()
        if agent_leg is not None and agent_leg.state != CallState.ENDED:
            _finish(agent_leg, now, Disposition.ANSWERED, "caller_hung_up")
            verbs.append(hangup("caller_hung_up", agent_leg.external_id))
        _finish(call, now, Disposition.ANSWERED, cause)
        _complete_task(call.task_id, agent_leg.agent if agent_leg else None)
        return verbs
    if call.state == CallState.VOICEMAIL:
        _finish(call, now, Disposition.VOICEMAIL, cause)  # the recording event may still follow
        return verbs
    _finish(call, now, Disposition.SELF_SERVICE if call.state == CallState.IVR else Disposition.FAILED, cause)
    return verbs


def _recording(call: Call, rec: dict[str, Any], now: dt.datetime) -> list[Verb]:
    """Attach the recording (checksum checked when the file is in the media folder); a voicemail also gets its
    callback owed. Repeating the event changes nothing."""
    if call.recording:
        return []
    rel = rec["path"]
    try:
        path = prompts.resolve(rel)
    except ValueError as exc:
        raise ValidationFailed(
            fields={"recording.path": _("Must be a name inside the recordings folder.")}
        ) from exc
    if path.exists():
        actual = prompts.sha256_of(path)
        if rec.get("sha256") and rec["sha256"] != actual:
            raise ValidationFailed(fields={"recording.sha256": _("Does not match the file's checksum.")})
        call.recording_sha256, call.recording_bytes = actual, path.stat().st_size
    else:
        if not rec.get("sha256"):
            raise ValidationFailed(
                fields={"recording.sha256": _("Give the checksum of a file stored elsewhere.")}
            )
        call.recording_sha256, call.recording_bytes = rec["sha256"], rec.get("bytes")
    call.recording, call.recording_seconds = rel, rec.get("seconds")
    verbs: list[Verb] = []
    if call.state == CallState.VOICEMAIL or (
        call.disposition == Disposition.VOICEMAIL and call.kind == "inbound"
    ):
        call.disposition = Disposition.VOICEMAIL
        if not call.callbacks.exists():
            callback_create(call=call, now=now)
        if call.state != CallState.ENDED:
            verbs = [play(_("Thank you. We will call you back soon.")), hangup("voicemail_left")]
    call.save()
    return verbs


def handle_event(ev: dict[str, Any], *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Apply one adapter event (already shape-checked by ``guanxi.telephony.schemas.EventIn``) and return
    ``{"call_id": ..., "verbs": [...]}``. An unknown number is answered with a hang-up and an ``UnroutedCall``
    record; an unknown call id is a 404; a retried event repeats no side effect."""
    now = now or timezone.now()
    kind = ev["type"]
    if kind == "poll":
        from guanxi.telephony import clicktocall

        return {"call_id": "", "verbs": callbacks_due(now) + clicktocall.due(now)}
    if kind == "incoming":
        return _incoming(ev, now)
    adapter = ev.get("adapter") or ""
    probe = (
        Call.all_workspaces.filter(adapter=adapter, external_id=ev["call_id"])
        .select_related("workspace")
        .first()
    )
    if probe is None:
        raise NotFound(_("No call with this call_id."))
    with workspace_context(probe.workspace), transaction.atomic():
        call = _locked_leg(adapter, ev["call_id"])
        assert call is not None
        if call.state != CallState.ENDED:
            call.heartbeat_at = now
        verbs: list[Verb] = []
        if call.kind in (LegKind.OUTBOUND, LegKind.OUTBOUND_CUSTOMER) and kind != "recording":
            from guanxi.telephony import clicktocall

            verbs = clicktocall.on_event(call, kind, ev, now)
        elif kind == "answered":
            if call.state == CallState.ENDED:
                verbs = [hangup("already_ended")]
            elif call.answered_at is None:
                call.answered_at = now
                call.save()
                if call.kind == LegKind.AGENT:
                    verbs = _agent_answered(call, now)
                elif call.kind == LegKind.CALLBACK_AGENT:
                    verbs = _callback_agent_answered(call, now)
                elif call.kind == LegKind.CALLBACK_CUSTOMER:
                    call.state, call.connected_at = CallState.CONNECTED, now
                    cb = _callback_of(call)
                    if cb is not None:
                        cb.outcome = _("Customer answered.")
                        cb.save(update_fields=["outcome"])
                    parent = Call.objects.get(pk=call.parent_id)
                    verbs = [{"verb": "bridge", "call_id": call.external_id, "with": parent.external_id}]
        elif kind == "digits":
            verbs = _digits(call, ev.get("digits") or "", now) if call.state != CallState.ENDED else []
        elif kind == "heartbeat":
            verbs = _waiting(call, now) if call.state == CallState.QUEUED else []
        elif kind == "recording":
            verbs = _recording(call, ev["recording"], now)
        elif kind == "hangup":
            verbs = _hangup_event(call, ev.get("cause") or "hangup", now)
        if call.state != CallState.ENDED or kind in ("digits", "heartbeat"):
            call.save()
        _closing(call, verbs, now)
        return {"call_id": call.external_id, "verbs": verbs}


def calls_reap(*, stale_seconds: int = 30, now: dt.datetime | None = None) -> int:
    """Close legs whose adapter stopped reporting (a worker died mid-call) with the cause ``worker_lost``; their
    routing tasks are cancelled or completed so no agent stays held. Returns how many legs were closed."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=stale_seconds)
    stale = list(
        Call.all_workspaces.filter(state__in=OPEN_STATES, heartbeat_at__lt=cutoff)
        .select_related("workspace").values_list("pk", "workspace_id")[:500]
    )  # fmt: skip
    n = 0
    for pk, _ws in stale:
        call = Call.all_workspaces.select_related("workspace").get(pk=pk)
        with workspace_context(call.workspace), transaction.atomic():
            call = Call.objects.select_for_update().get(pk=pk)
            if call.state == CallState.ENDED:
                continue
            held = call.state == CallState.CONNECTED
            call.disposition = Disposition.WORKER_LOST
            _finish(call, now, Disposition.WORKER_LOST, _("No heartbeat from the media worker for %(n)s s.") % {
                "n": stale_seconds})  # fmt: skip
            if call.parent_id is None and call.task_id:
                if held:
                    _complete_task(call.task_id, call.agent)
                else:
                    routing.task_cancel(task_id=call.task_id, reason="worker_lost")
            n += 1
    return n


assert set(OPEN_STATES) <= set(CallState.values)
__all__ = ["handle_event", "calls_reap", "callbacks_due", "callback_create", "play", "hangup"]
