"""Reads of products, quotes, orders and returns, narrowed to what the acting member may see (Module.SALES, on the
record's owner). Access guards give the same 404 for missing and not-yours."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from guanxi.core.errors import NotFound
from guanxi.sales.models import DiscountApproval, Order, OrderReturn, PriceList, Product, Quote
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module


def product_list(*, active_only: bool = False) -> QuerySet[Product]:
    qs = Product.objects.all()
    return qs.filter(is_active=True) if active_only else qs


def pricelist_list() -> QuerySet[PriceList]:
    return PriceList.objects.prefetch_related("items__product").order_by("name", "id")


def quote_list(*, actor: Membership) -> QuerySet[Quote]:
    qs = Quote.objects.select_related("customer", "owner")
    return permissions.filter_queryset(actor, Module.SALES, "view", qs)


def quote_versions(quote: Quote) -> QuerySet[Quote]:
    return Quote.objects.filter(number=quote.number).order_by("version")


def approval_list(*, actor: Membership, pending_only: bool = True) -> QuerySet[DiscountApproval]:
    qs = DiscountApproval.objects.select_related("quote", "quote__customer", "requested_by")
    qs = permissions.filter_queryset(actor, Module.SALES, "edit", qs, owner_field="quote__owner")
    return qs.filter(status="pending") if pending_only else qs


def order_list(*, actor: Membership) -> QuerySet[Order]:
    qs = Order.objects.select_related("customer", "owner")
    return permissions.filter_queryset(actor, Module.SALES, "view", qs)


def get_quote_for(
    actor: Membership, quote_id: Any, *, action: permissions.Action = "view", lock: bool = False
) -> Quote:
    """The quote, if in the actor's workspace and sales scope (by owner). Missing and not-yours: the same 404."""
    qs = Quote.objects.select_related("customer", "opportunity", "owner")
    if lock:
        qs = qs.select_for_update(of=("self",))
    quote = qs.filter(pk=quote_id).first() if str(quote_id).isdigit() else None
    if quote is None:
        raise NotFound()
    permissions.require_object(actor, Module.SALES, action, owner_id=quote.owner_id)
    return quote


def get_order_for(
    actor: Membership, order_id: Any, *, action: permissions.Action = "view", lock: bool = False
) -> Order:
    """The order, if in the actor's workspace and sales scope. Missing and not-yours: the same 404."""
    qs = Order.objects.select_related("customer", "owner")
    if lock:
        qs = qs.select_for_update(of=("self",))
    order = qs.filter(pk=order_id).first() if str(order_id).isdigit() else None
    if order is None:
        raise NotFound()
    permissions.require_object(actor, Module.SALES, action, owner_id=order.owner_id)
    return order


def get_return_for(actor: Membership, return_id: Any, *, action: permissions.Action = "view") -> OrderReturn:
    ret = (
        OrderReturn.objects.select_related("order").filter(pk=return_id).first()
        if str(return_id).isdigit()
        else None
    )
    if ret is None:
        raise NotFound()
    permissions.require_object(actor, Module.SALES, action, owner_id=ret.order.owner_id)
    return ret
