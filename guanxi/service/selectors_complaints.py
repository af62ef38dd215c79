"""Reads of the complaints (客户投诉): the list by classification, severity and stage, one complaint through its
ticket's access guard, and the crisis alerts."""

from __future__ import annotations

from typing import Literal

from django.db.models import QuerySet

from guanxi.core.errors import NotFound
from guanxi.service.models import Complaint, CrisisAlert
from guanxi.service.selectors import get_ticket_for
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

Stage = Literal["analysis", "action", "report", "confirm", "done"]
STAGES: tuple[str, ...] = ("analysis", "action", "report", "confirm", "done")


def complaint_stage(c: Complaint) -> str:
    """Where a complaint stands: root cause to find, action to take, result to report, confirmation to get, done."""
    if c.customer_confirmed_at is not None:
        return "done"
    if c.result_reported_at is not None:
        return "confirm"
    if c.action_done_at is not None:
        return "report"
    if c.root_cause:
        return "action"
    return "analysis"


def complaint_list(
    *,
    actor: Membership,
    classification: str | None = None,
    severity: str | None = None,
    stage: str | None = None,
) -> QuerySet[Complaint]:
    """Complaints on tickets the actor may see (their ticket scope by assignee), newest first by the caller's
    keyset on id; ``complaint_ws_created_idx`` serves the workspace's recent ones."""
    qs = Complaint.objects.select_related("ticket", "ticket__customer", "ticket__category", "action_owner")
    qs = permissions.filter_queryset(actor, Module.SERVICE, "view", qs, owner_field="ticket__assignee")
    if classification:
        qs = qs.filter(classification=classification)
    if severity:
        qs = qs.filter(severity=severity)
    if stage == "done":
        qs = qs.filter(customer_confirmed_at__isnull=False)
    elif stage == "confirm":
        qs = qs.filter(customer_confirmed_at__isnull=True, result_reported_at__isnull=False)
    elif stage == "report":
        qs = qs.filter(result_reported_at__isnull=True, action_done_at__isnull=False)
    elif stage == "action":
        qs = qs.filter(action_done_at__isnull=True, result_reported_at__isnull=True).exclude(root_cause="")
    elif stage == "analysis":
        qs = qs.filter(root_cause="", action_done_at__isnull=True, result_reported_at__isnull=True)
    return qs


def get_complaint_for(actor: Membership, ticket_id: int, *, action: permissions.Action = "view") -> Complaint:
    """The complaint on a ticket the actor may see; one 404 for no ticket, not yours and no complaint."""
    ticket = get_ticket_for(actor, ticket_id, action=action)
    c = Complaint.objects.select_related("action_owner").filter(ticket=ticket).first()
    if c is None:
        raise NotFound()
    c.ticket = ticket
    return c


def crisis_alert_list(*, actor: Membership, limit: int = 20) -> list[CrisisAlert]:
    """The latest crisis alerts (危机预警), newest week first, for members who may see the service module."""
    if not permissions.can(actor, Module.SERVICE, "view"):
        return []
    return list(CrisisAlert.objects.select_related("category").order_by("-week_start", "-id")[:limit])
