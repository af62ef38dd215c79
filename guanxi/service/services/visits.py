"""Field visits (上门服务): schedule a technician's visit for a ticket, check in on site, check out with the result,
the parts used and the customer's sign-off (a name, an optional signature image and photos), or cancel. Every step is
audited and written on the customer's timeline (``ticket_timeline``, idempotent per visit and step).

Who may act: scheduling and cancelling need edit rights on the ticket; checking in and out, the visit's technician
or a member with edit rights on the ticket.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from guanxi.core.errors import NotFound, ValidationFailed
from guanxi.ledger.services import audit_record, snapshot
from guanxi.service.models import (
    ACTIVE_VISIT_STATUSES,
    FieldVisit,
    Ticket,
    TicketAttachment,
    TicketStatus,
    VisitStatus,
)
from guanxi.service.selectors import get_ticket_for
from guanxi.service.services.messages import Upload, check_uploads
from guanxi.service.services.tickets import _locked, ticket_timeline
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

MAX_SLOT = dt.timedelta(hours=12)
MAX_PARTS = 50
SIGNATURE_TYPES = (".png", ".jpg", ".jpeg")


def _when(value: Any, field: str, errors: dict[str, str]) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = parse_datetime(str(value or "").strip())
        except ValueError:
            moment = None
        if moment is None:
            errors[field] = _("Enter a date and time like 2026-12-01 09:00.")
            return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _slot(slot_start: Any, slot_end: Any) -> tuple[dt.datetime, dt.datetime]:
    errors: dict[str, str] = {}
    start = _when(slot_start, "slot_start", errors)
    end = _when(slot_end, "slot_end", errors)
    if start and end:
        if end <= start:
            errors["slot_end"] = _("The slot must end after it starts.")
        elif end - start > MAX_SLOT:
            errors["slot_end"] = _("A slot is at most %(h)s hours.") % {
                "h": int(MAX_SLOT.total_seconds() // 3600)
            }
    if errors:
        raise ValidationFailed(fields=errors)
    return start, end  # type: ignore[return-value]


def _technician(technician_id: Any) -> Membership:
    m = (
        Membership.objects.select_related("user").filter(user_id=technician_id, is_active=True).first()
        if str(technician_id).isdigit()
        else None
    )
    if m is None:
        raise ValidationFailed(fields={"technician_id": _("Choose a member of this workspace.")})
    return m


def _overlap(
    technician_id: int, start: dt.datetime, end: dt.datetime, exclude: int | None = None
) -> FieldVisit | None:
    qs = FieldVisit.objects.filter(
        technician_id=technician_id, status__in=ACTIVE_VISIT_STATUSES, slot_start__lt=end, slot_end__gt=start
    )
    if exclude:
        qs = qs.exclude(pk=exclude)
    return qs.order_by("slot_start").first()


def _timeline(visit: FieldVisit, ticket: Ticket, user: Any, step: str, subject: str, body: str = "") -> None:
    ticket_timeline(ticket, actor_user=user, subject=subject, event=f"visit:{visit.pk}:{step}", body=body)


def visit_schedule(
    *,
    actor: Membership,
    ticket: Ticket | int,
    technician_id: Any,
    slot_start: Any,
    slot_end: Any,
    address: str = "",
    note: str = "",
) -> FieldVisit:
    """Schedule a technician's visit for a ticket in a time slot (at most 12 hours). Refuses a closed ticket, a
    technician who is not an active member, a slot that ends before it starts, and a slot overlapping another
    active visit of the same technician (the technician's rows are locked, so two schedulers cannot both win)."""
    start, end = _slot(slot_start, slot_end)
    address = str(address or "").strip()
    note = str(note or "").strip()
    if len(address) > 300:
        raise ValidationFailed(fields={"address": _("At most %(n)s characters.") % {"n": 300}})
    if len(note) > 5000:
        raise ValidationFailed(fields={"note": _("At most %(n)s characters.") % {"n": 5000}})
    with transaction.atomic():
        t = _locked(actor, ticket)
        if t.status == TicketStatus.CLOSED:
            raise ValidationFailed(fields={"ticket": _("This ticket is closed; reopen it first.")})
        tech = _technician(technician_id)
        # serialise bookings of one technician: lock their membership row before the overlap check
        Membership.objects.select_for_update().filter(pk=tech.pk).first()
        clash = _overlap(tech.user_id, start, end)
        if clash is not None:
            raise ValidationFailed(
                fields={
                    "slot_start": _("%(name)s already has a visit from %(start)s to %(end)s.")
                    % {
                        "name": tech.user,
                        "start": timezone.localtime(clash.slot_start).strftime("%Y-%m-%d %H:%M"),
                        "end": timezone.localtime(clash.slot_end).strftime("%H:%M"),
                    }
                }
            )
        visit = FieldVisit(
            ticket=t,
            technician_id=tech.user_id,
            slot_start=start,
            slot_end=end,
            address=address or _customer_address(t),
            note=note,
            created_by=actor.user,
        )
        visit.workspace = t.workspace
        visit.save()
        audit_record(
            workspace=t.workspace, actor=actor.user, action="visit.schedule", obj=visit, after=snapshot(visit)
        )
        _timeline(
            visit,
            t,
            actor.user,
            "scheduled",
            _("Field visit scheduled for ticket #%(id)s: %(start)s-%(end)s, %(tech)s")
            % {
                "id": t.pk,
                "start": timezone.localtime(start).strftime("%Y-%m-%d %H:%M"),
                "end": timezone.localtime(end).strftime("%H:%M"),
                "tech": tech.user,
            },
            visit.address,
        )
        _notify_technician(visit, t, tech)
    return visit


def _notify_technician(visit: FieldVisit, ticket: Ticket, tech: Membership) -> None:
    """Tell the technician of a new visit: an in-app notice (站内通知, the bell's list, pushed live over the
    websocket) in their language, and an email (a background job) once the booking has committed."""
    from django.urls import reverse  # noqa: PLC0415
    from django.utils import translation  # noqa: PLC0415

    from guanxi.sales.services.activities import notice_send  # noqa: PLC0415
    from guanxi.service import tasks  # noqa: PLC0415

    user = tech.user
    with translation.override(user.language or ticket.workspace.language or None):
        title = _("Field visit %(start)s-%(end)s at %(customer)s (ticket #%(id)s)") % {
            "start": timezone.localtime(visit.slot_start).strftime("%Y-%m-%d %H:%M"),
            "end": timezone.localtime(visit.slot_end).strftime("%H:%M"),
            "customer": ticket.customer.name,
            "id": ticket.pk,
        }
    url = reverse("service:visit_detail", args=[visit.pk])
    notice_send(user_id=user.pk, title=title, url=url, event="service.visit_scheduled", visit_id=visit.pk)
    transaction.on_commit(lambda: tasks.send_visit_notice(visit.pk))


def _customer_address(ticket: Ticket) -> str:
    cust = ticket.customer
    parts = [getattr(cust, k, "") or "" for k in ("province", "city", "address")]
    return " ".join(p for p in parts if p)[:300]


def _visit_locked(actor: Membership, visit_id: Any, *, technician_may: bool) -> tuple[FieldVisit, Ticket]:
    """The visit row locked, checked: its technician (when ``technician_may``) or a member with edit rights on the
    ticket. Another workspace's or an unknown visit is NotFound; a member who may only see it, Forbidden."""
    visit = (
        FieldVisit.objects.select_for_update(of=("self",)).filter(pk=visit_id).first()
        if str(visit_id).isdigit()
        else None
    )
    if visit is None:
        raise NotFound()
    if technician_may and visit.technician_id == actor.user_id:
        ticket = Ticket.objects.select_related("customer").get(pk=visit.ticket_id)
    else:
        get_ticket_for(actor, visit.ticket_id)  # 404 when not even visible
        ticket = get_ticket_for(actor, visit.ticket_id, action="edit")
    return visit, ticket


def visit_check_in(*, actor: Membership, visit_id: Any) -> FieldVisit:
    """The technician arrives (签到): stamps the time, the visit is on site. Refuses a visit not scheduled."""
    with transaction.atomic():
        visit, t = _visit_locked(actor, visit_id, technician_may=True)
        if visit.status != VisitStatus.SCHEDULED:
            raise ValidationFailed(
                fields={"status": _("Only a scheduled visit can be checked in (it is %(s)s).")
                        % {"s": VisitStatus(visit.status).label}}
            )  # fmt: skip
        visit.status, visit.checked_in_at = VisitStatus.ON_SITE, timezone.now()
        visit.save(update_fields=["status", "checked_in_at"])
        audit_record(workspace=t.workspace, actor=actor.user, action="visit.check_in", obj=visit)
        _timeline(
            visit,
            t,
            actor.user,
            "check_in",
            _("Technician checked in on site for ticket #%(id)s at %(at)s")
            % {"id": t.pk, "at": timezone.localtime(visit.checked_in_at).strftime("%Y-%m-%d %H:%M")},
        )
    return visit


def clean_parts(raw: Any) -> list[dict[str, Any]]:
    """Parts used: a list of {"name", "quantity"} (quantity a whole number 1-10000); errors name the row."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise ValidationFailed(fields={"parts_used": _("Give a list of parts with name and quantity.")})
    if len(raw) > MAX_PARTS:
        raise ValidationFailed(fields={"parts_used": _("At most %(n)s parts.") % {"n": MAX_PARTS}})
    errors: dict[str, str] = {}
    out = []
    for i, row in enumerate(raw):
        row = row if isinstance(row, dict) else {}
        name = str(row.get("name") or "").strip()
        if not name:
            errors[f"parts_used.{i}.name"] = _("This field is required.")
        elif len(name) > 100:
            errors[f"parts_used.{i}.name"] = _("At most %(n)s characters.") % {"n": 100}
        try:
            qty = int(str(row.get("quantity", "")).strip())
            if not 1 <= qty <= 10_000:
                raise ValueError
        except (TypeError, ValueError):
            errors[f"parts_used.{i}.quantity"] = _("Enter a whole number from 1 to 10000.")
            qty = 0
        out.append({"name": name, "quantity": qty})
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def visit_check_out(
    *,
    actor: Membership,
    visit_id: Any,
    result: str,
    parts_used: Any = None,
    signed_by: str,
    signature: Upload | None = None,
    photos: list[Upload] | None = None,
) -> FieldVisit:
    """The technician leaves (签退): stamps the time, records the result, the parts used and the customer's
    sign-off (``signed_by``, the name of who signed; ``signature`` an optional PNG/JPEG image), keeps the photos as
    ticket attachments. Refuses a visit not on site, an empty result or signer, bad parts (naming the row) and bad
    files; nothing is saved then."""
    result = str(result or "").strip()
    signed_by = str(signed_by or "").strip()
    errors: dict[str, str] = {}
    if not result:
        errors["result"] = _("This field is required.")
    elif len(result) > 20_000:
        errors["result"] = _("At most %(n)s characters.") % {"n": 20_000}
    if not signed_by:
        errors["signed_by"] = _("Enter the name of the person who signed off.")
    elif len(signed_by) > 100:
        errors["signed_by"] = _("At most %(n)s characters.") % {"n": 100}
    if signature is not None and not signature.name.lower().endswith(SIGNATURE_TYPES):
        errors["signature"] = _("The signature must be a PNG or JPEG image.")
    if errors:
        raise ValidationFailed(fields=errors)
    parts = clean_parts(parts_used)
    checked_signature = check_uploads([signature], field="signature") if signature is not None else []
    checked_photos = check_uploads(photos or [], field="photos")
    with transaction.atomic():
        visit, t = _visit_locked(actor, visit_id, technician_may=True)
        if visit.status != VisitStatus.ON_SITE:
            raise ValidationFailed(fields={"status": _("Check in before checking out.")})
        now = timezone.now()
        saved = _store(t, checked_signature + checked_photos, actor.user)
        visit.status, visit.checked_out_at = VisitStatus.DONE, now
        visit.result, visit.parts_used = result, parts
        visit.signed_by, visit.signed_at = signed_by, now
        visit.signature = saved[0] if checked_signature else None
        visit.save()
        audit_record(
            workspace=t.workspace,
            actor=actor.user,
            action="visit.check_out",
            obj=visit,
            after=snapshot(visit),
        )
        parts_text = "; ".join(f"{p['name']} × {p['quantity']}" for p in parts)
        _timeline(
            visit,
            t,
            actor.user,
            "done",
            _("Field visit done for ticket #%(id)s, signed off by %(name)s")
            % {"id": t.pk, "name": signed_by},
            result + (f"\n{_('Parts used')}: {parts_text}" if parts_text else ""),
        )
    return visit


def _store(ticket: Ticket, checked: list[tuple[str, str, bytes]], user: Any) -> list[TicketAttachment]:
    from django.core.files.base import ContentFile  # noqa: PLC0415

    out = []
    for name, ctype, content in checked:
        att = TicketAttachment(
            ticket=ticket, filename=name, content_type=ctype, size=len(content), uploaded_by=user
        )
        att.workspace = ticket.workspace
        att.file.save(name, ContentFile(content), save=False)
        att.save()
        out.append(att)
    return out


def visit_cancel(*, actor: Membership, visit_id: Any, reason: str = "") -> FieldVisit:
    """Cancel a visit that has not started (scheduled); frees the technician's slot. Needs edit rights on the
    ticket."""
    reason = str(reason or "").strip()[:300]
    with transaction.atomic():
        visit, t = _visit_locked(actor, visit_id, technician_may=False)
        if visit.status != VisitStatus.SCHEDULED:
            raise ValidationFailed(fields={"status": _("Only a scheduled visit can be cancelled.")})
        visit.status, visit.cancel_reason = VisitStatus.CANCELLED, reason
        visit.save(update_fields=["status", "cancel_reason"])
        audit_record(
            workspace=t.workspace,
            actor=actor.user,
            action="visit.cancel",
            obj=visit,
            changes={"reason": reason},
        )
        _timeline(
            visit,
            t,
            actor.user,
            "cancelled",
            _("Field visit for ticket #%(id)s cancelled") % {"id": t.pk},
            reason,
        )
    return visit


def may_work_visit(actor: Membership, visit: FieldVisit, ticket: Ticket) -> bool:
    """Whether the actor may check the visit in or out (for the pages' buttons)."""
    return visit.technician_id == actor.user_id or permissions.can(
        actor, Module.SERVICE, "edit", owner_id=ticket.assignee_id
    )
