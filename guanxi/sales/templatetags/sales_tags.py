"""Template helpers of the sales app: dict lookup, durations, and the customer 360 include."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    try:
        return mapping.get(key, key)
    except AttributeError:
        return key


@register.filter
def days(seconds: Any) -> str:
    """Seconds as days with one decimal (stage durations)."""
    try:
        return f"{int(seconds) / 86400:.1f}"
    except (TypeError, ValueError):
        return ""


@register.inclusion_tag("sales/_customer_opportunities.html", takes_context=True)
def sales_customer_opportunities(context: template.Context, customer: Any) -> dict[str, Any]:
    """``{% load sales_tags %}{% sales_customer_opportunities customer %}`` on the customer 360 page."""
    from guanxi.sales.selectors import customer_opportunities
    from guanxi.workspaces import permissions
    from guanxi.workspaces.permissions import Module

    request = context.get("request")
    actor = getattr(request, "membership", None)
    if actor is None:
        return {"customer": customer, "sales_opportunities": [], "sales_may_add": False}
    return {
        "customer": customer,
        "request": request,
        "sales_opportunities": customer_opportunities(actor=actor, customer_id=customer.pk),
        "sales_may_add": permissions.can(actor, Module.SALES, "edit"),
    }


@register.filter
def ymd(value: Any) -> str:
    """A date as 2025-12-31 for a date input; text (what was typed) passes through; None is empty."""
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    return str(value)
