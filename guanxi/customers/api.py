"""API routes for customers (客户). Reads through the selectors, writes through the services, output through
``guanxi.customers.privacy.present_customer`` (personal fields masked by role)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from guanxi.core.api_support import CURSOR_QUERY, LIMIT_QUERY, ErrorOut, member, page_of, paginate
from guanxi.core.errors import ValidationFailed
from guanxi.customers.models import SavedView, Tag
from guanxi.customers.privacy import personal_access, present_customer
from guanxi.customers.search import MAX_LIMIT as SEARCH_MAX
from guanxi.customers.search import customer_search
from guanxi.customers.selectors import (
    customer_360,
    customer_filter,
    customfield_list,
    savedview_list,
    tag_list,
    with_tags,
)
from guanxi.customers.services import (
    customer_bulk_assign_owner,
    customer_bulk_delete,
    customer_bulk_tag,
    customer_create,
    customer_delete,
    customer_reveal_sensitive,
    customer_update,
    customfield_create,
    customfield_deactivate,
    customfield_update,
    savedview_delete,
    savedview_save,
    tag_create,
    tag_delete,
    tag_rename,
)
from guanxi.customers.timeline import customer_add_note, timeline_page
from guanxi.workspaces import permissions
from guanxi.workspaces.permissions import Module

router = Router(tags=["customers"])

ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 409, 422, 429)}
Kind = Literal["person", "company"]
Sort = Literal["created_at", "-created_at", "name", "-name", "updated_at", "-updated_at"]


# --- schemas ----------------------------------------------------------------------------------------------------
class PhoneIn(Schema):
    number: str = Field(max_length=40)
    kind: Literal["mobile", "landline", "other"] | None = None
    primary: bool = False


class EmailIn(Schema):
    email: str = Field(max_length=254)
    primary: bool = False


class AddressIn(Schema):
    kind: Literal["home", "work", "billing", "shipping", "other"] = "home"
    country: str = Field("CN", max_length=2)
    province: str = Field("", max_length=50)
    city: str = Field("", max_length=50)
    district: str = Field("", max_length=50)
    street: str = Field("", max_length=200)
    postal_code: str = Field("", max_length=20)
    free_form: str = Field("", max_length=1000, description="An address written as one line (outside China).")
    primary: bool = False


class PhoneOut(Schema):
    id: int
    number: str = Field(description="E.164, or masked (138****8000) without the personal-data right.")
    kind: str
    region: str
    carrier: str
    primary: bool


class EmailOut(Schema):
    id: int
    email: str
    primary: bool


class AddressOut(Schema):
    id: int
    kind: str
    country: str
    province: str
    city: str
    district: str
    street: str
    postal_code: str
    free_form: str
    text: str
    primary: bool


class CustomerOut(Schema):
    id: int
    kind: str
    name: str
    company_id: int | None
    company_name: str
    title: str
    phone: str = Field(description="Primary phone; masked without the personal-data right.")
    email: str = Field(description="Primary email; masked without the personal-data right.")
    province: str
    city: str
    industry: str
    source: str
    owner_id: int | None
    notes: str
    consent_phone: bool
    consent_sms: bool
    consent_email: bool
    custom: dict[str, Any]
    tags: list[str]
    id_card: str = Field(
        description='Always masked ("•••• 1234"); POST /customers/{id}/reveal for the number.'
    )
    bank_card: str
    external_id: str
    masked: bool = Field(description="True when phones, emails and addresses are masked for the caller.")
    created_at: dt.datetime
    updated_at: dt.datetime


class CustomerDetailOut(CustomerOut):
    phones: list[PhoneOut]
    emails: list[EmailOut]
    addresses: list[AddressOut]
    may_reveal: bool
    merged_into_id: int | None
    profile: dict[str, Any] | None = Field(
        None,
        description="Analytics profile (tier, rfm, stage, cluster, churn, clv, next_purchase, recommendations), "
        "each with why and run_id; null without analytics access.",
    )


class _CustomerFields(Schema):
    phones: list[PhoneIn] | None = Field(None, max_length=20)
    emails: list[EmailIn] | None = Field(None, max_length=20)
    addresses: list[AddressIn] | None = Field(None, max_length=20)
    tags: list[str] | None = Field(None, max_length=50, description="Tag names; new ones are created.")
    custom: dict[str, Any] | None = Field(None, description="Custom field values by key.")
    consent_phone: bool | None = None
    consent_sms: bool | None = None
    consent_email: bool | None = None
    company_id: int | None = Field(None, description="A company customer this person is a contact of.")
    company_name: str | None = Field(None, max_length=200)
    title: str | None = Field(None, max_length=100)
    source: str | None = Field(None, max_length=30)
    industry: str | None = Field(None, max_length=50)
    province: str | None = Field(None, max_length=50)
    city: str | None = Field(None, max_length=50)
    notes: str | None = Field(None, max_length=10_000)
    id_card: str | None = Field(
        None, max_length=30, description="18-character resident ID; stored encrypted."
    )
    bank_card: str | None = Field(
        None, max_length=30, description="Bank card number (Luhn); stored encrypted."
    )
    external_id: str | None = Field(None, max_length=100)
    owner_id: int | None = Field(None, description="A member's user id; default: the caller.")
    phone: str | None = Field(
        None, max_length=32, description="Shorthand for a single phone (replaces phones)."
    )
    email: str | None = Field(None, max_length=254, description="Shorthand for a single email.")


class CustomerIn(_CustomerFields):
    name: str = Field(max_length=200)
    kind: Kind = "person"
    allow_duplicate: bool = Field(False, description="Create even if a likely duplicate exists (else 409).")


class CustomerPatch(_CustomerFields):
    """Only the fields sent are changed; lists sent replace the old ones; ``custom`` is merged by key."""

    name: str | None = Field(None, max_length=200)
    kind: Kind | None = None


class CustomerFilters(Schema):
    q: str | None = Field(
        None,
        max_length=100,
        description="Search (as GET /customers/search: name or part of it, pinyin, initials, phone fragment, "
        "email, company); narrows the list to the best matches, which the other filters and the sort then apply to.",
    )
    kind: Kind | None = None
    owner_id: str | None = Field(None, description='A member\'s user id, or "none".')
    source: str | None = None
    province: str | None = None
    city: str | None = None
    industry: str | None = None
    tag: str | None = Field(None, description="A tag name.")
    consent_phone: bool | None = None
    consent_sms: bool | None = None
    consent_email: bool | None = None
    created_after: str | None = Field(None, description="Date or date-time, inclusive.")
    created_before: str | None = Field(None, description="Date (inclusive) or date-time (exclusive).")
    company_id: int | None = None
    tier: Literal["vip", "major", "ordinary", "small"] | None = Field(
        None, description="Value tier (analytics)."
    )
    stage: Literal["new", "active", "sleeping", "lost"] | None = Field(None, description="Lifecycle stage.")
    rfm_segment: str | None = Field(None, description="RFM segment, e.g. champions, at_risk, hibernating.")
    sort: Sort = "-created_at"


# --- customers --------------------------------------------------------------------------------------------------
def _present_list(request: HttpRequest, rows: list) -> list[dict]:
    actor = member(request)
    access = personal_access(actor)
    return [present_customer(actor, c, access=access) for c in rows]


def _present_one(request: HttpRequest, customer_id: int) -> dict:
    actor = member(request)
    data = customer_360(actor, customer_id)
    out = present_customer(
        actor, data.customer, phones=data.phones, emails=data.emails, addresses=data.addresses, tags=data.tags
    )
    from guanxi.analytics.selectors import customer_profile

    return {**out, "profile": customer_profile(actor=actor, customer=data.customer)}


@router.get("/customers", response={200: page_of(CustomerOut), **ERRORS}, summary="List customers")
def customers(
    request: HttpRequest,
    filters: Query[CustomerFilters],
    limit: int = LIMIT_QUERY,
    cursor: str | None = CURSOR_QUERY,
) -> dict:
    """Customers the caller may see. Filter on any standard field, and on custom fields with
    ``custom.<key>=value`` (numbers and dates also ``custom.<key>__gte=`` / ``__lte=``); sort with ``sort``.
    Keyset pages: the cursor carries the sort key. Personal fields are masked for callers without the right."""
    params = {k: v for k, v in request.GET.items() if k not in {"q", "limit", "cursor"}}
    query = customer_filter(member(request), params)
    qs = query.qs
    if filters.q and filters.q.strip():
        hits = customer_search(actor=member(request), q=filters.q, limit=SEARCH_MAX)
        qs = qs.filter(pk__in=[c.pk for c, _score in hits])
    page = paginate(with_tags(qs), order=query.order, limit=limit, cursor=cursor, salt="customers")
    page["items"] = _present_list(request, page["items"])
    return page


@router.post(
    "/customers",
    response={201: CustomerDetailOut, **ERRORS},
    summary="Create a customer",
    description="A likely duplicate (same phone, email, or name with company/city) is answered 409 with the "
    'candidate ids in ``fields[{"field": "duplicate"}]``; send ``allow_duplicate: true`` to create anyway.',
)
def customer_add(request: HttpRequest, payload: CustomerIn) -> Status:
    data = payload.dict(exclude_unset=True)
    name = data.pop("name")
    customer = customer_create(actor=member(request), name=name, **data)
    return Status(201, _present_one(request, customer.pk))


# --- bulk (before /customers/{customer_id}, which would otherwise match "bulk") -------------------------------------------------------------------------------------------------------
class BulkIn(Schema):
    action: Literal["tag", "untag", "assign_owner", "delete"]
    ids: list[int] | None = Field(None, max_length=5000, description="The customers; or give a filter.")
    filter: dict[str, str] | None = Field(
        None, description="The list's filter parameters (as for GET /customers)."
    )
    tags: list[str] | None = Field(None, description="For tag / untag.")
    owner_id: int | None = Field(None, description="For assign_owner (null: no owner).")


class BulkOut(Schema):
    done: int
    refused: int = Field(description="Outside the caller's edit scope: left unchanged.")
    missing: int = Field(description="Not found (or not visible to the caller).")
    done_ids: list[int]
    refused_ids: list[int]
    missing_ids: list[int]


@router.post("/customers/bulk", response={200: BulkOut, **ERRORS}, summary="Act on many customers")
def customers_bulk(request: HttpRequest, payload: BulkIn) -> dict:
    """Tag, untag, assign an owner or delete, by ids or by filter (at most 5,000). Each row is checked against the
    caller's edit scope: rows outside it are reported in ``refused_ids`` and left as they were."""
    actor = member(request)
    if (payload.ids is None) == (payload.filter is None):
        raise ValidationFailed(fields={"ids": _("Give either ids or filter.")})
    target = {"ids": payload.ids, "filters": payload.filter}
    if payload.action in ("tag", "untag"):
        result = customer_bulk_tag(
            actor=actor, tags=payload.tags or [], remove=payload.action == "untag", **target
        )
    elif payload.action == "assign_owner":
        if "owner_id" not in payload.model_fields_set:
            raise ValidationFailed(fields={"owner_id": _("This field is required.")})
        result = customer_bulk_assign_owner(actor=actor, owner_id=payload.owner_id, **target)
    else:
        result = customer_bulk_delete(actor=actor, **target)
    return result.as_dict()


