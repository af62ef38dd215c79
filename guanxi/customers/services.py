"""Writes to customers. Each: one transaction, permission check, audit trail."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from guanxi.core.errors import ValidationFailed
from guanxi.customers.models import Customer, CustomerKind
from guanxi.customers.selectors import get_customer_for
from guanxi.ledger.services import audit_record, snapshot
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

EDITABLE = ("kind", "name", "phone", "email", "province", "city", "industry", "source", "notes", "owner_id")


def _clean(data: dict) -> dict:
    errors: dict[str, str] = {}
    out = dict(data)
    if "name" in out:
        out["name"] = (out["name"] or "").strip()
        if not out["name"]:
            errors["name"] = _("Name is required.")
        elif len(out["name"]) > 200:
            errors["name"] = _("Name: at most 200 characters.")
    if "kind" in out and out["kind"] not in CustomerKind.values:
        errors["kind"] = _("Type must be person or company.")
    if out.get("email"):
        try:
            validate_email(out["email"])
        except ValidationError:
            errors["email"] = _("Enter a valid email address.")
    if out.get("owner_id") is not None and not Membership.objects.filter(user_id=out["owner_id"]).exists():
        errors["owner_id"] = _("The owner must be a member of this workspace.")
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def customer_create(*, actor: Membership, name: str, **fields: object) -> Customer:
    """Create a customer owned by the actor unless ``owner_id`` says otherwise. Needs edit rights on customers."""
    permissions.require(actor, Module.CUSTOMERS, "edit")
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data = _clean({"name": name, **fields})
    data.setdefault("owner_id", actor.user_id)
    permissions.require(actor, Module.CUSTOMERS, "edit", owner_id=data["owner_id"])
    with transaction.atomic():
        customer = Customer.objects.create(**data)
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="customer.create",
            obj=customer,
            after=snapshot(customer),
        )
    return customer


def customer_update(*, actor: Membership, customer_id: int, **fields: object) -> Customer:
    """Change the given fields. Refuses unknown fields, bad values, and customers outside the actor's edit scope."""
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data = _clean(fields)
    with transaction.atomic():
        customer = get_customer_for(actor, customer_id, action="edit")
        before = snapshot(customer)
        if "owner_id" in data:
            permissions.require(actor, Module.CUSTOMERS, "edit", owner_id=data["owner_id"])
        for k, v in data.items():
            setattr(customer, k, v)
        customer.save()
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="customer.update",
            obj=customer,
            before=before,
            after=snapshot(customer),
        )
    return customer


def customer_delete(*, actor: Membership, customer_id: int) -> None:
    with transaction.atomic():
        customer = get_customer_for(actor, customer_id, action="edit")
        before = snapshot(customer)
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="customer.delete", obj=customer, before=before
        )
        customer.delete()
