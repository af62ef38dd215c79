"""Writes to customers, tags, custom-field definitions and saved views.

Each service: keyword-only arguments, the acting ``Membership``, a permission check through
``guanxi.workspaces.permissions``, one transaction, an audit event. Everything is validated before anything is
written, so a refused call changes nothing. The denormalised columns of ``Customer`` (primary phone and email,
province/city, name pinyin and initials, ``search_text``) are recomputed on every write here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.crypto import decrypt_str, encrypt_str
from guanxi.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from guanxi.customers.customfields import CustomValueErrors, clean_custom_values, clean_definition
from guanxi.customers.dedupe import duplicate_candidates
from guanxi.customers.models import (
    AddressKind,
    Customer,
    CustomerAddress,
    CustomerEmail,
    CustomerKind,
    CustomerPhone,
    CustomerSource,
    CustomerTag,
    CustomFieldDefinition,
    PhoneKind,
    SavedView,
    Tag,
)
from guanxi.customers.normalize import (
    InvalidValue,
    name_pinyin,
    normalize_email,
    normalize_phone,
    search_document,
)
from guanxi.customers.privacy import SENSITIVE_FIELDS, clean_bank_card, clean_id_card, personal_access
from guanxi.customers.selectors import customer_filter, customfield_list, get_customer_for
from guanxi.ledger.services import audit_record, snapshot
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

# Fields a caller may pass to customer_create / customer_update.
FIELDS = (
    "kind",
    "name",
    "phones",
    "emails",
    "addresses",
    "tags",
    "custom",
    "consent_phone",
    "consent_sms",
    "consent_email",
    "company_id",
    "company_name",
    "title",
    "source",
    "industry",
    "notes",
    "id_card",
    "bank_card",
    "owner_id",
    "province",
    "city",
    "external_id",
    # shorthand for a single phone / email (replaces the list): kept for simple callers
    "phone",
    "email",
)
# What the audit trail records of a customer: never ciphertext, never the derived search columns.
AUDIT_FIELDS = [
    f.name
    for f in Customer._meta.concrete_fields
    if f.name
    not in {"id_card_enc", "bank_card_enc", "search_text", "name_pinyin", "name_initials", "workspace"}
]
MAX_ROWS = 20  # phones / emails / addresses per customer
BULK_MAX = 5000
_LIMITS = {"title": 100, "industry": 50, "province": 50, "city": 50, "company_name": 200, "external_id": 100}


@dataclass
class _Clean:
    """Validated input, ready to write."""

    values: dict[str, Any] = field(default_factory=dict)  # plain Customer columns
    phones: list[dict] | None = None
    emails: list[dict] | None = None
    addresses: list[dict] | None = None
    tags: list[str] | None = None
    sensitive: dict[str, str] = field(default_factory=dict)  # field -> clean plaintext ("" clears)


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _clean_phones(raw: Any, errors: dict[str, str]) -> list[dict]:
    if not isinstance(raw, list | tuple):
        errors["phones"] = _("Give a list of phone numbers.")
        return []
    out: list[dict] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        item = {"number": item} if isinstance(item, str) else dict(item or {})
        number = str(item.get("number") or "").strip()
        if not number:
            continue  # an empty row of the form
        try:
            info = normalize_phone(number)
        except InvalidValue:
            errors[f"phones.{i}.number"] = _("Not a valid phone number.")
            continue
        kind = item.get("kind") or info.kind
        if kind not in PhoneKind.values:
            errors[f"phones.{i}.kind"] = _("Choose mobile, landline or other.")
            continue
        if info.e164 in seen:
            continue
        seen.add(info.e164)
        out.append(
            {
                "e164": info.e164,
                "raw": number[:40],
                "kind": kind,
                "region": info.region,
                "carrier": info.carrier[:50],
                "is_primary": _bool(item.get("primary", False)),
            }
        )
    if len(out) > MAX_ROWS:
        errors["phones"] = _("At most %(n)s phone numbers.") % {"n": MAX_ROWS}
    _one_primary(out)
    return out


def _clean_emails(raw: Any, errors: dict[str, str]) -> list[dict]:
    if not isinstance(raw, list | tuple):
        errors["emails"] = _("Give a list of email addresses.")
        return []
    out: list[dict] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        item = {"email": item} if isinstance(item, str) else dict(item or {})
        text = str(item.get("email") or "").strip()
        if not text:
            continue
        try:
            email = normalize_email(text)
        except InvalidValue:
            errors[f"emails.{i}.email"] = _("Enter a valid email address.")
            continue
        if email in seen:
            continue
        seen.add(email)
        out.append({"email": email, "is_primary": _bool(item.get("primary", False))})
    if len(out) > MAX_ROWS:
        errors["emails"] = _("At most %(n)s email addresses.") % {"n": MAX_ROWS}
    _one_primary(out)
    return out


_ADDRESS_LIMITS = {
    "province": 50,
    "city": 50,
    "district": 50,
    "street": 200,
    "postal_code": 20,
    "free_form": 1000,
}


def _clean_addresses(raw: Any, errors: dict[str, str]) -> list[dict]:
    if not isinstance(raw, list | tuple):
        errors["addresses"] = _("Give a list of addresses.")
        return []
    out: list[dict] = []
    for i, item in enumerate(raw):
        item = dict(item or {})
        row = {k: str(item.get(k) or "").strip() for k in _ADDRESS_LIMITS}
        if not any(row.values()):
            continue
        for k, limit in _ADDRESS_LIMITS.items():
            if len(row[k]) > limit:
                errors[f"addresses.{i}.{k}"] = _("At most %(n)s characters.") % {"n": limit}
        kind = item.get("kind") or AddressKind.HOME
        if kind not in AddressKind.values:
            errors[f"addresses.{i}.kind"] = _("Unknown address type.")
        country = str(item.get("country") or "CN").strip().upper()
        if len(country) != 2 or not country.isalpha():
            errors[f"addresses.{i}.country"] = _("Use a two-letter country code, like CN.")
        out.append({**row, "kind": kind, "country": country, "is_primary": _bool(item.get("primary", False))})
    if len(out) > MAX_ROWS:
        errors["addresses"] = _("At most %(n)s addresses.") % {"n": MAX_ROWS}
    _one_primary(out)
    return out


def _one_primary(rows: list[dict]) -> None:
    """Exactly one primary row: the first marked one, else the first."""
    if not rows:
        return
    first = next((r for r in rows if r["is_primary"]), rows[0])
    for r in rows:
        r["is_primary"] = r is first


def _clean_tags(raw: Any, errors: dict[str, str]) -> list[str]:
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, list | tuple):
        errors["tags"] = _("Give a list of tag names.")
        return []
    names: list[str] = []
    for i, name in enumerate(raw):
        name = str(name or "").strip()
        if not name:
            continue
        if len(name) > 50:
            errors[f"tags.{i}"] = _("At most %(n)s characters.") % {"n": 50}
        elif name not in names:
            names.append(name)
    return names


def _validate(
    actor: Membership, data: dict[str, Any], *, customer: Customer | None, creating: bool
) -> _Clean:
    """Check every field of ``data``; raise ValidationFailed naming each bad one. No writes."""
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in sorted(unknown)})
    errors: dict[str, str] = {}
    out = _Clean()
    v = out.values
    if "name" in data:
        name = str(data["name"] or "").strip()
        if not name:
            errors["name"] = _("Name is required.")
        elif len(name) > 200:
            errors["name"] = _("Name: at most 200 characters.")
        v["name"] = name
    if "kind" in data:
        if data["kind"] not in CustomerKind.values:
            errors["kind"] = _("Type must be person or company.")
        v["kind"] = data["kind"]
    kind = v.get("kind") or (customer.kind if customer else CustomerKind.PERSON)
    for key, limit in _LIMITS.items():
        if key in data:
            text = str(data[key] or "").strip()
            if len(text) > limit:
                errors[key] = _("At most %(n)s characters.") % {"n": limit}
            v[key] = text
    for key in ("notes",):
        if key in data:
            v[key] = str(data[key] or "")
            if len(v[key]) > 10_000:
                errors[key] = _("At most %(n)s characters.") % {"n": 10_000}
    if "source" in data:
        source = str(data["source"] or "").strip()
        if source and source not in CustomerSource.values:
            errors["source"] = _("Unknown source.")
        v["source"] = source
    for key in ("consent_phone", "consent_sms", "consent_email"):
        if key in data:
            v[key] = _bool(data[key])
    if "owner_id" in data:
        owner_id = data["owner_id"]
        if owner_id is not None:
            try:
                owner_id = int(owner_id)
            except (TypeError, ValueError):
                owner_id = -1
            if not Membership.objects.filter(user_id=owner_id, is_active=True).exists():
                errors["owner_id"] = _("The owner must be a member of this workspace.")
        v["owner_id"] = owner_id
    if "company_id" in data:
        company_id = data["company_id"]
        if company_id in (None, ""):
            v["company_id"] = None
        else:
            company = (
                Customer.objects.filter(
                    pk=_int_or(company_id), kind=CustomerKind.COMPANY, merged_into__isnull=True
                )
                .only("id", "name", "owner_id")
                .first()
            )
            if (
                company is None
                or not permissions.can(actor, Module.CUSTOMERS, "view", owner_id=company.owner_id)
                or (customer is not None and company.pk == customer.pk)
            ):
                errors["company_id"] = _("Choose a company customer of this workspace.")
            elif kind == CustomerKind.COMPANY:
                errors["company_id"] = _("A company cannot be a contact of another company.")
            else:
                v["company_id"] = company.pk
                v["company_name"] = company.name
    # phones / emails: a list, or the one-value shorthand
    if "phones" in data:
        out.phones = _clean_phones(data["phones"], errors)
    elif "phone" in data:
        out.phones = _clean_phones([data["phone"]] if data["phone"] else [], errors)
        if "phones.0.number" in errors:
            errors["phone"] = errors.pop("phones.0.number")
    if "emails" in data:
        out.emails = _clean_emails(data["emails"], errors)
    elif "email" in data:
        out.emails = _clean_emails([data["email"]] if data["email"] else [], errors)
        if "emails.0.email" in errors:
            errors["email"] = errors.pop("emails.0.email")
    if "addresses" in data:
        out.addresses = _clean_addresses(data["addresses"], errors)
    if "tags" in data:
        out.tags = _clean_tags(data["tags"], errors)
    if "custom" in data or creating:
        values = data.get("custom") or {}
        if not isinstance(values, dict):
            errors["custom"] = _("Give the custom fields as an object of key: value.")
        else:
            try:
                v["custom"] = clean_custom_values(
                    values, customfield_list(), current=customer.custom if customer else {}, creating=creating
                )
            except CustomValueErrors as exc:
                errors.update(exc.errors)
    for key in SENSITIVE_FIELDS:
        if key in data:
            raw = str(data[key] or "").strip()
            if not raw:
                out.sensitive[key] = ""
                continue
            try:
                out.sensitive[key] = clean_id_card(raw) if key == "id_card" else clean_bank_card(raw)
            except ValueError:
                errors[key] = (
                    _("Not a valid 18-character ID card number.")
                    if key == "id_card"
                    else _("Not a valid bank card number.")
                )
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def _int_or(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _tags_named(names: list[str]) -> list[Tag]:
    """The tags with these names, created on the fly (a concurrent creator wins the race harmlessly)."""
    existing = {t.name: t for t in Tag.objects.filter(name__in=names)}
    for name in names:
        if name not in existing:
            try:
                with transaction.atomic():
                    existing[name] = Tag.objects.create(name=name)
            except IntegrityError:
                existing[name] = Tag.objects.get(name=name)
    return [existing[n] for n in names]


def _write_details(customer: Customer, clean: _Clean) -> None:
    """Replace the detail rows given in ``clean`` and refresh the denormalised columns."""
    cid = customer.pk
    if clean.phones is not None:
        CustomerPhone.objects.filter(customer_id=cid).delete()
        CustomerPhone.objects.bulk_create(
            [CustomerPhone(workspace_id=customer.workspace_id, customer_id=cid, **p) for p in clean.phones]
        )
    if clean.emails is not None:
        CustomerEmail.objects.filter(customer_id=cid).delete()
        CustomerEmail.objects.bulk_create(
            [CustomerEmail(workspace_id=customer.workspace_id, customer_id=cid, **e) for e in clean.emails]
        )
    if clean.addresses is not None:
        CustomerAddress.objects.filter(customer_id=cid).delete()
        CustomerAddress.objects.bulk_create(
            [
                CustomerAddress(workspace_id=customer.workspace_id, customer_id=cid, **a)
                for a in clean.addresses
            ]
        )
    if clean.tags is not None:
        tags = _tags_named(clean.tags)
        CustomerTag.objects.filter(customer_id=cid).exclude(tag__in=tags).delete()
        have = set(CustomerTag.objects.filter(customer_id=cid).values_list("tag_id", flat=True))
        CustomerTag.objects.bulk_create(
            [
                CustomerTag(workspace_id=customer.workspace_id, customer_id=cid, tag=t)
                for t in tags
                if t.pk not in have
            ]
        )
    for key, plain in clean.sensitive.items():
        setattr(customer, f"{key}_enc", encrypt_str(plain, context=f"customer:{cid}:{key}") if plain else "")
        setattr(customer, f"{key}_last4", plain[-4:] if plain else "")
    _refresh_denormalised(customer, clean)


def _refresh_denormalised(customer: Customer, clean: _Clean) -> None:
    """Primary phone/email, region, pinyin and search text from the details. A customer written before the detail
    tables (bulk demo data) keeps its own phone/email columns until its lists are edited."""
    cid = customer.pk
    if clean.phones is not None:
        phones = [p["e164"] for p in sorted(clean.phones, key=lambda p: not p["is_primary"])]
    else:
        rows = CustomerPhone.objects.filter(customer_id=cid).order_by("-is_primary", "id")
        phones = list(rows.values_list("e164", flat=True)) or ([customer.phone] if customer.phone else [])
    if clean.emails is not None:
        emails = [e["email"] for e in sorted(clean.emails, key=lambda e: not e["is_primary"])]
    else:
        rows_e = CustomerEmail.objects.filter(customer_id=cid).order_by("-is_primary", "id")
        emails = list(rows_e.values_list("email", flat=True)) or ([customer.email] if customer.email else [])
    customer.phone = phones[0] if phones else ""
    customer.email = emails[0] if emails else ""
    if clean.addresses and "province" not in clean.values and "city" not in clean.values:
        primary = next(a for a in clean.addresses if a["is_primary"])
        if primary["province"] or primary["city"]:
            customer.province, customer.city = primary["province"], primary["city"]
    customer.name_pinyin, customer.name_initials = name_pinyin(customer.name)
    customer.search_text = search_document(
        name=customer.name, company_name=customer.company_name, emails=emails
    )
    customer.save()


def _audit_after(customer: Customer, clean: _Clean | None = None) -> dict[str, Any]:
    after = snapshot(customer, AUDIT_FIELDS)
    if clean is not None:
        if clean.phones is not None:
            after["phones"] = [p["e164"] for p in clean.phones]
        if clean.emails is not None:
            after["emails"] = [e["email"] for e in clean.emails]
        if clean.tags is not None:
            after["tags"] = list(clean.tags)
        for key, plain in clean.sensitive.items():
            after[key] = f"…{plain[-4:]}" if plain else ""  # never the value
    return after


def customer_create(
    *, actor: Membership, name: str, allow_duplicate: bool = False, **fields: Any
) -> Customer:
    """Create a customer (owned by the actor unless ``owner_id`` says otherwise) with its phones, emails, addresses,
    tags (created on the fly), custom values, consent flags and sensitive fields (encrypted).

    Needs edit rights on customers, for the chosen owner. Refuses bad values (ValidationFailed naming the field,
    e.g. ``phones.1.number``, ``custom.budget``) and, unless ``allow_duplicate``, a likely duplicate: Conflict with
    ``fields={"duplicate": "<ids>"}`` and ``candidate_ids``. Accepts ``FIELDS``. Audited as customer.create.
    """
    permissions.require(actor, Module.CUSTOMERS, "edit")
    data = {"name": name, **fields}
    data.setdefault("owner_id", actor.user_id)
    clean = _validate(actor, data, customer=None, creating=True)
    permissions.require(actor, Module.CUSTOMERS, "edit", owner_id=clean.values["owner_id"])
    if not allow_duplicate:
        matches = duplicate_candidates(
            phones=[p["e164"] for p in clean.phones or []],
            emails=[e["email"] for e in clean.emails or []],
            name=clean.values["name"],
            company_name=clean.values.get("company_name", ""),
            city=clean.values.get("city", ""),
        )
        if matches:
            ids = [m.customer_id for m in matches]
            exc = Conflict(
                _("This looks like a customer who already exists. Open the existing record, or save anyway."),
                fields={"duplicate": ",".join(str(i) for i in ids)},
                code="duplicate",
            )
            exc.candidate_ids = ids  # type: ignore[attr-defined]
            raise exc
    with transaction.atomic():
        values = dict(clean.values)
        if any(k in values for k in ("consent_phone", "consent_sms", "consent_email")):
            values["consent_updated_at"] = timezone.now()
        customer = Customer.objects.create(**values)
        _write_details(customer, clean)
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="customer.create",
            obj=customer,
            after=_audit_after(customer, clean),
        )
    return customer


def customer_update(*, actor: Membership, customer_id: int, **fields: Any) -> Customer:
    """Change the given fields (see ``FIELDS``); lists given (phones, emails, addresses, tags) replace the old ones,
    ``custom`` is merged key by key (an empty value removes the key), a sensitive field given as "" is cleared.

    Refuses unknown fields, bad values, customers outside the actor's edit scope, and an owner outside it.
    Audited as customer.update with the before/after of the changed fields.
    """
    with transaction.atomic():
        customer = get_customer_for(actor, customer_id, action="edit")
        clean = _validate(actor, fields, customer=customer, creating=False)
        if "owner_id" in clean.values:
            permissions.require(actor, Module.CUSTOMERS, "edit", owner_id=clean.values["owner_id"])
        before = _audit_after(customer)
        if clean.phones is not None:
            before["phones"] = list(
                CustomerPhone.objects.filter(customer_id=customer.pk).values_list("e164", flat=True)
            )
        if clean.emails is not None:
            before["emails"] = list(
                CustomerEmail.objects.filter(customer_id=customer.pk).values_list("email", flat=True)
            )
        if clean.tags is not None:
            before["tags"] = list(
                Tag.objects.filter(customer_tags__customer_id=customer.pk).values_list("name", flat=True)
            )
        for key in clean.sensitive:
            last4 = getattr(customer, f"{key}_last4")
            before[key] = f"…{last4}" if last4 else ""
        consent_changed = any(
            k in clean.values and clean.values[k] != getattr(customer, k)
            for k in ("consent_phone", "consent_sms", "consent_email")
        )
        for k, value in clean.values.items():
            setattr(customer, k, value)
        if (
            "company_id" in clean.values
            and clean.values["company_id"] is None
            and "company_name" not in fields
        ):
            customer.company_name = ""
        if consent_changed:
            customer.consent_updated_at = timezone.now()
        _write_details(customer, clean)
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="customer.update",
            obj=customer,
            before=before,
            after=_audit_after(customer, clean),
        )
    return customer


def customer_delete(*, actor: Membership, customer_id: int) -> None:
    """Delete a customer with its details and timeline. Needs edit rights on it. Audited with a snapshot."""
    with transaction.atomic():
        customer = get_customer_for(actor, customer_id, action="edit")
        _delete(actor, customer)


def _delete(actor: Membership, customer: Customer) -> None:
    audit_record(
        workspace=actor.workspace,
        actor=actor.user,
        action="customer.delete",
        obj=customer,
        before=_audit_after(customer),
    )
    customer.delete()


# --- 360 page helpers -------------------------------------------------------------------------------------------
def customer_tag_add(*, actor: Membership, customer_id: int, name: str) -> Tag:
    """Put a tag (created if new) on one customer. Needs edit rights on the customer."""
    errors: dict[str, str] = {}
    names = _clean_tags([name], errors)
    if errors or not names:
        raise ValidationFailed(fields={"name": errors.get("tags.0") or _("Name is required.")})
    with transaction.atomic():
        customer = get_customer_for(actor, customer_id, action="edit")
        tag = _tags_named(names)[0]
        _link, created = CustomerTag.objects.get_or_create(customer_id=customer.pk, tag=tag)
        if created:
            audit_record(
                workspace=actor.workspace,
                actor=actor.user,
                action="customer.tag",
                obj=customer,
                changes={"tags": [None, tag.name]},
            )
    return tag


def customer_tag_remove(*, actor: Membership, customer_id: int, tag_id: int) -> None:
    """Take a tag off one customer. Needs edit rights on the customer."""
    with transaction.atomic():
        customer = get_customer_for(actor, customer_id, action="edit")
        link = (
            CustomerTag.objects.filter(customer_id=customer.pk, tag_id=_int_or(tag_id))
            .select_related("tag")
            .first()
        )
        if link is None:
            raise NotFound()
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="customer.untag",
            obj=customer,
            changes={"tags": [link.tag.name, None]},
        )
        link.delete()


def customer_reveal_sensitive(*, actor: Membership, customer_id: int, field: str) -> str:
    """The full ID card or bank card number of a customer, for a member whose personal-data *edit* scope covers
    the customer's owner. Writes the audit event "customer.reveal" naming the field (never the value).
    Refuses other fields (ValidationFailed), members without the right (Forbidden), and an empty field (NotFound)."""
    if field not in SENSITIVE_FIELDS:
        raise ValidationFailed(fields={"field": _("Choose id_card or bank_card.")})
    with transaction.atomic():
        customer = get_customer_for(actor, customer_id)
        if not personal_access(actor).may_reveal(customer.owner_id):
            raise Forbidden(_("Revealing this needs the personal-data right for this customer."))
        token = getattr(customer, f"{field}_enc")
        if not token:
            raise NotFound(_("This customer has no such number on record."))
        value = decrypt_str(token, context=f"customer:{customer.pk}:{field}")
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="customer.reveal",
            obj=customer,
            changes={"field": [None, field]},
        )
    return value


# --- bulk actions -----------------------------------------------------------------------------------------------
@dataclass
class BulkResult:
    """What a bulk action did: ids changed, ids refused (outside the edit scope), ids not found (or not visible)."""

    done: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "done": len(self.done),
            "refused": len(self.refused),
            "missing": len(self.missing),
            "done_ids": self.done,
            "refused_ids": self.refused,
            "missing_ids": self.missing,
        }


def _bulk_targets(
    actor: Membership, ids: list[int] | None, filters: dict[str, Any] | None
) -> tuple[list[Customer], BulkResult]:
    """The customers a bulk action may touch, per row checked against the edit scope, and the result so far."""
    permissions.require(actor, Module.CUSTOMERS, "edit")
    result = BulkResult()
    if ids is not None:
        wanted = []
        for i in ids:
            n = _int_or(i)
            if n not in wanted:
                wanted.append(n)
        if not wanted:
            raise ValidationFailed(fields={"ids": _("Choose at least one customer.")})
        if len(wanted) > BULK_MAX:
            raise ValidationFailed(fields={"ids": _("At most %(n)s customers at once.") % {"n": BULK_MAX}})
        rows = list(customer_filter(actor, {}).qs.filter(pk__in=wanted).order_by("id"))
        found = {c.pk for c in rows}
        result.missing = [i for i in wanted if i not in found]
    elif filters is not None:
        rows = list(customer_filter(actor, filters).qs.order_by("id")[: BULK_MAX + 1])
        if len(rows) > BULK_MAX:
            raise ValidationFailed(
                fields={
                    "filter": _("The filter matches more than %(n)s customers: narrow it.") % {"n": BULK_MAX}
                }
            )
    else:
        raise ValidationFailed(fields={"ids": _("Choose customers, or a filter.")})
    allowed = []
    for c in rows:
        if permissions.can(actor, Module.CUSTOMERS, "edit", owner_id=c.owner_id):
            allowed.append(c)
        else:
            result.refused.append(c.pk)
    return allowed, result


def customer_bulk_tag(
    *,
    actor: Membership,
    tags: list[str],
    ids: list[int] | None = None,
    filters: dict[str, Any] | None = None,
    remove: bool = False,
) -> BulkResult:
    """Add (or with ``remove``, take off) tags on many customers, by ids or by the list filter. Rows outside the
    actor's edit scope are reported in ``refused`` and left alone. One audit event per customer changed."""
    errors: dict[str, str] = {}
    names = _clean_tags(tags, errors)
    if errors or not names:
        raise ValidationFailed(fields=errors or {"tags": _("Choose at least one tag.")})
    with transaction.atomic():
        rows, result = _bulk_targets(actor, ids, filters)
        tag_objs = list(Tag.objects.filter(name__in=names)) if remove else _tags_named(names)
        tag_ids = [t.pk for t in tag_objs]
        ws = actor.workspace_id
        have = set(
            CustomerTag.objects.filter(customer_id__in=[c.pk for c in rows], tag_id__in=tag_ids).values_list(
                "customer_id", "tag_id"
            )
        )
        for c in rows:
            if remove:
                gone = [t for t in tag_objs if (c.pk, t.pk) in have]
                if not gone:
                    continue
                CustomerTag.objects.filter(customer_id=c.pk, tag_id__in=[t.pk for t in gone]).delete()
                change = {"tags_removed": [[t.name for t in gone], None]}
            else:
                new = [t for t in tag_objs if (c.pk, t.pk) not in have]
                if not new:
                    result.done.append(c.pk)
                    continue
                CustomerTag.objects.bulk_create(
                    [CustomerTag(workspace_id=ws, customer_id=c.pk, tag_id=t.pk) for t in new]
                )
                change = {"tags_added": [None, [t.name for t in new]]}
            result.done.append(c.pk)
            audit_record(
                workspace=actor.workspace,
                actor=actor.user,
                action="customer.untag" if remove else "customer.tag",
                obj=c,
                changes=change,
            )
    return result