@router.get("/customers/{customer_id}", response={200: CustomerDetailOut, **ERRORS}, summary="Get a customer")
def customer_detail(request: HttpRequest, customer_id: int) -> dict:
    return _present_one(request, customer_id)


NULLABLE = {"owner_id", "company_id", "name"}


@router.patch(
    "/customers/{customer_id}", response={200: CustomerDetailOut, **ERRORS}, summary="Change a customer"
)
def customer_change(request: HttpRequest, customer_id: int, payload: CustomerPatch) -> dict:
    data = payload.dict(exclude_unset=True)
    nulls = {k for k, v in data.items() if v is None and k not in NULLABLE}
    if nulls:
        raise ValidationFailed(fields={k: _('Cannot be null: send "" to clear it.') for k in sorted(nulls)})
    customer = customer_update(actor=member(request), customer_id=customer_id, **data)
    return _present_one(request, customer.pk)


@router.delete("/customers/{customer_id}", response={204: None, **ERRORS}, summary="Delete a customer")
def customer_remove(request: HttpRequest, customer_id: int) -> Status:
    customer_delete(actor=member(request), customer_id=customer_id)
    return Status(204, None)


# --- timeline, notes, reveal -----------------------------------------------------------------------------------
class InteractionOut(Schema):
    id: int
    kind: str
    direction: str
    occurred_at: dt.datetime
    actor_id: int | None
    actor_name: str
    subject: str
    body: str
    source_type: str
    source_id: str
    data: dict[str, Any]


