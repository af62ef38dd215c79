"""Tickets (工单): create from any channel, reply and note, assign, move through the status workflow, merge, split,
close. Every write audits and records the ticket on the customer's timeline."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.context import workspace_context
from guanxi.core.errors import NotFound, ValidationFailed
from guanxi.customers.models import Customer, InteractionDirection, InteractionKind
from guanxi.customers.timeline import interaction_record
from guanxi.ledger.services import audit_record, snapshot
from guanxi.service import hooks
from guanxi.service.models import (
    STATUS_FLOW,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketPriority,
    TicketStatus,
    TicketType,
)
from guanxi.service.selectors import get_ticket_for
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

log = logging.getLogger(__name__)

INBOUND_CHANNELS = {
    TicketChannel.WEB_FORM,
    TicketChannel.EMAIL,
    TicketChannel.PHONE,
    TicketChannel.CHAT,
    TicketChannel.PORTAL,
}


def _user(actor: Membership | None) -> Any:
    return actor.user if actor is not None else None


def _clean_create(
    *, subject: Any, description: Any, channel: Any, priority: Any, type: Any, source_ref: Any
) -> dict[str, Any]:
    errors: dict[str, str] = {}
    subject = str(subject or "").strip()
    description = str(description or "").strip()
    if not subject:
        errors["subject"] = _("This field is required.")
    elif len(subject) > 300:
        errors["subject"] = _("At most %(n)s characters.") % {"n": 300}
    if len(description) > 50_000:
        errors["description"] = _("At most %(n)s characters.") % {"n": 50_000}
    if channel not in TicketChannel.values:
        errors["channel"] = _("Choose one of: %(choices)s.") % {"choices": ", ".join(TicketChannel.values)}
    if priority not in TicketPriority.values:
        errors["priority"] = _("Choose one of: %(choices)s.") % {"choices": ", ".join(TicketPriority.values)}
    if type not in TicketType.values:
        errors["type"] = _("Choose one of: %(choices)s.") % {"choices": ", ".join(TicketType.values)}
    source_ref = str(source_ref or "").strip()
    if len(source_ref) > 200:
        errors["source_ref"] = _("At most %(n)s characters.") % {"n": 200}
    if errors:
        raise ValidationFailed(fields=errors)
    return {
        "subject": subject,
        "description": description,
        "channel": channel,
        "priority": priority,
        "type": type,
        "source_ref": source_ref,
    }


def _resolve_customer(actor: Membership | None, customer: Customer | int) -> Customer:
    """The live customer of the current workspace (a merged one resolves to its survivor); another workspace's
    customer, or one out of the actor's view scope, is NotFound."""
    cid = customer.pk if isinstance(customer, Customer) else customer
    try:
        row = Customer.objects.select_related("merged_into").get(pk=cid)
    except (Customer.DoesNotExist, ValueError, TypeError):
        raise ValidationFailed(fields={"customer_id": _("No such customer in this workspace.")}) from None
    if row.merged_into_id:
        row = row.merged_into
    if actor is not None and not permissions.can(actor, Module.CUSTOMERS, "view", owner_id=row.owner_id):
        raise ValidationFailed(fields={"customer_id": _("No such customer in this workspace.")})
    return row


def _resolve_category(category: TicketCategory | int | None) -> TicketCategory | None:
    if category in (None, ""):
        return None
    cid = category.pk if isinstance(category, TicketCategory) else category
    found = TicketCategory.objects.filter(pk=cid).first() if str(cid).isdigit() else None
    if found is None:
        raise ValidationFailed(fields={"category_id": _("Choose a category of this workspace.")})
    return found


def ticket_timeline(ticket: Ticket, *, actor_user: Any, subject: str, event: str, body: str = "") -> None:
    """Record a ticket event on the customer's timeline (idempotent per ticket and event key)."""
    interaction_record(
        workspace=ticket.workspace,
        customer_id=ticket.customer_id,
        kind=InteractionKind.TICKET,
        occurred_at=timezone.now(),
        actor=actor_user,
        direction=InteractionDirection.INBOUND
        if event == "created" and ticket.channel in INBOUND_CHANNELS
        else "",
        subject=subject,
        body=body[:2000],
        source_type="service.ticket",
        source_id=str(ticket.pk),
        data={"ticket_id": ticket.pk, "event": event, "status": ticket.status},
        external_key=f"ticket:{ticket.pk}:{event}",
    )


