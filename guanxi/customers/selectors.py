"""Reads of customers, narrowed to what the acting member may see.

``customer_filter`` is the one parser of list filters (API query, web filter bar, saved views, bulk actions by
filter, exports): standard fields, custom fields (``custom.<key>``, numbers and dates with ``__gte``/``__lte``) and the
sort. ``customer_360`` gathers the customer page in a fixed number of queries.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from guanxi.core.errors import NotFound, ValidationFailed
from guanxi.customers.customfields import apply_custom_filter
from guanxi.customers.models import (
    Customer,
    CustomerAddress,
    CustomerEmail,
    CustomerKind,
    CustomerPhone,
    CustomerSource,
    CustomerTag,
    CustomFieldDefinition,
    SavedView,
    Tag,
)
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

# The highest code point: "name < prefix + MAX_CHAR" closes a prefix range a B-tree index can walk.
MAX_CHAR = "\U0010ffff"

# sort parameter -> keyset order; each ends with the unique id. Indexes: customer_ws_created_idx (created_at),
# customer_ws_name_idx (name); updated_at has no index of its own (a filtered list is small enough to sort).
SORTS: dict[str, tuple[str, str]] = {
    "-created_at": ("-created_at", "-id"),
    "created_at": ("created_at", "id"),
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "updated_at": ("updated_at", "id"),
    "-updated_at": ("-updated_at", "-id"),
}
DEFAULT_SORT = "-created_at"

TEXT_FILTERS = ("source", "province", "city", "industry")
BOOL_FILTERS = ("consent_phone", "consent_sms", "consent_email")
STANDARD_FILTERS = (
    "q",
    "kind",
    "owner_id",
    *TEXT_FILTERS,
    "tag",
    *BOOL_FILTERS,
    "created_after",
    "created_before",
    "company_id",
    *("tier", "stage", "rfm_segment"),  # segments of the current analytics results (guanxi.analytics)
)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def customer_list(*, actor: Membership) -> QuerySet[Customer]:
    """Live customers (not merged away) the actor may see, owner joined."""
    qs = Customer.objects.filter(merged_into__isnull=True).select_related("owner")
    return permissions.filter_queryset(actor, Module.CUSTOMERS, "view", qs)


def get_customer_for(actor: Membership, customer_id: int, *, action: permissions.Action = "view") -> Customer:
    """The customer, if it is in the actor's workspace and scope. Missing and not-yours are the same 404."""
    try:
        customer = Customer.objects.select_related("owner", "company").get(pk=customer_id)
    except (Customer.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None
    permissions.require_object(actor, Module.CUSTOMERS, action, owner_id=customer.owner_id)
    return customer


def customer_by_phone(e164: str) -> Customer | None:
    """Who is calling? The live customer of the current workspace with this E.164 number (any of their phones),
    newest first; one SQL statement on the index customerphone_ws_e164_idx. For the screen pop: no permission
    narrowing here — the caller decides what the agent may see (``privacy.present_customer``)."""
    return (
        Customer.objects.filter(
            phones__e164=e164, phones__workspace_id=F("workspace_id"), merged_into__isnull=True
        )
        .order_by("-created_at", "-id")
        .first()
    )


def customfield_list(*, active_only: bool = True) -> list[CustomFieldDefinition]:
    qs = CustomFieldDefinition.objects.all()
    if active_only:
        qs = qs.filter(is_active=True)
    return list(qs.order_by("position", "id"))


def tag_list() -> list[Tag]:
    return list(Tag.objects.order_by("name"))


def savedview_list(*, actor: Membership, module: str = "customers") -> list[SavedView]:
    return list(SavedView.objects.filter(user_id=actor.user_id, module=module).order_by("name"))


_PHONE_PREFIX = re.compile(r"^\+?\d{3,}$")


def _prefix_condition(q: str) -> Q:
    """Name or primary phone starts with ``q``, as index range scans (customer_ws_name_idx, customer_ws_phone_idx).

    Phones are stored in E.164 (+8613800138000); a typed "138 0013" also matches as "+86138 0013"-prefix. The full
    search (pinyin, fragments, ranking) is the search module's; this is the list's quick prefix filter.
    """
    cond = Q(name__gte=q, name__lt=q + MAX_CHAR)
    compact = q.replace(" ", "").replace("-", "")
    if _PHONE_PREFIX.match(compact):
        for prefix in [compact] if compact.startswith("+") else [compact, "+86" + compact]:
            cond |= Q(phone__gte=prefix, phone__lt=prefix + MAX_CHAR)
    return cond


def _when(raw: str, *, end: bool) -> dt.datetime | None:
    value = parse_datetime(raw)
    if value is None:
        day = parse_date(raw)
        if day is None:
            return None
        value = dt.datetime.combine(day + dt.timedelta(days=1) if end else day, dt.time.min)
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def _int(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isdigit() else None


@dataclass
class CustomerQuery:
    """Parsed list parameters: the filtered queryset, the keyset order and what was understood."""

    qs: QuerySet[Customer]
    order: tuple[str, str]
    sort: str
    params: dict[str, str] = field(default_factory=dict)


def customer_filter(
    actor: Membership,
    params: Mapping[str, Any],
    *,
    definitions: list[CustomFieldDefinition] | None = None,
) -> CustomerQuery:
    """The actor's visible customers narrowed by ``params`` (a QueryDict or dict of strings) and their sort order.

    Unknown parameters are ignored (a page's own ``cursor``, ``limit``); a bad value raises ValidationFailed naming
    the parameter (``created_after``, ``custom.budget__gte``) so nothing runs on a misread filter.
    """
    qs = customer_list(actor=actor)
    errors: dict[str, str] = {}
    used: dict[str, str] = {}

    def get(name: str) -> str:
        value = params.get(name)
        if isinstance(value, list):
            value = value[-1] if value else ""
        value = "" if value is None else str(value).strip()
        if value:
            used[name] = value
        return value

    q = get("q")[:100]
    if q:
        qs = qs.filter(_prefix_condition(q))
    kind = get("kind")
    if kind:
        if kind in CustomerKind.values:
            qs = qs.filter(kind=kind)
        else:
            errors["kind"] = _("Type must be person or company.")
    owner = get("owner_id")
    if owner:
        if owner == "none":
            qs = qs.filter(owner__isnull=True)
        elif _int(owner) is not None:
            qs = qs.filter(owner_id=int(owner))
        else:
            errors["owner_id"] = _("Enter a whole number.")
    for name in TEXT_FILTERS:
        value = get(name)
        if value:
            if name == "source" and value not in CustomerSource.values:
                errors[name] = _("Unknown source.")
            qs = qs.filter(**{name: value})
    tag = get("tag")
    if tag:
        qs = qs.filter(pk__in=CustomerTag.objects.filter(tag__name=tag).values("customer_id"))
    for name in BOOL_FILTERS:
        value = get(name).lower()
        if value in _TRUE:
            qs = qs.filter(**{name: True})
        elif value in _FALSE:
            qs = qs.filter(**{name: False})
        elif value:
            errors[name] = _("Must be true or false.")
    for name, lookup, end in (("created_after", "gte", False), ("created_before", "lt", True)):
        value = get(name)
        if value:
            when = _when(value, end=end)
            if when is None:
                errors[name] = _("Enter a date like 2025-01-31.")
            else:
                qs = qs.filter(**{f"created_at__{lookup}": when})
    company = get("company_id")
    if company:
        if _int(company) is None:
            errors["company_id"] = _("Enter a whole number.")
        else:
            qs = qs.filter(company_id=int(company))
    for name in ("tier", "stage", "rfm_segment"):
        value = get(name)
        if value:
            from guanxi.analytics.selectors import segment_customer_ids

            try:
                qs = qs.filter(pk__in=segment_customer_ids(name, value))
            except ValueError:
                errors[name] = _("Unknown segment.")
    custom_keys = [k for k in params if str(k).startswith("custom.")]
    if custom_keys:
        defs = {d.key: d for d in (definitions if definitions is not None else customfield_list())}
        for name in custom_keys:
            value = get(name)
            if not value:
                continue
            key, _sep, op = name[len("custom.") :].partition("__")
            d = defs.get(key)
            if d is None:
                errors[name] = _("Unknown custom field.")
                continue
            try:
                qs = apply_custom_filter(qs, d, op, value)
            except ValueError as exc:
                errors[name] = str(exc)
    sort = get("sort") or DEFAULT_SORT
    if sort not in SORTS:
        errors["sort"] = _("Sort by one of: %(choices)s.") % {"choices": ", ".join(SORTS)}
        sort = DEFAULT_SORT
    if errors:
        raise ValidationFailed(fields=errors)
    used.pop("sort", None)
    return CustomerQuery(qs=qs, order=SORTS[sort], sort=sort, params=used)


def with_tags(qs: QuerySet[Customer]) -> QuerySet[Customer]:
    """Prefetch each customer's tags (one extra query per page) for ``present_customer``."""
    return qs.prefetch_related(
        Prefetch("customer_tags", queryset=CustomerTag.objects.select_related("tag").order_by("tag__name"))
    )


@dataclass
class Customer360:
    """Everything the customer page shows, fetched in a fixed number of queries."""

    customer: Customer
    phones: list[CustomerPhone]
    emails: list[CustomerEmail]
    addresses: list[CustomerAddress]
    tags: list[Tag]
    contacts: list[Customer]
    contacts_more: bool
    definitions: list[CustomFieldDefinition]


CONTACTS_SHOWN = 50


def customer_360(actor: Membership, customer_id: int) -> Customer360:
    """The customer with its phones, emails, addresses, tags, contacts (companies) and custom-field definitions.

    Eight queries at most, whatever the customer has; the timeline is read separately (``timeline_page``).
    """
    customer = get_customer_for(actor, customer_id)
    phones = list(CustomerPhone.objects.filter(customer_id=customer.pk).order_by("-is_primary", "id"))
    emails = list(CustomerEmail.objects.filter(customer_id=customer.pk).order_by("-is_primary", "id"))
    addresses = list(CustomerAddress.objects.filter(customer_id=customer.pk).order_by("-is_primary", "id"))
    tags = list(Tag.objects.filter(customer_tags__customer_id=customer.pk).order_by("name"))
    contacts: list[Customer] = []
    if customer.kind == CustomerKind.COMPANY:
        visible = customer_list(actor=actor).filter(company_id=customer.pk).order_by("name", "id")
        contacts = list(visible[: CONTACTS_SHOWN + 1])
    return Customer360(
        customer=customer,
        phones=phones,
        emails=emails,
        addresses=addresses,
        tags=tags,
        contacts=contacts[:CONTACTS_SHOWN],
        contacts_more=len(contacts) > CONTACTS_SHOWN,
        definitions=customfield_list(),
    )


def customers_by_ids(actor: Membership, ids: list[int]) -> QuerySet[Customer]:
    return customer_list(actor=actor).filter(pk__in=ids)


__all__ = [
    "customer_by_phone",
    "DEFAULT_SORT",
    "SORTS",
    "STANDARD_FILTERS",
    "Customer360",
    "CustomerQuery",
    "customer_360",
    "customer_filter",
    "customer_list",
    "customers_by_ids",
    "customfield_list",
    "get_customer_for",
    "savedview_list",
    "tag_list",
    "with_tags",
]