def _interaction(row: Any) -> dict:
    return {
        "id": row.pk,
        "kind": row.kind,
        "direction": row.direction,
        "occurred_at": row.occurred_at,
        "actor_id": row.actor_id,
        "actor_name": str(row.actor) if row.actor_id else "",
        "subject": row.subject,
        "body": row.body,
        "source_type": row.source_type,
        "source_id": row.source_id,
        "data": row.data,
    }


@router.get(
    "/customers/{customer_id}/timeline",
    response={200: page_of(InteractionOut), **ERRORS},
    summary="A customer's timeline",
)
def customer_timeline(
    request: HttpRequest,
    customer_id: int,
    kind: list[str] = Query(None, description="Only these kinds (repeat the parameter)."),  # noqa: B008
    limit: int = LIMIT_QUERY,
    cursor: str | None = CURSOR_QUERY,
) -> dict:
    """Newest first, one indexed query per page."""
    page = timeline_page(member(request), customer_id, kinds=kind or None, cursor=cursor, limit=limit)
    page["items"] = [_interaction(r) for r in page["items"]]
    return page


class NoteIn(Schema):
    body: str = Field(max_length=10_000)
    subject: str = Field("", max_length=300)


@router.post(
    "/customers/{customer_id}/notes",
    response={201: InteractionOut, **ERRORS},
    summary="Add a note to a customer's timeline",
)
def customer_note_add(request: HttpRequest, customer_id: int, payload: NoteIn) -> Status:
    note = customer_add_note(
        actor=member(request), customer_id=customer_id, body=payload.body, subject=payload.subject
    )
    return Status(201, _interaction(note))