def ticket_create(
    *,
    actor: Membership | None,
    customer: Customer | int,
    subject: str,
    description: str = "",
    channel: str = TicketChannel.WEB,
    category: TicketCategory | int | None = None,
    priority: str = TicketPriority.NORMAL,
    type: str = TicketType.TICKET,
    source_ref: str = "",
    assignee_id: int | None = None,
    team_id: int | None = None,
) -> Ticket:
    """Open a ticket for ``customer`` (a Customer or its id, of the current workspace).

    ``actor`` is the member entering it, or None for a system source (web form, email, portal, survey follow-up;
    the current workspace context must then be the customer's). With ``source_ref`` it is idempotent: a second call
    with the same reference returns the ticket already made. Picks the SLA policy and deadlines and, without an
    assignee, runs the assignment rules. Audits, records on the timeline. Refuses a customer of another workspace
    (NotFound), an unknown category, channel, priority or type (ValidationFailed).
    """
    if actor is not None:
        permissions.require(actor, Module.SERVICE, "edit")
    data = _clean_create(
        subject=subject,
        description=description,
        channel=channel,
        priority=priority,
        type=type,
        source_ref=source_ref,
    )
    with transaction.atomic():
        cust = _resolve_customer(actor, customer)
        cat = _resolve_category(category)
        if data["source_ref"]:
            existing = Ticket.objects.filter(source_ref=data["source_ref"]).first()
            if existing is not None:
                return existing
        from guanxi.service.services.assignment import ticket_pick_assignee  # noqa: PLC0415
        from guanxi.service.services.sla import ticket_apply_sla  # noqa: PLC0415

        if actor is not None and assignee_id is not None:
            permissions.require(actor, Module.SERVICE, "edit", owner_id=int(assignee_id))
        ticket = Ticket(
            customer=cust,
            category=cat,
            assignee_id=assignee_id,
            team_id=team_id,
            created_by=_user(actor),
            **data,
        )
        ticket.workspace = cust.workspace
        with transaction.atomic():  # savepoint: a concurrent duplicate source_ref loses cleanly
            ticket.save()
        if ticket.assignee_id is None:
            ticket_pick_assignee(ticket)
        ticket_apply_sla(ticket, now=ticket.created_at)
        ticket.save()
        audit_record(
            workspace=cust.workspace,
            actor=_user(actor),
            action="ticket.create",
            obj=ticket,
            after=snapshot(ticket),
        )
        ticket_timeline(
            ticket,
            actor_user=_user(actor),
            subject=_("Ticket #%(id)s opened: %(subject)s") % {"id": ticket.pk, "subject": ticket.subject},
            event="created",
            body=ticket.description,
        )
    return ticket


def _run_closed_hooks(ticket_id: int, workspace: Any) -> None:
    with workspace_context(workspace):
        ticket = Ticket.objects.filter(pk=ticket_id).first()
        if ticket is None:
            return
        for callback in list(hooks.ON_TICKET_CLOSED):
            try:
                callback(ticket)
            except Exception:  # one broken callback must not stop the others
                log.exception("ticket closed hook %r failed for ticket %s", callback, ticket_id)


def ticket_set_status(*, actor: Membership | None, ticket: Ticket | int, status: str) -> Ticket:
    """Move a ticket along the workflow (``STATUS_FLOW``). Pending pauses the SLA clock and leaving pending resumes
    it (the paused business minutes push the deadlines out); resolved/closed stamp their times; reopening clears
    them. Closing runs ``hooks.ON_TICKET_CLOSED`` after commit. The same status again changes nothing. Refuses a
    move the workflow does not allow, and a ticket merged into another."""
    from guanxi.service.services.sla import ticket_sla_pause, ticket_sla_resume  # noqa: PLC0415

    if status not in TicketStatus.values:
        raise ValidationFailed(
            fields={"status": _("Choose one of: %(choices)s.") % {"choices": ", ".join(TicketStatus.values)}}
        )
    with transaction.atomic():
        t = _locked(actor, ticket)
        if t.status == status:
            return t
        if status not in STATUS_FLOW[t.status]:
            raise ValidationFailed(
                fields={
                    "status": _("A %(old)s ticket cannot become %(new)s.")
                    % {"old": TicketStatus(t.status).label, "new": TicketStatus(status).label}
                }
            )
        if t.merged_into_id and status != TicketStatus.CLOSED:
            raise ValidationFailed(fields={"status": _("This ticket was merged into another one.")})
        now = timezone.now()
        before = snapshot(t)
        old = t.status
        if old == TicketStatus.PENDING:
            ticket_sla_resume(t, now=now)
        if status == TicketStatus.PENDING:
            ticket_sla_pause(t, now=now)
        t.status = status
        if status == TicketStatus.RESOLVED:
            t.resolved_at = now
        elif status == TicketStatus.CLOSED:
            t.closed_at = now
            t.resolved_at = t.resolved_at or now
        elif status == TicketStatus.OPEN and old in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
            t.resolved_at = None
            t.closed_at = None
        t.save()
        audit_record(
            workspace=t.workspace,
            actor=_user(actor),
            action="ticket.status",
            obj=t,
            before=before,
            after=snapshot(t),
        )
        event = f"status:{status}:{int(now.timestamp() * 1000)}"
        ticket_timeline(
            t,
            actor_user=_user(actor),
            subject=_("Ticket #%(id)s is now %(status)s")
            % {"id": t.pk, "status": TicketStatus(status).label},
            event=event,
        )
        if status == TicketStatus.CLOSED:
            ws = t.workspace
            transaction.on_commit(lambda: _run_closed_hooks(t.pk, ws))
    return t


