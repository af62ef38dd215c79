"""Template tags of activities: the panel on the customer 360 and opportunity pages, and the top bar's notices."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

register = template.Library()


@register.inclusion_tag("sales/activity_panel.html", takes_context=True)
def activity_panel(
    context: template.Context, customer: Any = None, opportunity: Any = None
) -> dict[str, Any]:
    """``{% load activity_tags %}{% activity_panel customer=customer %}`` (or ``opportunity=opp``)."""
    from guanxi.sales import selectors_activities as selectors
    from guanxi.workspaces import permissions
    from guanxi.workspaces.permissions import Module

    request = context.get("request")
    actor = getattr(request, "membership", None)
    out: dict[str, Any] = {
        "customer": customer,
        "opportunity": opportunity,
        "request": request,
        "now": timezone.now(),
    }
    if actor is None or not permissions.can(actor, Module.SALES, "view"):
        return {**out, "activities": [], "may_add": False, "hidden": True}
    if opportunity is not None:
        rows = selectors.opportunity_activities(actor=actor, opportunity_id=opportunity.pk)
    else:
        rows = selectors.customer_activities(actor=actor, customer_id=customer.pk)
    return {**out, "activities": rows, "may_add": permissions.can(actor, Module.SALES, "edit")}


@register.inclusion_tag("sales/activity_badge.html")
def activity_notices_badge() -> dict[str, Any]:
    """``{% load activity_tags %}{% activity_notices_badge %}`` in the top bar. The unread count is fetched after
    the page loads (htmx) and raised live by pushed reminders, so no page pays a query for it."""
    return {}