class RevealIn(Schema):
    field: Literal["id_card", "bank_card"]


class RevealOut(Schema):
    field: str
    value: str


@router.post(
    "/customers/{customer_id}/reveal",
    response={200: RevealOut, **ERRORS},
    summary="Reveal a sensitive field",
    description="Returns the full ID card or bank card number. Needs the personal-data edit right over the "
    "customer's owner; every reveal is written to the audit trail (the field, never the value).",
)
def customer_reveal(request: HttpRequest, customer_id: int, payload: RevealIn) -> dict:
    value = customer_reveal_sensitive(actor=member(request), customer_id=customer_id, field=payload.field)
    return {"field": payload.field, "value": value}


# --- tags -------------------------------------------------------------------------------------------------------
class TagOut(Schema):
    id: int
    name: str
    color: str


class TagIn(Schema):
    name: str = Field(max_length=50)
    color: str = Field("#888888", max_length=7)


class TagPatch(Schema):
    name: str = Field(max_length=50)
    color: str | None = Field(None, max_length=7)


def _need_view(request: HttpRequest) -> None:
    permissions.require(member(request), Module.CUSTOMERS, "view")


@router.get("/tags", response={200: list[TagOut], **ERRORS}, summary="List tags")
def tags(request: HttpRequest) -> list[Tag]:
    _need_view(request)
    return tag_list()


@router.post("/tags", response={201: TagOut, **ERRORS}, summary="Create a tag")
def tag_add(request: HttpRequest, payload: TagIn) -> Status:
    return Status(201, tag_create(actor=member(request), name=payload.name, color=payload.color))


