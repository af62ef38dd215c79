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


def ticket_list(
    *,
    actor: Membership,
    status: str | None = None,
    team_id: int | None = None,
    assignee_id: int | None = None,
    customer_id: int | None = None,
    type: str | None = None,
    open_only: bool = False,
    unassigned: bool = False,
) -> QuerySet[Ticket]:
    """Tickets the actor may see, filtered by queue (team), status, assignee, customer, type. Ordered newest first
    by the caller's keyset (``-id``); the indexes ticket_ws_status_idx / ticket_ws_team_status_idx /
    ticket_ws_assignee_idx serve the filtered lists."""
    from guanxi.service.models import OPEN_TICKET_STATUSES  # noqa: PLC0415

    qs = Ticket.objects.select_related("customer", "category", "assignee", "team")
    qs = permissions.filter_queryset(actor, Module.SERVICE, "view", qs, owner_field="assignee")
    if status:
        qs = qs.filter(status=status)
    elif open_only:
        qs = qs.filter(status__in=OPEN_TICKET_STATUSES)
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    if unassigned:
        qs = qs.filter(assignee__isnull=True)
    elif assignee_id is not None:
        qs = qs.filter(assignee_id=assignee_id)
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if type:
        qs = qs.filter(type=type)
    return qs


def customer_open_tickets(*, actor: Membership, customer_id: int, limit: int = 10) -> list[Ticket]:
    """The customer's open tickets for the 360 page (index ticket_ws_customer_idx), newest first."""
    return list(ticket_list(actor=actor, customer_id=customer_id, open_only=True).order_by("-id")[:limit])
