"""Reads of the field visits (上门服务): one visit through its ticket's access guard (or as its technician), a
ticket's visits, and the schedule by technician and day (``visit_ws_tech_slot_idx`` / ``visit_ws_slot_idx``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet

from guanxi.core.errors import NotFound
from guanxi.service.models import FieldVisit, Ticket
from guanxi.service.selectors import get_ticket_for
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module


def get_visit_for(actor: Membership, visit_id: Any) -> FieldVisit:
    """The visit, if the actor is its technician or may see its ticket; one 404 for missing and not yours."""
    visit = (
        FieldVisit.objects.select_related("ticket", "ticket__customer", "technician", "signature")
        .filter(pk=visit_id)
        .first()
        if str(visit_id).isdigit()
        else None
    )
    if visit is None:
        raise NotFound()
    if visit.technician_id != actor.user_id:
        get_ticket_for(actor, visit.ticket_id)
    return visit


def visit_list(
    *,
    actor: Membership,
    technician_id: int | None = None,
    status: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    ticket_id: int | None = None,
) -> QuerySet[FieldVisit]:
    """Visits the actor may see (on tickets in their service scope, or their own as technician), in slot order."""
    visible = permissions.filter_queryset(
        actor, Module.SERVICE, "view", Ticket.objects.all(), owner_field="assignee"
    ).values("pk")
    qs = FieldVisit.objects.select_related("ticket", "ticket__customer", "technician").filter(
        Q(ticket_id__in=visible) | Q(technician_id=actor.user_id)
    )
    if technician_id is not None:
        qs = qs.filter(technician_id=technician_id)
    if status:
        qs = qs.filter(status=status)
    if start is not None:
        qs = qs.filter(slot_end__gt=start)
    if end is not None:
        qs = qs.filter(slot_start__lt=end)
    if ticket_id is not None:
        qs = qs.filter(ticket_id=ticket_id)
    return qs.order_by("slot_start", "id")
