"""Helpers shared by the sales services: permission shortcuts and value cleaning (money, dates, members)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from guanxi.core.errors import Forbidden
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module, Scope

MAX_AMOUNT = Decimal("9999999999999999.99")  # max_digits=18, decimal_places=2
CENT = Decimal("0.01")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def require_sales_admin(actor: Membership) -> None:
    """Pipelines, territories, rules and web forms shape the whole sales team's work: workspace-wide edit only."""
    if permissions.scope_for(actor, Module.SALES, "edit") != Scope.WORKSPACE:
        raise Forbidden(_("Only members who may edit all sales records can change the sales set-up."))


def is_sales_admin(actor: Membership) -> bool:
    return permissions.scope_for(actor, Module.SALES, "edit") == Scope.WORKSPACE


def clean_amount(value: Any, errors: dict[str, str], field: str = "amount") -> Decimal | None:
    """An exact amount with two decimals, or None when empty. Errors go into ``errors[field]``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float):  # never through binary floating point
        value = repr(value)
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        errors[field] = _("Enter an amount like 12800.00.")
        return None
    if not amount.is_finite():
        errors[field] = _("Enter an amount like 12800.00.")
        return None
    if amount < 0:
        errors[field] = _("The amount cannot be negative.")
        return None
    if amount > MAX_AMOUNT:
        errors[field] = _("The amount is too large.")
        return None
    if amount != amount.quantize(CENT, rounding=ROUND_HALF_UP):
        errors[field] = _("At most two decimal places.")
        return None
    return amount.quantize(CENT)


def clean_currency(value: Any, errors: dict[str, str]) -> str:
    text = str(value or "").strip().upper()
    if not _CURRENCY.match(text):
        errors["currency"] = _("Enter a three-letter currency code such as CNY.")
    return text


def clean_date(value: Any, errors: dict[str, str], field: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        errors[field] = _("Enter a date like 2025-12-31.")
        return None


def clean_text(
    data: dict, field: str, max_len: int, errors: dict[str, str], *, required: bool = False
) -> None:
    """Strip ``data[field]`` in place and check its length (and presence)."""
    if field not in data:
        if required:
            errors[field] = _("This field is required.")
        return
    value = data[field]
    value = "" if value is None else str(value).strip()
    data[field] = value
    if required and not value:
        errors[field] = _("This field is required.")
    elif len(value) > max_len:
        errors[field] = _("At most %(n)s characters.") % {"n": max_len}


def active_member_ids() -> set[int]:
    """User ids of the active members of the current workspace."""
    return set(Membership.objects.filter(is_active=True).values_list("user_id", flat=True))


def check_member(user_id: Any, errors: dict[str, str], field: str = "owner_id") -> int | None:
    if user_id in (None, ""):
        return None
    try:
        uid = int(user_id)
    except (TypeError, ValueError):
        errors[field] = _("Choose a member of this workspace.")
        return None
    if not Membership.objects.filter(user_id=uid, is_active=True).exists():
        errors[field] = _("Choose a member of this workspace.")
        return None
    return uid
