"""API routes of the field visits (上门服务) and the customer portal link: schedule a visit on a ticket, list visits
by technician and time, check in, check out with result, parts used and sign-off (signature and photos as base64),
cancel; make a customer's signed portal link."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from guanxi.core.api_support import CURSOR_QUERY, LIMIT_QUERY, ErrorOut, member, page_of, paginate
from guanxi.core.errors import ValidationFailed
from guanxi.service import portal
from guanxi.service import selectors_visits as selectors
from guanxi.service.selectors import get_ticket_for
from guanxi.service.services import visits as services
from guanxi.service.services.messages import Upload

router = Router(tags=["field visits"])

ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 409, 422, 429)}
VisitStatusLit = Literal["scheduled", "on_site", "done", "cancelled"]


class PartOut(Schema):
    name: str
    quantity: int


class VisitOut(Schema):
    id: int
    ticket_id: int
    technician_id: int
    slot_start: dt.datetime
    slot_end: dt.datetime
    address: str
    note: str
    status: str
    checked_in_at: dt.datetime | None
    checked_out_at: dt.datetime | None
    result: str
    parts_used: list[PartOut]
    signed_by: str
    signed_at: dt.datetime | None
    signature_attachment_id: int | None
    cancel_reason: str
    created_at: dt.datetime

    @staticmethod
    def resolve_signature_attachment_id(obj: object) -> int | None:
        return getattr(obj, "signature_id", None)


class VisitIn(Schema):
    technician_id: int
    slot_start: dt.datetime
    slot_end: dt.datetime
    address: str = Field("", max_length=300, description="Default: the customer's province and city.")
    note: str = Field("", max_length=5000)


class FileIn(Schema):
    name: str = Field(max_length=200)
    content_base64: str


class PartIn(Schema):
    name: str = Field(max_length=100)
    quantity: int


class CheckOutIn(Schema):
    result: str = Field(max_length=20_000)
    parts_used: list[PartIn] = Field(default_factory=list, max_length=services.MAX_PARTS)
    signed_by: str = Field(max_length=100, description="The name of the person who signed off.")
    signature: FileIn | None = Field(None, description="A PNG or JPEG image of the signature.")
    photos: list[FileIn] = Field(default_factory=list, max_length=10)


class CancelIn(Schema):
    reason: str = Field("", max_length=300)


class VisitFilters(Schema):
    technician_id: int | None = None
    status: VisitStatusLit | None = None
    start: dt.datetime | None = Field(None, description="Visits whose slot ends after this moment.")
    end: dt.datetime | None = Field(None, description="Visits whose slot starts before this moment.")


class PortalLinkIn(Schema):
    days: int = Field(portal.DEFAULT_DAYS, description="How long the link works (1-365 days).")


class PortalLinkOut(Schema):
    url: str
    expires_at: dt.datetime


class PortalRevokedOut(Schema):
    revoked_at: dt.datetime = Field(description="Links made at or before this moment no longer work.")


def _decode(f: FileIn, field: str) -> Upload:
    try:
        return Upload(name=f.name, content=base64.b64decode(f.content_base64, validate=True))
    except (binascii.Error, ValueError):
        raise ValidationFailed(fields={field: _("Not valid base64.")}) from None


@router.get("/visits", response={200: page_of(VisitOut), **ERRORS}, summary="List field visits")
def visits(
    request: HttpRequest,
    filters: Query[VisitFilters],
    limit: int = LIMIT_QUERY,
    cursor: str | None = CURSOR_QUERY,
) -> dict:
    qs = selectors.visit_list(actor=member(request), **filters.dict())
    return paginate(qs, order=("slot_start", "id"), limit=limit, cursor=cursor)


@router.get("/visits/{visit_id}", response={200: VisitOut, **ERRORS}, summary="Get a field visit")
def visit_detail(request: HttpRequest, visit_id: int) -> object:
    return selectors.get_visit_for(member(request), visit_id)


@router.get(
    "/tickets/{ticket_id}/visits", response={200: list[VisitOut], **ERRORS}, summary="A ticket's field visits"
)
def ticket_visits(request: HttpRequest, ticket_id: int) -> list:
    actor = member(request)
    ticket = get_ticket_for(actor, ticket_id)
    return list(selectors.visit_list(actor=actor, ticket_id=ticket.pk)[:200])


@router.post(
    "/tickets/{ticket_id}/visits", response={201: VisitOut, **ERRORS}, summary="Schedule a field visit"
)
def visit_add(request: HttpRequest, ticket_id: int, payload: VisitIn) -> Status:
    visit = services.visit_schedule(actor=member(request), ticket=ticket_id, **payload.dict())
    return Status(201, visit)


@router.post("/visits/{visit_id}/check-in", response={200: VisitOut, **ERRORS}, summary="Check in on site")
def visit_check_in(request: HttpRequest, visit_id: int) -> object:
    actor = member(request)
    selectors.get_visit_for(actor, visit_id)
    return services.visit_check_in(actor=actor, visit_id=visit_id)


@router.post(
    "/visits/{visit_id}/check-out",
    response={200: VisitOut, **ERRORS},
    summary="Check out with the result, parts used and the customer's sign-off",
)
def visit_check_out(request: HttpRequest, visit_id: int, payload: CheckOutIn) -> object:
    actor = member(request)
    selectors.get_visit_for(actor, visit_id)
    return services.visit_check_out(
        actor=actor,
        visit_id=visit_id,
        result=payload.result,
        parts_used=[p.dict() for p in payload.parts_used],
        signed_by=payload.signed_by,
        signature=_decode(payload.signature, "signature") if payload.signature else None,
        photos=[_decode(f, f"photos.{i}") for i, f in enumerate(payload.photos)],
    )


@router.post("/visits/{visit_id}/cancel", response={200: VisitOut, **ERRORS}, summary="Cancel a field visit")
def visit_cancel(request: HttpRequest, visit_id: int, payload: CancelIn) -> object:
    actor = member(request)
    selectors.get_visit_for(actor, visit_id)
    return services.visit_cancel(actor=actor, visit_id=visit_id, reason=payload.reason)


@router.post(
    "/customers/{customer_id}/portal-link",
    response={201: PortalLinkOut, **ERRORS},
    summary="Make a customer's portal link",
    description="A signed link that lets the customer see and answer their own tickets and open new ones, "
    "without signing in, until it expires. Not stored: make a new one any time.",
)
def portal_link_add(request: HttpRequest, customer_id: int, payload: PortalLinkIn) -> Status:
    link = portal.portal_link_create(actor=member(request), customer_id=customer_id, days=payload.days)
    return Status(201, {"url": link.url, "expires_at": link.expires_at})


@router.post(
    "/customers/{customer_id}/portal-link/revoke",
    response={200: PortalRevokedOut, **ERRORS},
    summary="Withdraw a customer's portal links",
    description="Every portal link of the customer made until now stops working at once (the page says the link "
    "was withdrawn); links made afterwards work. Audited.",
)
def portal_link_revoke(request: HttpRequest, customer_id: int) -> dict:
    return {"revoked_at": portal.portal_links_revoke(actor=member(request), customer_id=customer_id)}