def customer_bulk_assign_owner(
    *,
    actor: Membership,
    owner_id: int | None,
    ids: list[int] | None = None,
    filters: dict[str, Any] | None = None,
) -> BulkResult:
    """Give many customers a new owner. The owner must be a member the actor may assign to; rows outside the
    actor's edit scope are refused and left alone. One audit event per customer changed."""
    if owner_id is not None:
        owner_id = _int_or(owner_id)
        if not Membership.objects.filter(user_id=owner_id, is_active=True).exists():
            raise ValidationFailed(fields={"owner_id": _("The owner must be a member of this workspace.")})
    permissions.require(actor, Module.CUSTOMERS, "edit", owner_id=owner_id)
    with transaction.atomic():
        rows, result = _bulk_targets(actor, ids, filters)
        for c in rows:
            if c.owner_id != owner_id:
                old = c.owner_id
                Customer.objects.filter(pk=c.pk).update(owner_id=owner_id, updated_at=timezone.now())
                audit_record(
                    workspace=actor.workspace,
                    actor=actor.user,
                    action="customer.update",
                    obj=c,
                    changes={"owner_id": [old, owner_id]},
                )
            result.done.append(c.pk)
    return result


def customer_bulk_delete(
    *, actor: Membership, ids: list[int] | None = None, filters: dict[str, Any] | None = None
) -> BulkResult:
    """Delete many customers; rows outside the actor's edit scope are refused and left alone. Audited per row."""
    with transaction.atomic():
        rows, result = _bulk_targets(actor, ids, filters)
        for c in rows:
            result.done.append(c.pk)
            _delete(actor, c)
    return result


