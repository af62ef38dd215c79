"""Personal data by class (个人信息分级): what a member may see of a customer, in one place.

Three classes of fields:

* ordinary fields (name, company, region, industry, tags, custom fields): shown to anyone who may view the customer;
* personal fields (phones, emails, addresses): shown in full only to members whose ``personal_data`` *view* scope
  covers the customer's owner; everyone else sees them masked (``138****8000``, ``z***@example.com``, ``广东省深圳市***``);
* sensitive fields (ID card, bank card): stored encrypted; shown only as ``•••• 1234``. The full value comes out
  only through ``guanxi.customers.services.customer_reveal_sensitive`` (``personal_data`` *edit* scope, audited).

**For every reader of customer data** (API, web pages, exports, the call-centre screen pop): turn each customer
into what the actor may see with ``present_customer(actor, customer, phones=..., emails=..., addresses=...)`` and
render only that dict; never read ``customer.phone`` / ``customer.email`` / the detail rows into output directly.
For a list, call ``personal_access(actor)`` once and pass it as ``access=`` to each ``present_customer`` call: the
decision then costs no query per row. ``phones``/``emails``/``addresses`` may be empty lists (a list page shows only
the denormalised primary phone/email, which are masked the same way).

The validators of sensitive values (Chinese resident ID with its checksum, bank card with the Luhn check) live here
too, so the importer and the services refuse the same values.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from guanxi.customers.normalize import mask_email, mask_phone, mask_text
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module, Scope

SENSITIVE_FIELDS = ("id_card", "bank_card")
SENSITIVE_MASK = "•••• "


@dataclass(frozen=True)
class PersonalAccess:
    """The actor's personal-data scopes, computed once per request (no query per row)."""

    user_id: int
    view_scope: Scope
    edit_scope: Scope
    team: frozenset[int]

    def _covers(self, scope: Scope, owner_id: int | None) -> bool:
        if scope == Scope.WORKSPACE:
            return True
        if scope == Scope.NONE or owner_id is None:  # an unowned customer is nobody's "own"
            return False
        if scope == Scope.OWN:
            return owner_id == self.user_id
        return owner_id in self.team

    def may_see(self, owner_id: int | None) -> bool:
        """Phones, emails and addresses in full?"""
        return self._covers(self.view_scope, owner_id)

    def may_reveal(self, owner_id: int | None) -> bool:
        """ID card / bank card, through the audited reveal action?"""
        return self._covers(self.edit_scope, owner_id)


def personal_access(actor: Membership) -> PersonalAccess:
    view = permissions.scope_for(actor, Module.PERSONAL_DATA, "view")
    edit = permissions.scope_for(actor, Module.PERSONAL_DATA, "edit")
    team = frozenset(permissions.team_user_ids(actor)) if Scope.TEAM in (view, edit) else frozenset()
    return PersonalAccess(user_id=actor.user_id, view_scope=view, edit_scope=edit, team=team)


def mask_sensitive(last4: str) -> str:
    return f"{SENSITIVE_MASK}{last4}" if last4 else ""


def _address_text(a: Any) -> str:
    return a.free_form or f"{a.province}{a.city}{a.district}{a.street}"


