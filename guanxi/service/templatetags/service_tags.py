"""Template helpers of the service app: the customer 360 include of open tickets."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.inclusion_tag("service/_customer_tickets.html", takes_context=True)
def service_customer_tickets(context: template.Context, customer: Any) -> dict[str, Any]:
    """``{% load service_tags %}{% service_customer_tickets customer %}`` on the customer 360 page."""
    from guanxi.service.selectors import customer_open_tickets
    from guanxi.workspaces import permissions
    from guanxi.workspaces.permissions import Module

    request = context.get("request")
    actor = getattr(request, "membership", None)
    may_view = actor is not None and permissions.can(actor, Module.SERVICE, "view")
    return {
        "customer": customer,
        "request": request,
        "service_tickets": customer_open_tickets(actor=actor, customer_id=customer.pk) if may_view else [],
        "service_may_view": may_view,
        "service_may_add": actor is not None and permissions.can(actor, Module.SERVICE, "edit"),
    }