# --- tags -------------------------------------------------------------------------------------------------------
_COLOR_OK = set("0123456789abcdefABCDEF")


def _clean_tag_input(name: str, color: str | None) -> tuple[str, str | None]:
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = _("Name is required.")
    elif len(name) > 50:
        errors["name"] = _("At most %(n)s characters.") % {"n": 50}
    if color is not None and not (len(color) == 7 and color[0] == "#" and set(color[1:]) <= _COLOR_OK):
        errors["color"] = _("Use a colour like #1a7f37.")
    if errors:
        raise ValidationFailed(fields=errors)
    return name, color


def tag_create(*, actor: Membership, name: str, color: str = "#888888") -> Tag:
    """A new tag. Needs edit rights on customers; a name already used is refused."""
    permissions.require(actor, Module.CUSTOMERS, "edit")
    name, color = _clean_tag_input(name, color)
    with transaction.atomic():
        if Tag.objects.filter(name=name).exists():
            raise ValidationFailed(fields={"name": _("A tag with this name exists.")})
        tag = Tag.objects.create(name=name, color=color)
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="tag.create", obj=tag, after=snapshot(tag)
        )
    return tag


def _get_tag(tag_id: int) -> Tag:
    tag = Tag.objects.filter(pk=_int_or(tag_id)).first()
    if tag is None:
        raise NotFound()
    return tag


