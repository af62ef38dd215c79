"""Template helpers of the telephony app: the customer 360 card of calls with the click-to-call button."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()

RECENT = 10


@register.inclusion_tag("telephony/_customer_calls.html", takes_context=True)
def telephony_customer_calls(context: template.Context, customer: Any) -> dict[str, Any]:
    """``{% load telephony_tags %}{% telephony_customer_calls customer %}`` on the customer 360 page: the customer's
    latest calls the actor may see and, for agents, a click-to-call button per number."""
    from guanxi.core.errors import Forbidden
    from guanxi.telephony import selectors
    from guanxi.telephony.clicktocall import _customer_numbers
    from guanxi.workspaces import permissions
    from guanxi.workspaces.permissions import Module

    request = context.get("request")
    actor = getattr(request, "membership", None)
    calls: list[Any] = []
    may_view = actor is not None and permissions.can(actor, Module.CONTACT_CENTER, "view")
    if may_view:
        try:
            calls = list(selectors.call_list(actor=actor, customer_id=customer.pk).order_by("-id")[:RECENT])
        except Forbidden:
            may_view = False
    may_call = actor is not None and permissions.can(actor, Module.CONTACT_CENTER, "edit")
    shown = context.get("shown") or {}
    numbers: list[tuple[str, str]] = []
    if may_call:
        from guanxi.customers.privacy import mask_phone

        masked = bool(shown.get("masked")) if isinstance(shown, dict) else True
        # the button shows the number as the actor may see it (masked when their role hides personal data)
        numbers = [(n, mask_phone(n) if masked else n) for n in _customer_numbers(customer)]
    return {
        "customer": customer, "request": request, "tel_calls": calls, "tel_may_view": may_view,
        "tel_may_call": may_call, "tel_numbers": numbers,
    }  # fmt: skip