def present_customer(
    actor: Membership,
    customer: Any,
    *,
    phones: Iterable[Any] = (),
    emails: Iterable[Any] = (),
    addresses: Iterable[Any] = (),
    tags: Iterable[Any] | None = None,
    access: PersonalAccess | None = None,
) -> dict[str, Any]:
    """The customer as ``actor`` may see it: a plain dict, personal fields masked unless the actor may see them.

    ``customer`` is a ``Customer`` (with ``owner`` and ``company`` loaded if you want their names without a query);
    ``phones``/``emails``/``addresses`` its detail rows (or empty), ``tags`` its Tag rows (else the ones prefetched
    by ``selectors.with_tags``). Sensitive fields are always masked here.
    """
    access = access or personal_access(actor)
    full = access.may_see(customer.owner_id)

    def phone(v: str) -> str:
        return v if full or not v else mask_phone(v)

    def email(v: str) -> str:
        return v if full or not v else mask_email(v)

    if tags is not None:
        tag_names = sorted(str(t) for t in tags)
    else:  # prefetched with selectors.with_tags, else none shown
        links = getattr(customer, "_prefetched_objects_cache", {}).get("customer_tags")
        tag_names = sorted(ct.tag.name for ct in links) if links is not None else []
    out: dict[str, Any] = {
        "id": customer.pk,
        "kind": customer.kind,
        "name": customer.name,
        "company_id": customer.company_id,
        "company_name": customer.company_name,
        "title": customer.title,
        "phone": phone(customer.phone),
        "email": email(customer.email),
        "province": customer.province,
        "city": customer.city,
        "industry": customer.industry,
        "source": customer.source,
        "owner_id": customer.owner_id,
        "owner_name": str(customer.owner) if customer.owner_id and "owner" in _loaded(customer) else "",
        "notes": customer.notes,
        "consent_phone": customer.consent_phone,
        "consent_sms": customer.consent_sms,
        "consent_email": customer.consent_email,
        "custom": dict(customer.custom or {}),
        "tags": tag_names,
        "id_card": mask_sensitive(customer.id_card_last4),
        "bank_card": mask_sensitive(customer.bank_card_last4),
        "external_id": customer.external_id,
        "merged_into_id": customer.merged_into_id,
        "masked": not full,
        "may_reveal": access.may_reveal(customer.owner_id)
        and bool(customer.id_card_last4 or customer.bank_card_last4),
        "created_at": customer.created_at,
        "updated_at": customer.updated_at,
        "phones": [
            {
                "id": p.pk,
                "number": phone(p.e164),
                "kind": p.kind,
                "region": p.region,
                "carrier": p.carrier,
                "primary": p.is_primary,
            }
            for p in phones
        ],
        "emails": [{"id": e.pk, "email": email(e.email), "primary": e.is_primary} for e in emails],
        "addresses": [_present_address(a, full) for a in addresses],
    }
    return out


def _loaded(customer: Any) -> set[str]:
    """Names of the relations already fetched (select_related), so presenting never triggers a query."""
    return set(customer._state.fields_cache)


def _present_address(a: Any, full: bool) -> dict[str, Any]:
    if full:
        return {
            "id": a.pk,
            "kind": a.kind,
            "country": a.country,
            "province": a.province,
            "city": a.city,
            "district": a.district,
            "street": a.street,
            "postal_code": a.postal_code,
            "free_form": a.free_form,
            "text": _address_text(a),
            "primary": a.is_primary,
        }
    # Province and city are ordinary (the list shows them); the rest identifies a home: hidden.
    return {
        "id": a.pk,
        "kind": a.kind,
        "country": a.country,
        "province": a.province,
        "city": a.city,
        "district": mask_text(a.district) if a.district else "",
        "street": mask_text(a.street) if a.street else "",
        "postal_code": "",
        "free_form": mask_text(a.free_form, keep=3) if a.free_form else "",
        "text": mask_text(a.free_form, keep=3) if a.free_form else f"{a.province}{a.city}***",
        "primary": a.is_primary,
    }


# --- validation of sensitive values ---------------------------------------------------------------------------
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^\d{17}[\dX]$")


def clean_id_card(raw: str) -> str:
    """An 18-character Chinese resident ID (居民身份证号) with a valid birth date and check character.

    Returns it upper-cased and without spaces; raises ValueError (with no part of the value in the message).
    """
    value = re.sub(r"\s+", "", raw or "").upper()
    if not _ID_RE.match(value):
        raise ValueError("format")
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != value[17]:
        raise ValueError("checksum")
    year, month, day = int(value[6:10]), int(value[10:12]), int(value[12:14])
    try:
        born = dt.date(year, month, day)
    except ValueError:
        raise ValueError("birth date") from None
    if year < 1900 or born > dt.date.today():
        raise ValueError("birth date")
    return value


def clean_bank_card(raw: str) -> str:
    """A bank card number (银行卡号): 12-19 digits passing the Luhn check. Raises ValueError."""
    value = re.sub(r"[\s-]+", "", raw or "")
    if not value.isdigit() or not 12 <= len(value) <= 19:
        raise ValueError("format")
    total = 0
    for i, ch in enumerate(reversed(value)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    if total % 10:
        raise ValueError("checksum")
    return value