def tag_rename(*, actor: Membership, tag_id: int, name: str, color: str | None = None) -> Tag:
    """Rename (and recolour) a tag for the whole workspace. Needs the settings edit right."""
    permissions.require(actor, Module.SETTINGS, "edit")
    name, color = _clean_tag_input(name, color)
    with transaction.atomic():
        tag = _get_tag(tag_id)
        if Tag.objects.filter(name=name).exclude(pk=tag.pk).exists():
            raise ValidationFailed(fields={"name": _("A tag with this name exists.")})
        before = snapshot(tag)
        tag.name = name
        if color:
            tag.color = color
        tag.save()
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="tag.update",
            obj=tag,
            before=before,
            after=snapshot(tag),
        )
    return tag


def tag_delete(*, actor: Membership, tag_id: int) -> None:
    """Delete a tag and take it off every customer. Needs the settings edit right."""
    permissions.require(actor, Module.SETTINGS, "edit")
    with transaction.atomic():
        tag = _get_tag(tag_id)
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="tag.delete", obj=tag, before=snapshot(tag)
        )
        tag.delete()


# --- custom field definitions -----------------------------------------------------------------------------------
def customfield_create(
    *,
    actor: Membership,
    key: str,
    label: str,
    field_type: str,
    choices: list[str] | None = None,
    required: bool = False,
    min_value: Any = None,
    max_value: Any = None,
    max_length: int | None = None,
    pattern: str = "",
    position: int | None = None,
) -> CustomFieldDefinition:
    """Define a field for this workspace's customers. Needs the settings edit right; the key must be new."""
    permissions.require(actor, Module.SETTINGS, "edit")
    try:
        attrs = clean_definition(
            key=key,
            label=label,
            field_type=field_type,
            choices=choices,
            min_value=min_value,
            max_value=max_value,
            max_length=max_length,
            pattern=pattern,
        )
    except CustomValueErrors as exc:
        raise ValidationFailed(fields=exc.errors) from None
    with transaction.atomic():
        if CustomFieldDefinition.objects.filter(key=attrs["key"]).exists():
            raise ValidationFailed(
                fields={"key": _("This key is already used (perhaps by a deactivated field).")}
            )
        if position is None:
            position = CustomFieldDefinition.objects.count()
        d = CustomFieldDefinition.objects.create(
            **attrs, required=bool(required), position=max(0, int(position))
        )
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="customfield.create", obj=d, after=snapshot(d)
        )
    return d


