"""Click-to-call (点击拨号): the agent's phone rings first, then the customer's, and the two are bridged.

An agent asks from a customer record (or an outbound list's preview card): ``click_to_call`` writes a call record
(``kind=outbound``, state ringing, no heartbeat yet). The adapter's ``poll`` (docs/telephony.md) picks it up:
``due`` answers a ``dial`` verb to the agent's phone (``leg_id`` = the record's call id). When the agent answers,
``on_event`` dials the customer on a child leg (``outbound_customer``); when the customer answers the legs are
bridged. Either side hanging up ends both, and the record gets its disposition and cause; the engine's ``_finish``
writes the customer's timeline entry (direction out). A request no adapter picks up within ``PICKUP_SECONDS`` is
closed as failed (``expire``, from the reaper job), so the agent is not left waiting.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.contact_center import routing
from guanxi.contact_center.models import Agent
from guanxi.core.context import workspace_context
from guanxi.core.errors import Conflict, ValidationFailed
from guanxi.customers.normalize import InvalidValue, normalize_phone
from guanxi.customers.selectors import get_customer_for
from guanxi.ledger.services import audit_record
from guanxi.telephony.models import OPEN_STATES, Call, CallState, Disposition, LegKind, PhoneNumber
from guanxi.workspaces.models import Membership

KINDS = (LegKind.OUTBOUND, LegKind.OUTBOUND_CUSTOMER)
PICKUP_SECONDS = 60  # a request no adapter has dialled by then is closed as failed
AGENT_RING_SECONDS = 30
CUSTOMER_RING_SECONDS = 30


def _customer_numbers(customer: Any) -> list[str]:
    numbers = [p.e164 for p in sorted(customer.phones.all(), key=lambda p: not p.is_primary)]
    if customer.phone:
        with contextlib.suppress(InvalidValue):
            numbers.insert(0, normalize_phone(customer.phone).e164)
    return list(dict.fromkeys(numbers))


def click_to_call(
    *, actor: Membership, customer_id: Any, number: str = "", now: dt.datetime | None = None
) -> Call:
    """Ask the telephony adapter to ring the actor's phone, then ``number`` (one of the customer's numbers; empty:
    the primary). Needs agent rights and a phone (SIP URI) in the actor's agent settings; one click-to-call at a
    time per agent. Refusals name the field and change nothing. Audited."""
    now = now or timezone.now()
    routing.require_agent_rights(actor)
    customer = get_customer_for(actor, customer_id)
    numbers = _customer_numbers(customer)
    if number:
        try:
            e164 = normalize_phone(number).e164
        except InvalidValue:
            raise ValidationFailed(
                fields={"number": _("Enter a phone number like +8613800138000.")}
            ) from None
        if e164 not in numbers:
            raise ValidationFailed(fields={"number": _("This is not one of the customer's numbers.")})
    elif numbers:
        e164 = numbers[0]
    else:
        raise ValidationFailed(fields={"number": _("This customer has no phone number.")})
    agent = Agent.objects.filter(user_id=actor.user_id).first()
    if agent is None or not agent.phone_uri:
        raise ValidationFailed(
            fields={
                "phone_uri": _("Your agent settings have no phone (SIP URI): ask a supervisor to set it.")
            }
        )
    with transaction.atomic():
        Agent.objects.select_for_update().filter(pk=agent.pk).first()  # one request at a time per agent
        if Call.objects.filter(kind=LegKind.OUTBOUND, agent=agent, state__in=OPEN_STATES).exists():
            raise Conflict(_("You are already on a click-to-call; finish it first."), code="call_in_progress")
        call = Call.objects.create(
            external_id=f"gx-{uuid.uuid4().hex}", kind=LegKind.OUTBOUND, state=CallState.RINGING,
            caller=agent.phone_uri[:64], called=e164, customer=customer, agent=agent, started_at=now,
        )  # fmt: skip
        audit_record(workspace=actor.workspace, actor=actor.user, action="tel.call.click", obj=call,
                     after={"customer_id": customer.pk, "number": e164})  # fmt: skip
    return call


def _caller_id() -> str:
    """The number the customer sees: the workspace's first phone number, if it has one."""
    found = PhoneNumber.objects.order_by("id").values_list("number", flat=True).first()
    return found or ""


