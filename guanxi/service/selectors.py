"""Reads of the service app: access guards and lists."""

from __future__ import annotations

from django.db.models import QuerySet

from guanxi.core.errors import NotFound
from guanxi.service.models import Ticket
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module


def get_ticket_for(
    actor: Membership, ticket_id: int, *, action: permissions.Action = "view", lock: bool = False
) -> Ticket:
    """The ticket, if in the actor's workspace and service scope (by assignee). Missing and not-yours: one 404."""
    qs: QuerySet[Ticket] = Ticket.objects.select_related("customer", "category", "assignee", "team")
    if lock:
        qs = qs.select_for_update(of=("self",))
    try:
        ticket = qs.get(pk=ticket_id)
    except (Ticket.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None
    permissions.require_object(actor, Module.SERVICE, action, owner_id=ticket.assignee_id)
    return ticket