_DEF_EDITABLE = (
    "label",
    "choices",
    "required",
    "min_value",
    "max_value",
    "max_length",
    "pattern",
    "position",
    "is_active",
)


def customfield_update(*, actor: Membership, field_id: int, **changes: Any) -> CustomFieldDefinition:
    """Change a definition's label, choices, rules, position or activity. The key and the type cannot change
    (stored values depend on them). Needs the settings edit right."""
    permissions.require(actor, Module.SETTINGS, "edit")
    unknown = set(changes) - set(_DEF_EDITABLE)
    if unknown:
        raise ValidationFailed(
            fields={
                k: _("This cannot be changed.") if k in ("key", "field_type") else _("Unknown field.")
                for k in unknown
            }
        )
    with transaction.atomic():
        d = CustomFieldDefinition.objects.filter(pk=_int_or(field_id)).first()
        if d is None:
            raise NotFound()
        merged = {
            k: changes.get(k, getattr(d, k))
            for k in ("label", "choices", "min_value", "max_value", "max_length", "pattern")
        }
        try:
            attrs = clean_definition(key=d.key, field_type=d.field_type, **merged)
        except CustomValueErrors as exc:
            raise ValidationFailed(fields=exc.errors) from None
        before = snapshot(d)
        for k in ("label", "choices", "min_value", "max_value", "max_length", "pattern"):
            setattr(d, k, attrs[k])
        if "required" in changes:
            d.required = _bool(changes["required"])
        if "is_active" in changes:
            d.is_active = _bool(changes["is_active"])
        if "position" in changes:
            d.position = max(0, _int_or(changes["position"]))
        d.save()
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="customfield.update",
            obj=d,
            before=before,
            after=snapshot(d),
        )
    return d