def _locked(actor: Membership | None, ticket: Ticket | int) -> Ticket:
    """The ticket row locked for update; with an actor, checked against their edit scope (404 / 403)."""
    tid = ticket.pk if isinstance(ticket, Ticket) else ticket
    if actor is not None:
        return get_ticket_for(actor, tid, action="edit", lock=True)
    found = (
        Ticket.objects.select_for_update(of=("self",)).filter(pk=tid).first() if str(tid).isdigit() else None
    )
    if found is None:
        raise NotFound()
    return found


def ticket_close(*, actor: Membership | None, ticket: Ticket | int) -> Ticket:
    """Close a ticket (关闭): sets ``closed_at`` (and ``resolved_at`` if it was never resolved), stops its SLA clock,
    audits, records on the timeline and, after commit, runs ``hooks.ON_TICKET_CLOSED`` (e.g. the satisfaction
    survey). Closing a closed ticket changes nothing and runs no hook."""
    return ticket_set_status(actor=actor, ticket=ticket, status=TicketStatus.CLOSED)


# --- fields, assignment -----------------------------------------------------------------------------------------------
UPDATABLE = ("subject", "description", "category_id", "priority", "type", "team_id")


def ticket_update(*, actor: Membership, ticket: Ticket | int, **fields: Any) -> Ticket:
    """Change a ticket's subject, description, category, priority, type or team. A new priority or category picks
    the SLA policy again (deadlines from the ticket's start). Refuses unknown fields and bad values."""
    from guanxi.service.services.sla import ticket_apply_sla  # noqa: PLC0415
    from guanxi.workspaces.models import Team  # noqa: PLC0415

    unknown = set(fields) - set(UPDATABLE)
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in sorted(unknown)})
    with transaction.atomic():
        t = _locked(actor, ticket)
        data = _clean_create(
            subject=fields.get("subject", t.subject),
            description=fields.get("description", t.description),
            channel=t.channel,
            priority=fields.get("priority", t.priority),
            type=fields.get("type", t.type),
            source_ref=t.source_ref,
        )
        if "category_id" in fields:
            cat = _resolve_category(fields["category_id"])
            t.category = cat
        if "team_id" in fields:
            tid = fields["team_id"]
            if tid in (None, ""):
                t.team = None
            else:
                team = Team.objects.filter(pk=tid).first() if str(tid).isdigit() else None
                if team is None:
                    raise ValidationFailed(fields={"team_id": _("Choose a team of this workspace.")})
                t.team = team
        before = snapshot(t)
        for key in ("subject", "description", "priority", "type"):
            setattr(t, key, data[key])
        if (
            before["priority"] != t.priority
            or before["category"] != t.category_id
            or before["team"] != t.team_id
        ):
            ticket_apply_sla(t, now=timezone.now())
        t.save()
        audit_record(
            workspace=t.workspace,
            actor=actor.user,
            action="ticket.update",
            obj=t,
            before=before,
            after=snapshot(t),
        )
    return t


def ticket_assign(*, actor: Membership | None, ticket: Ticket | int, assignee_id: int | None) -> Ticket:
    """Give the ticket to a member (or unassign with None). The actor must be allowed to edit tickets of both the
    old and the new assignee. Refuses a user who is not an active member of this workspace."""
    with transaction.atomic():
        t = _locked(actor, ticket)
        if assignee_id is not None:
            m = (
                Membership.objects.filter(user_id=assignee_id, is_active=True).first()
                if str(assignee_id).isdigit()
                else None
            )
            if m is None:
                raise ValidationFailed(fields={"assignee_id": _("Choose a member of this workspace.")})
            if actor is not None:
                permissions.require(actor, Module.SERVICE, "edit", owner_id=m.user_id)
            assignee_id = m.user_id
        if t.assignee_id == assignee_id:
            return t
        before = snapshot(t)
        t.assignee_id = assignee_id
        t.save()
        audit_record(
            workspace=t.workspace,
            actor=_user(actor),
            action="ticket.assign",
            obj=t,
            before=before,
            after=snapshot(t),
        )
    return t


