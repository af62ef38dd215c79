"""API routes for customers (客户). Reads through the selectors, writes through the services."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from guanxi.core.api_support import CURSOR_QUERY, LIMIT_QUERY, ErrorOut, member, page_of, paginate
from guanxi.core.errors import ValidationFailed
from guanxi.customers.selectors import customer_list, get_customer_for
from guanxi.customers.services import customer_create, customer_delete, customer_update

router = Router(tags=["customers"])

ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 422, 429)}
Kind = Literal["person", "company"]


class CustomerOut(Schema):
    id: int
    kind: str
    name: str
    phone: str
    email: str
    province: str
    city: str
    industry: str
    source: str
    owner_id: int | None
    notes: str
    created_at: dt.datetime
    updated_at: dt.datetime


class CustomerIn(Schema):
    name: str = Field(max_length=200)
    kind: Kind = "person"
    phone: str = Field("", max_length=32)
    email: str = Field("", max_length=254)
    province: str = Field("", max_length=50)
    city: str = Field("", max_length=50)
    industry: str = Field("", max_length=50)
    source: str = Field("", max_length=30)
    notes: str = Field("", max_length=10_000)
    owner_id: int | None = Field(None, description="A member's user id; default: the caller.")


class CustomerPatch(Schema):
    """Only the fields sent are changed. ``owner_id: null`` leaves the customer without an owner."""

    name: str | None = Field(None, max_length=200)
    kind: Kind | None = None
    phone: str | None = Field(None, max_length=32)
    email: str | None = Field(None, max_length=254)
    province: str | None = Field(None, max_length=50)
    city: str | None = Field(None, max_length=50)
    industry: str | None = Field(None, max_length=50)
    source: str | None = Field(None, max_length=30)
    notes: str | None = Field(None, max_length=10_000)
    owner_id: int | None = None


class CustomerFilters(Schema):
    q: str | None = Field(None, max_length=100, description="Part of the name.")
    kind: Kind | None = None
    owner_id: int | None = None


@router.get("/customers", response={200: page_of(CustomerOut), **ERRORS}, summary="List customers")
def customers(
    request: HttpRequest,
    filters: Query[CustomerFilters],
    limit: int = LIMIT_QUERY,
    cursor: str | None = CURSOR_QUERY,
) -> dict:
    """Customers the caller may see, newest first."""
    qs = customer_list(actor=member(request))  # already scoped to the workspace and the caller's view scope
    if filters.q:
        qs = qs.filter(name__icontains=filters.q.strip())
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.owner_id is not None:
        qs = qs.filter(owner_id=filters.owner_id)
    return paginate(qs, order=("-created_at", "-id"), limit=limit, cursor=cursor)


@router.post("/customers", response={201: CustomerOut, **ERRORS}, summary="Create a customer")
def customer_add(request: HttpRequest, payload: CustomerIn) -> Status:
    data = payload.dict(exclude_unset=True)
    name = data.pop("name")
    return Status(201, customer_create(actor=member(request), name=name, **data))


@router.get("/customers/{customer_id}", response={200: CustomerOut, **ERRORS}, summary="Get a customer")
def customer_detail(request: HttpRequest, customer_id: int) -> object:
    return get_customer_for(member(request), customer_id)


@router.patch("/customers/{customer_id}", response={200: CustomerOut, **ERRORS}, summary="Change a customer")
def customer_change(request: HttpRequest, customer_id: int, payload: CustomerPatch) -> object:
    data = payload.dict(exclude_unset=True)
    nulls = {k for k, v in data.items() if v is None and k not in {"owner_id", "name"}}
    if nulls:
        raise ValidationFailed(fields={k: _('Cannot be null: send "" to clear it.') for k in sorted(nulls)})
    return customer_update(actor=member(request), customer_id=customer_id, **data)


@router.delete("/customers/{customer_id}", response={204: None, **ERRORS}, summary="Delete a customer")
def customer_remove(request: HttpRequest, customer_id: int) -> Status:
    customer_delete(actor=member(request), customer_id=customer_id)
    return Status(204, None)