def customfield_deactivate(*, actor: Membership, field_id: int) -> CustomFieldDefinition:
    """Hide a field from forms, filters and validation; stored values are kept (reactivate with update)."""
    return customfield_update(actor=actor, field_id=field_id, is_active=False)


# --- saved views ------------------------------------------------------------------------------------------------
def savedview_save(
    *, actor: Membership, name: str, params: dict[str, Any], module: str = "customers"
) -> SavedView:
    """Save the current list filters and sort under a name for the actor (same name: replaced). The filters are
    checked as the list would read them, so a saved view always opens."""
    permissions.require(actor, Module.CUSTOMERS, "view")
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(fields={"name": _("Name is required.")})
    if len(name) > 100:
        raise ValidationFailed(fields={"name": _("At most %(n)s characters.") % {"n": 100}})
    if not isinstance(params, dict):
        raise ValidationFailed(fields={"params": _("Give the filters as an object.")})
    parsed = customer_filter(actor, params)
    clean = dict(parsed.params)
    if params.get("sort"):
        clean["sort"] = parsed.sort
    with transaction.atomic():
        view, created = SavedView.objects.update_or_create(
            user_id=actor.user_id, module=module, name=name, defaults={"params": clean}
        )
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="savedview.create" if created else "savedview.update",
            obj=view,
            after=snapshot(view),
        )
    return view


def savedview_delete(*, actor: Membership, view_id: int) -> None:
    """Delete one of the actor's own saved views (another member's is NotFound)."""
    with transaction.atomic():
        view = SavedView.objects.filter(pk=_int_or(view_id), user_id=actor.user_id).first()
        if view is None:
            raise NotFound()
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="savedview.delete",
            obj=view,
            before=snapshot(view),
        )
        view.delete()