@router.patch("/tags/{tag_id}", response={200: TagOut, **ERRORS}, summary="Rename a tag")
def tag_change(request: HttpRequest, tag_id: int, payload: TagPatch) -> Tag:
    return tag_rename(actor=member(request), tag_id=tag_id, name=payload.name, color=payload.color)


@router.delete("/tags/{tag_id}", response={204: None, **ERRORS}, summary="Delete a tag")
def tag_remove(request: HttpRequest, tag_id: int) -> Status:
    tag_delete(actor=member(request), tag_id=tag_id)
    return Status(204, None)


# --- custom field definitions ------------------------------------------------------------------------------------
FieldType = Literal["text", "number", "date", "choice", "multi_choice"]


class CustomFieldOut(Schema):
    id: int
    key: str
    label: str
    field_type: str
    choices: list[str]
    required: bool
    min_value: float | None
    max_value: float | None
    max_length: int | None
    pattern: str
    position: int
    is_active: bool


class CustomFieldIn(Schema):
    key: str = Field(max_length=50, description="Lower-case letters, digits and _, starting with a letter.")
    label: str = Field(max_length=100)
    field_type: FieldType
    choices: list[str] | None = Field(None, max_length=200)
    required: bool = False
    min_value: float | None = None
    max_value: float | None = None
    max_length: int | None = None
    pattern: str = Field("", max_length=200, description="A regular expression text values must match.")
    position: int | None = None


class CustomFieldPatch(Schema):
    label: str | None = Field(None, max_length=100)
    choices: list[str] | None = Field(None, max_length=200)
    required: bool | None = None
    min_value: float | None = None
    max_value: float | None = None
    max_length: int | None = None
    pattern: str | None = Field(None, max_length=200)
    position: int | None = None
    is_active: bool | None = None


@router.get("/custom-fields", response={200: list[CustomFieldOut], **ERRORS}, summary="List custom fields")
def custom_fields(request: HttpRequest, include_inactive: bool = False) -> list:
    _need_view(request)
    return customfield_list(active_only=not include_inactive)


@router.post("/custom-fields", response={201: CustomFieldOut, **ERRORS}, summary="Define a custom field")
def custom_field_add(request: HttpRequest, payload: CustomFieldIn) -> Status:
    return Status(201, customfield_create(actor=member(request), **payload.dict()))


@router.patch(
    "/custom-fields/{field_id}", response={200: CustomFieldOut, **ERRORS}, summary="Change a custom field"
)
def custom_field_change(request: HttpRequest, field_id: int, payload: CustomFieldPatch) -> object:
    data = payload.dict(exclude_unset=True)
    return customfield_update(actor=member(request), field_id=field_id, **data)


@router.delete(
    "/custom-fields/{field_id}", response={200: CustomFieldOut, **ERRORS}, summary="Deactivate a custom field"
)
def custom_field_deactivate(request: HttpRequest, field_id: int) -> object:
    """Hidden from forms and filters; stored values are kept. PATCH ``is_active: true`` brings it back."""
    return customfield_deactivate(actor=member(request), field_id=field_id)


# --- saved views --------------------------------------------------------------------------------------------------
class SavedViewOut(Schema):
    id: int
    name: str
    params: dict[str, Any]
    created_at: dt.datetime


class SavedViewIn(Schema):
    name: str = Field(max_length=100)
    params: dict[str, str] = Field(description="List parameters (filters and sort), as for GET /customers.")


@router.get("/saved-views", response={200: list[SavedViewOut], **ERRORS}, summary="List my saved views")
def saved_views(request: HttpRequest) -> list[SavedView]:
    _need_view(request)
    return savedview_list(actor=member(request))


@router.post("/saved-views", response={201: SavedViewOut, **ERRORS}, summary="Save a view")
def saved_view_add(request: HttpRequest, payload: SavedViewIn) -> Status:
    return Status(201, savedview_save(actor=member(request), name=payload.name, params=payload.params))


@router.delete("/saved-views/{view_id}", response={204: None, **ERRORS}, summary="Delete a saved view")
def saved_view_remove(request: HttpRequest, view_id: int) -> Status:
    savedview_delete(actor=member(request), view_id=view_id)
    return Status(204, None)
