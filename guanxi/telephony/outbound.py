"""Outbound lists (呼出): call or message lists built from a customer segment, worked by preview dialling.

A supervisor builds a list from the customer list's filter (the same parameters as the customer list page and the
API: ``q``, ``tag``, ``city``, ``owner`` ...): customers with a phone who agreed to be phoned (calls) or texted
(messages) become entries, dealt round-robin to the chosen agents. An agent works their entries one at a time: the
preview card shows the next customer; the agent calls (click-to-call, ``guanxi.telephony.clicktocall``) or skips,
then records the result and a note, which go on the entry and the customer's timeline. "Call again later" puts the
entry back at the end of the agent's queue.

Who sees what: supervisors (contact-centre edit, workspace scope) every list and entry; an agent the lists holding
entries assigned to them, and only those entries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.contact_center import routing
from guanxi.core.errors import Conflict, NotFound, ValidationFailed
from guanxi.customers.selectors import customer_filter
from guanxi.ledger.services import audit_record
from guanxi.telephony import clicktocall
from guanxi.telephony.models import (
    Call,
    EntryResult,
    EntryStatus,
    OutboundChannel,
    OutboundEntry,
    OutboundList,
    OutboundListStatus,
)
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module, Scope

LIST_MAX = 5000  # entries in one list; a bigger segment is refused (narrow it)
MESSAGE_RESULTS = (
    EntryResult.SENT,
    EntryResult.NOT_INTERESTED,
    EntryResult.WRONG_NUMBER,
    EntryResult.DO_NOT_CALL,
)


def is_supervisor(actor: Membership) -> bool:
    return permissions.scope_for(actor, Module.CONTACT_CENTER, "edit") == Scope.WORKSPACE


def _int(value: Any) -> int | None:
    return int(value) if str(value or "").isdigit() else None


def segment_customers(actor: Membership, segment: Mapping[str, Any], channel: str) -> QuerySet:
    """The customers of ``segment`` (customer-list filter) reachable on ``channel``: a phone and the consent."""
    params = {k: v for k, v in dict(segment).items() if k not in ("cursor", "limit")}
    qs = customer_filter(actor, params).qs.exclude(phone="")
    return qs.filter(consent_phone=True) if channel == OutboundChannel.CALL else qs.filter(consent_sms=True)


def outbound_list_create(
    *, actor: Membership, name: str, segment: Mapping[str, Any], assignee_ids: list[Any],
    channel: str = OutboundChannel.CALL, purpose: str = "",
) -> OutboundList:  # fmt: skip
    """Build a list from the segment and deal its entries round-robin to the agents ``assignee_ids`` (user ids of
    members with contact-centre rights). Supervisors only. Refuses, naming the field and changing nothing: no or
    duplicate name, unknown channel, no agents or one without agent rights, a bad filter, an empty segment or one
    over LIST_MAX. Audited."""
    routing.require_supervisor(actor)
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name or len(name) > 100:
        errors["name"] = _("A list needs a name of at most 100 characters.")
    elif OutboundList.objects.filter(name=name).exists():
        errors["name"] = _("A list with this name exists.")
    if channel not in OutboundChannel.values:
        errors["channel"] = _("Choose calls or messages.")
    if len(purpose or "") > 2000:
        errors["purpose"] = _("At most %(n)s characters.") % {"n": 2000}
    ids = [_int(i) for i in assignee_ids or []]
    members = list(Membership.objects.filter(user_id__in=[i for i in ids if i], is_active=True))
    if not ids:
        errors["assignee_ids"] = _("Choose at least one agent.")
    elif None in ids or len(members) != len(set(ids)):
        errors["assignee_ids"] = _("Choose agents who are members of this workspace.")
    elif any(permissions.scope_for(m, Module.CONTACT_CENTER, "edit") == Scope.NONE for m in members):
        errors["assignee_ids"] = _("Every agent needs contact-centre rights.")
    if errors:
        raise ValidationFailed(fields=errors)
    try:
        customers = list(
            segment_customers(actor, segment, channel)
            .order_by("pk")
            .values_list("pk", "phone")[: LIST_MAX + 1]
        )
    except ValidationFailed as exc:
        raise ValidationFailed(fields={f"segment.{k}": v for k, v in exc.fields.items()} or {
            "segment": exc.message}) from None  # fmt: skip
    if not customers:
        raise ValidationFailed(
            fields={"segment": _("No customer in this segment can be reached on this channel.")}
        )
    if len(customers) > LIST_MAX:
        raise ValidationFailed(
            fields={"segment": _("This segment has more than %(n)s customers: narrow it.") % {"n": LIST_MAX}}
        )
    order = sorted(m.user_id for m in members)
    with transaction.atomic():
        olist = OutboundList.objects.create(
            name=name, channel=channel, purpose=(purpose or "").strip(), created_by=actor.user,
            segment={k: str(v) for k, v in dict(segment).items() if k not in ("cursor", "limit") and v not in ("", None)},
        )  # fmt: skip
        OutboundEntry.objects.bulk_create(
            OutboundEntry(
                workspace_id=olist.workspace_id,
                outbound_list=olist,
                customer_id=pk,
                number=phone[:64],
                assignee_id=order[i % len(order)],
                position=i,
            )  # fmt: skip
            for i, (pk, phone) in enumerate(customers)
        )
        audit_record(workspace=actor.workspace, actor=actor.user, action="tel.outbound.create", obj=olist,
                     after={"name": name, "entries": len(customers), "segment": olist.segment,
                            "agents": order})  # fmt: skip
    return olist


def outbound_lists(actor: Membership) -> QuerySet[OutboundList]:
    routing.require_agent_rights(actor)
    qs = OutboundList.objects.all()
    if not is_supervisor(actor):
        mine = OutboundEntry.objects.filter(assignee_id=actor.user_id).values("outbound_list_id")
        qs = qs.filter(pk__in=mine)
    return qs.order_by("-id")


def get_list_for(actor: Membership, list_id: Any) -> OutboundList:
    found = outbound_lists(actor).filter(pk=_int(list_id) or 0).first()
    if found is None:
        raise NotFound()
    return found


def _entries(actor: Membership, olist: OutboundList) -> QuerySet[OutboundEntry]:
    qs = OutboundEntry.objects.filter(outbound_list=olist)
    return qs if is_supervisor(actor) else qs.filter(assignee_id=actor.user_id)


def progress(actor: Membership, olist: OutboundList) -> dict[str, Any]:
    """Counts by status and by result (all entries for a supervisor, the actor's own for an agent) and the share
    worked (done + skipped over all)."""
    rows = _entries(actor, olist).values("status", "result").annotate(n=Count("id"))
    by_status = {s: 0 for s in EntryStatus.values}
    by_result = {r: 0 for r in EntryResult.values}
    for row in rows:
        by_status[row["status"]] += row["n"]
        if row["result"]:
            by_result[row["result"]] += row["n"]
    total = sum(by_status.values())
    worked = by_status[EntryStatus.DONE] + by_status[EntryStatus.SKIPPED]
    return {
        "total": total, "worked": worked, "percent": round(100 * worked / total) if total else 0,
        "by_status": by_status, "by_result": {k: v for k, v in by_result.items() if v},
    }  # fmt: skip


def entry_list(actor: Membership, olist: OutboundList, *, status: str = "") -> QuerySet[OutboundEntry]:
    qs = _entries(actor, olist).select_related("customer", "assignee", "call")
    if status in EntryStatus.values:
        qs = qs.filter(status=status)
    return qs.order_by("position", "id")


def next_entry(actor: Membership, olist: OutboundList) -> OutboundEntry | None:
    """The actor's entry to work now: one being called (not closed yet), else the first to do."""
    mine = OutboundEntry.objects.filter(outbound_list=olist, assignee_id=actor.user_id).select_related(
        "customer", "call"
    )
    return (
        mine.filter(status=EntryStatus.CALLING).order_by("position", "id").first()
        or mine.filter(status=EntryStatus.PENDING).order_by("position", "id").first()
    )


def _entry_for_work(actor: Membership, entry_id: Any) -> OutboundEntry:
    """The actor's own entry, row-locked, on an open list (missing and not-yours: the same 404)."""
    routing.require_agent_rights(actor)
    entry = (
        OutboundEntry.objects.select_for_update()
        .filter(pk=_int(entry_id) or 0, assignee_id=actor.user_id)
        .select_related("outbound_list", "customer")
        .first()
    )
    if entry is None:
        raise NotFound()
    if entry.outbound_list.status != OutboundListStatus.OPEN:
        raise Conflict(_("This list is closed."), code="list_closed")
    return entry


def entry_call(*, actor: Membership, entry_id: Any, now: dt.datetime | None = None) -> Call:
    """Click-to-call the entry's customer (the agent's phone rings first) and mark the entry as being called."""
    with transaction.atomic():
        entry = _entry_for_work(actor, entry_id)
        if entry.outbound_list.channel != OutboundChannel.CALL:
            raise Conflict(_("This is a message list: record the result instead."), code="not_a_call_list")
        if entry.status in (EntryStatus.DONE, EntryStatus.SKIPPED):
            raise Conflict(_("This entry is already worked."), code="entry_worked")
        call = clicktocall.click_to_call(
            actor=actor, customer_id=entry.customer_id, number=entry.number, now=now
        )
        entry.status, entry.call, entry.attempts = EntryStatus.CALLING, call, entry.attempts + 1
        entry.save(update_fields=["status", "call", "attempts"])
    return call


def entry_skip(*, actor: Membership, entry_id: Any, note: str = "") -> OutboundEntry:
    """Skip the entry (not called); the note says why."""
    if len(note or "") > 2000:
        raise ValidationFailed(fields={"note": _("At most %(n)s characters.") % {"n": 2000}})
    with transaction.atomic():
        entry = _entry_for_work(actor, entry_id)
        if entry.status in (EntryStatus.DONE, EntryStatus.SKIPPED):
            raise Conflict(_("This entry is already worked."), code="entry_worked")
        if entry.status == EntryStatus.CALLING:
            raise Conflict(
                _("This customer is being called: record the result instead."), code="entry_calling"
            )
        entry.status, entry.note, entry.done_at = EntryStatus.SKIPPED, (note or "").strip(), timezone.now()
        entry.save(update_fields=["status", "note", "done_at"])
        audit_record(workspace=actor.workspace, actor=actor.user, action="tel.outbound.skip", obj=entry,
                     after={"note": entry.note})  # fmt: skip
    return entry


def entry_result(
    *, actor: Membership, entry_id: Any, result: str, note: str = "", now: dt.datetime | None = None
) -> OutboundEntry:
    """Record the result of working an entry (and its note) on the entry, on its call record (notes) and on the
    customer's timeline. "Call again later" puts it back at the end of the agent's to-do entries."""
    now = now or timezone.now()
    errors: dict[str, str] = {}
    if result not in EntryResult.values:
        errors["result"] = _("Choose a result.")
    if len(note or "") > 2000:
        errors["note"] = _("At most %(n)s characters.") % {"n": 2000}
    if errors:
        raise ValidationFailed(fields=errors)
    note = (note or "").strip()
    with transaction.atomic():
        entry = _entry_for_work(actor, entry_id)
        olist = entry.outbound_list
        if olist.channel == OutboundChannel.MESSAGE and result not in MESSAGE_RESULTS:
            raise ValidationFailed(fields={"result": _("Choose a result that fits a message list.")})
        if entry.status in (EntryStatus.DONE, EntryStatus.SKIPPED):
            raise Conflict(_("This entry is already worked."), code="entry_worked")
        if entry.call_id:
            call = Call.objects.select_for_update().get(pk=entry.call_id)
            if call.state != "ended":
                raise Conflict(
                    _("The call is still going on: record the result when it ends."), code="call_open"
                )
            if note and not call.notes:
                call.notes = note
                call.save(update_fields=["notes"])
        entry.result, entry.note = result, note
        if result == EntryResult.CALL_BACK:
            last = OutboundEntry.objects.filter(outbound_list=olist).aggregate(m=Max("position"))["m"] or 0
            entry.status, entry.position, entry.call = EntryStatus.PENDING, last + 1, None
        else:
            entry.status, entry.done_at = EntryStatus.DONE, now
        entry.save()
        audit_record(workspace=actor.workspace, actor=actor.user, action="tel.outbound.result", obj=entry,
                     after={"result": result, "note": note})  # fmt: skip
        _timeline(actor, entry, now)
    return entry


def _timeline(actor: Membership, entry: OutboundEntry, now: dt.datetime) -> None:
    from guanxi.customers.timeline import interaction_record

    olist = entry.outbound_list
    interaction_record(
        workspace=actor.workspace, customer_id=entry.customer_id, actor=actor.user, occurred_at=now,
        kind="call" if olist.channel == OutboundChannel.CALL else "sms", direction="out",
        subject=_("%(list)s: %(result)s") % {"list": olist.name, "result": entry.get_result_display()},
        body=entry.note, source_type="telephony.outbound", source_id=str(entry.pk),
        data={"list_id": olist.pk, "result": entry.result, "call_id": entry.call_id, "attempts": entry.attempts},
        external_key=f"tel:outbound:{entry.pk}:{entry.attempts}:{entry.result}",
    )  # fmt: skip


def outbound_list_close(*, actor: Membership, list_id: Any) -> OutboundList:
    """Close (or reopen) a list: a closed list takes no more calls or results. Supervisors only. Audited."""
    routing.require_supervisor(actor)
    with transaction.atomic():
        olist = OutboundList.objects.select_for_update().filter(pk=_int(list_id) or 0).first()
        if olist is None:
            raise NotFound()
        olist.status = (
            OutboundListStatus.OPEN
            if olist.status == OutboundListStatus.CLOSED
            else OutboundListStatus.CLOSED
        )
        olist.save(update_fields=["status"])
        audit_record(workspace=actor.workspace, actor=actor.user, action="tel.outbound.status", obj=olist,
                     after={"status": olist.status})  # fmt: skip
    return olist


__all__ = [
    "outbound_list_create", "outbound_lists", "get_list_for", "progress", "entry_list", "next_entry", "entry_call",
    "entry_skip", "entry_result", "outbound_list_close", "segment_customers",
]  # fmt: skip