def due(now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """For the adapter's ``poll``: ``dial`` verbs to the agents' phones of click-to-call requests not yet dialled.
    Each request is handed out once (its heartbeat is set under a row lock)."""
    now = now or timezone.now()
    verbs: list[dict[str, Any]] = []
    waiting = (
        Call.all_workspaces.filter(
            kind=LegKind.OUTBOUND, parent__isnull=True, state=CallState.RINGING, heartbeat_at__isnull=True
        )
        .select_related("workspace")
        .order_by("id")[:50]
    )
    for found in waiting:
        with workspace_context(found.workspace), transaction.atomic():
            call = (
                Call.objects.select_for_update(skip_locked=True)
                .filter(pk=found.pk, state=CallState.RINGING, heartbeat_at__isnull=True)
                .first()
            )
            if call is None:
                continue
            call.heartbeat_at = now
            call.save(update_fields=["heartbeat_at"])
            verbs.append({"verb": "dial", "leg_id": call.external_id, "to": call.caller,
                          "timeout": AGENT_RING_SECONDS, "caller": call.called})  # fmt: skip
    return verbs


def expire(now: dt.datetime | None = None) -> int:
    """Close click-to-call requests that no adapter dialled within PICKUP_SECONDS (failed, with the cause)."""
    from guanxi.telephony.engine import _finish

    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=PICKUP_SECONDS)
    stale = list(
        Call.all_workspaces.filter(
            kind=LegKind.OUTBOUND, parent__isnull=True, state=CallState.RINGING, heartbeat_at__isnull=True,
            started_at__lt=cutoff,
        ).select_related("workspace")[:500]
    )  # fmt: skip
    for found in stale:
        with workspace_context(found.workspace), transaction.atomic():
            call = Call.objects.select_for_update().filter(pk=found.pk, heartbeat_at__isnull=True).first()
            if call is None or call.state == CallState.ENDED:
                continue
            _finish(call, now, Disposition.FAILED, _("No telephony adapter picked the call up."))
    return len(stale)


def _unanswered(cause: str) -> str:
    return {"busy": Disposition.BUSY, "no_answer": Disposition.NO_ANSWER}.get(cause, Disposition.NO_ANSWER)


def on_event(call: Call, kind: str, ev: dict[str, Any], now: dt.datetime) -> list[dict[str, Any]]:
    """An event on a click-to-call leg (``call`` is row-locked by the engine). Returns the verbs."""
    from guanxi.telephony.engine import _finish, hangup, play

    if kind in ("digits", "heartbeat"):
        return []
    cause = ev.get("cause") or "hangup"
    if call.kind == LegKind.OUTBOUND:  # the agent's leg (the call record)
        legs = list(Call.objects.select_for_update().filter(parent=call).exclude(state=CallState.ENDED))
        if kind == "answered":
            if call.state == CallState.ENDED:
                return [hangup("already_ended")]
            if call.answered_at is not None:
                return []  # a retried event
            call.answered_at = now
            leg = Call.objects.create(
                workspace_id=call.workspace_id, external_id=f"gx-{uuid.uuid4().hex}", parent=call,
                kind=LegKind.OUTBOUND_CUSTOMER, state=CallState.RINGING, caller=_caller_id()[:64],
                called=call.called, customer_id=call.customer_id, agent_id=call.agent_id, started_at=now,
                heartbeat_at=now,
            )  # fmt: skip
            return [play(_("Calling the customer now.")),
                    {"verb": "dial", "leg_id": leg.external_id, "to": call.called, "timeout": CUSTOMER_RING_SECONDS,
                     "caller": leg.caller}]  # fmt: skip
        # hangup of the agent's leg
        verbs: list[dict[str, Any]] = []
        for leg in legs:
            _finish(
                leg, now, Disposition.ANSWERED if leg.connected_at else Disposition.ABANDONED, "agent_hung_up"
            )
            verbs.append(hangup("agent_hung_up", leg.external_id))
        if call.connected_at is not None:
            _finish(call, now, Disposition.ANSWERED, cause)
        elif call.answered_at is not None:  # the agent gave up before the customer answered
            _finish(call, now, Disposition.ABANDONED, _("The agent hung up before the customer answered."))
        else:
            _finish(call, now, _unanswered(cause) if cause in ("busy", "no_answer") else Disposition.FAILED,
                    _("The agent's phone: %(cause)s") % {"cause": cause})  # fmt: skip
        return verbs
    # the customer's leg
    parent = Call.objects.select_for_update().get(pk=call.parent_id)
    if kind == "answered":
        if call.state == CallState.ENDED or parent.state == CallState.ENDED:
            return [hangup("already_ended")]
        call.answered_at = call.answered_at or now
        call.state, call.connected_at = CallState.CONNECTED, now
        parent.state, parent.connected_at, parent.disposition = CallState.CONNECTED, now, Disposition.ANSWERED
        parent.wait_seconds = (now - parent.started_at).total_seconds()
        parent.save()
        return [{"verb": "bridge", "call_id": call.external_id, "with": parent.external_id}]
    # hangup of the customer's leg
    answered = call.connected_at is not None
    disposition = Disposition.ANSWERED if answered else _unanswered(cause)
    _finish(call, now, disposition, cause)
    verbs = []
    if parent.state != CallState.ENDED:
        why = "customer_hung_up" if answered else _("The customer's phone: %(cause)s") % {"cause": cause}
        _finish(parent, now, disposition, why)
        verbs.append(hangup("customer_hung_up" if answered else "customer_not_reached", parent.external_id))
    return verbs
