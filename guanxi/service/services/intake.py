"""Tickets from outside (public web form, email, portal): find the customer by email or phone, or create one."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from guanxi.core.errors import ValidationFailed
from guanxi.customers.models import Customer, CustomerSource
from guanxi.customers.normalize import InvalidValue, normalize_email, normalize_phone
from guanxi.customers.selectors import customer_by_phone
from guanxi.service.models import Ticket, TicketChannel
from guanxi.service.services.tickets import ticket_create
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Role


def customer_by_email(email: str) -> Customer | None:
    """The live customer of the current workspace with this (normalised) email, newest first."""
    return (
        Customer.objects.filter(emails__email=email, merged_into__isnull=True)
        .order_by("-created_at", "-id")
        .first()
    ) or Customer.objects.filter(email=email, merged_into__isnull=True).order_by("-created_at", "-id").first()


def _system_actor() -> Membership:
    """The workspace's first active owner: a customer made from a public submission is created in their name (the
    customers service needs a member; the audit shows it came through the service intake)."""
    m = Membership.objects.filter(role=Role.OWNER, is_active=True).order_by("id").first()
    if m is None:  # pragma: no cover - a workspace always keeps an owner
        raise ValidationFailed(_("This workspace has no active owner."))
    return m


def customer_for_contact(*, name: str, email: str = "", phone: str = "", source: str = "") -> Customer:
    """The customer with this email or phone in the current workspace, else a new one (with ``source``).
    Refuses an invalid email or phone, and neither given (ValidationFailed naming the field)."""
    from guanxi.customers.services import customer_create  # noqa: PLC0415

    errors: dict[str, str] = {}
    e164 = ""
    if email:
        try:
            email = normalize_email(email)
        except InvalidValue:
            errors["email"] = _("Enter a valid email address.")
    if phone:
        try:
            e164 = normalize_phone(phone).e164
        except InvalidValue:
            errors["phone"] = _("Enter a valid phone number, e.g. 138 0013 8000.")
    if not email and not phone and not errors:
        errors["email"] = _("Give an email address or a phone number, so we can answer you.")
    if errors:
        raise ValidationFailed(fields=errors)
    found = (customer_by_email(email) if email else None) or (customer_by_phone(e164) if e164 else None)
    if found is not None:
        return found
    fields: dict[str, Any] = {"source": source or CustomerSource.OTHER}
    if email:
        fields["emails"] = [{"email": email, "is_primary": True}]
    if e164:
        fields["phones"] = [{"number": e164, "is_primary": True}]
    return customer_create(
        actor=_system_actor(), name=(name or email or e164)[:200], allow_duplicate=True, **fields
    )


def ticket_from_contact(
    *,
    name: str,
    email: str,
    phone: str,
    subject: str,
    description: str,
    channel: str = TicketChannel.WEB_FORM,
    source_ref: str = "",
) -> Ticket:
    """A ticket from a public source, for the customer found or created by email/phone. One transaction: a bad
    subject leaves no new customer behind. Runs in the target workspace's context."""
    with transaction.atomic():
        source = CustomerSource.EMAIL if channel == TicketChannel.EMAIL else CustomerSource.WEB_FORM
        customer = customer_for_contact(name=name, email=email, phone=phone, source=source)
        return ticket_create(
            actor=None,
            customer=customer,
            subject=subject,
            description=description,
            channel=channel,
            source_ref=source_ref,
        )