# --- merge and split --------------------------------------------------------------------------------------------------
def ticket_merge(*, actor: Membership, source: Ticket | int, target: Ticket | int) -> Ticket:
    """Merge ``source`` into ``target`` (合并): the source's messages and attachments move to the target, the source
    is closed with ``merged_into`` set and a note on the target says so. Both must be the same customer's open
    tickets; refuses merging a ticket into itself. Returns the target."""
    from guanxi.service.models import MessageKind, TicketAttachment, TicketMessage  # noqa: PLC0415

    sid = source.pk if isinstance(source, Ticket) else source
    tid = target.pk if isinstance(target, Ticket) else target
    if str(sid) == str(tid):
        raise ValidationFailed(fields={"target_id": _("A ticket cannot be merged into itself.")})
    with transaction.atomic():
        # lock in id order, so two merges of the same pair cannot deadlock
        first, second = sorted([int(sid), int(tid)])
        locked = {first: _locked(actor, first), second: _locked(actor, second)}
        src, dst = locked[int(sid)], locked[int(tid)]
        if src.customer_id != dst.customer_id:
            raise ValidationFailed(
                fields={"target_id": _("Only tickets of the same customer can be merged.")}
            )
        if src.status == TicketStatus.CLOSED or dst.status == TicketStatus.CLOSED or src.merged_into_id:
            raise ValidationFailed(fields={"target_id": _("Closed or merged tickets cannot be merged.")})
        moved = TicketMessage.objects.filter(ticket=src).update(ticket=dst)
        TicketAttachment.objects.filter(ticket=src).update(ticket=dst)
        if src.description:
            note_body = _("Merged from ticket #%(id)s (%(subject)s):\n\n%(text)s") % {
                "id": src.pk,
                "subject": src.subject,
                "text": src.description,
            }
        else:
            note_body = _("Merged from ticket #%(id)s (%(subject)s).") % {
                "id": src.pk,
                "subject": src.subject,
            }
        note = TicketMessage(ticket=dst, kind=MessageKind.NOTE, author=actor.user, body=note_body)
        note.workspace = dst.workspace
        note.save()
        if dst.first_response_at is None and src.first_response_at is not None:
            dst.first_response_at = src.first_response_at
            dst.save(update_fields=["first_response_at", "updated_at"])
        src.merged_into = dst
        src.save(update_fields=["merged_into", "updated_at"])
        ticket_set_status(actor=actor, ticket=src, status=TicketStatus.CLOSED)
        audit_record(
            workspace=dst.workspace,
            actor=actor.user,
            action="ticket.merge",
            obj=dst,
            changes={"source": src.pk, "messages_moved": moved},
        )
    return dst


def ticket_split(*, actor: Membership, ticket: Ticket | int, message_ids: list[int], subject: str) -> Ticket:
    """Split messages off into a new ticket of the same customer (拆分), e.g. a second question in one email. The
    chosen messages and their attachments move; the new ticket copies channel, category, priority, type, team and
    assignee. Refuses no messages, messages of another ticket, and a closed ticket."""
    from guanxi.service.models import TicketAttachment, TicketMessage  # noqa: PLC0415

    if not message_ids:
        raise ValidationFailed(fields={"message_ids": _("Choose at least one message to split off.")})
    with transaction.atomic():
        t = _locked(actor, ticket)
        if t.status == TicketStatus.CLOSED:
            raise ValidationFailed(fields={"message_ids": _("This ticket is closed; reopen it first.")})
        ids = {int(i) for i in message_ids if str(i).isdigit()}
        msgs = list(TicketMessage.objects.filter(ticket=t, pk__in=ids))
        if len(msgs) != len(set(message_ids)) or not msgs:
            raise ValidationFailed(fields={"message_ids": _("Choose messages of this ticket.")})
        new = ticket_create(
            actor=actor,
            customer=t.customer_id,
            subject=subject,
            description=msgs[0].body,
            channel=t.channel,
            category=t.category_id,
            priority=t.priority,
            type=t.type,
            assignee_id=t.assignee_id,
            team_id=t.team_id,
        )
        TicketMessage.objects.filter(pk__in=ids).update(ticket=new)
        TicketAttachment.objects.filter(message_id__in=ids).update(ticket=new)
        audit_record(
            workspace=t.workspace,
            actor=actor.user,
            action="ticket.split",
            obj=t,
            changes={"new_ticket": new.pk, "messages": sorted(ids)},
        )
    return new
