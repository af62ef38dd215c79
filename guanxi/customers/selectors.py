"""Reads of customers, narrowed to what the acting member may see."""

from __future__ import annotations

from django.db.models import QuerySet

from guanxi.core.errors import NotFound
from guanxi.customers.models import Customer
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module


def customer_list(*, actor: Membership) -> QuerySet[Customer]:
    qs = Customer.objects.select_related("owner")
    return permissions.filter_queryset(actor, Module.CUSTOMERS, "view", qs)


def get_customer_for(actor: Membership, customer_id: int, *, action: permissions.Action = "view") -> Customer:
    """The customer, if it is in the actor's workspace and scope. Missing and not-yours are the same 404."""
    try:
        customer = Customer.objects.select_related("owner").get(pk=customer_id)
    except (Customer.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None
    permissions.require_object(actor, Module.CUSTOMERS, action, owner_id=customer.owner_id)
    return customer
