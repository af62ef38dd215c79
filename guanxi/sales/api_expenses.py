"""API routes of expense claims (报销): claims with items, receipts uploaded as multipart, submit, decide, pay.

Reads through ``selectors_expenses`` (the claimant's sales scope), writes through ``services.expenses``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from django.http import FileResponse, HttpRequest
from ninja import Field, File, Router, Schema, Status
from ninja.files import UploadedFile

from guanxi.core.api_support import CURSOR_QUERY, LIMIT_QUERY, ErrorOut, member, page_of, paginate
from guanxi.sales import selectors_expenses as sel
from guanxi.sales.services import expenses

router = Router(tags=["sales: expense claims"])
ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 409, 413, 422, 429)}


class ItemIn(Schema):
    spent_on: dt.date
    category: Literal["travel", "lodging", "meals", "transport", "gifts", "office", "other"]
    amount: Decimal = Field(description="More than zero, at most two decimals.")
    description: str = Field("", max_length=300)
    customer_id: int | None = None
    opportunity_id: int | None = None


class ItemOut(Schema):
    id: int
    spent_on: dt.date
    category: str
    amount: Decimal
    description: str
    customer_id: int | None
    opportunity_id: int | None


class ReceiptOut(Schema):
    id: int
    original_name: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: dt.datetime


class ClaimOut(Schema):
    id: int
    number: str
    owner_id: int
    title: str
    currency: str
    total: Decimal
    status: str
    submitted_at: dt.datetime | None
    decided_by_id: int | None
    decided_at: dt.datetime | None
    decision_comment: str
    paid_at: dt.datetime | None
    created_at: dt.datetime
    items: list[ItemOut]
    receipts: list[ReceiptOut]

    @staticmethod
    def resolve_items(obj: object) -> list:
        return list(obj.items.all())  # type: ignore[attr-defined]

    @staticmethod
    def resolve_receipts(obj: object) -> list:
        return list(obj.receipts.all())  # type: ignore[attr-defined]


class ClaimIn(Schema):
    title: str = Field(max_length=200)
    currency: str = Field("CNY", max_length=3)
    items: list[ItemIn] = []


class ClaimPatch(Schema):
    title: str | None = Field(None, max_length=200)
    items: list[ItemIn] | None = None


class DecideIn(Schema):
    approve: bool
    comment: str = Field("", max_length=500, description="Required to reject.")


@router.get("/expense-claims", response={200: page_of(ClaimOut), **ERRORS}, summary="List expense claims")
def claim_index(
    request: HttpRequest,
    status: str = "",
    mine: bool = False,
    limit: int = LIMIT_QUERY,
    cursor: str | None = CURSOR_QUERY,
) -> dict:
    qs = sel.claim_list(actor=member(request), status=status, mine=mine).prefetch_related("items", "receipts")
    return paginate(qs, order=("-created_at", "-id"), limit=limit, cursor=cursor)


@router.post("/expense-claims", response={201: ClaimOut, **ERRORS}, summary="File a draft expense claim")
def claim_add(request: HttpRequest, payload: ClaimIn) -> Status:
    data = payload.dict()
    return Status(201, expenses.claim_create(actor=member(request), **data))


@router.get("/expense-claims/{claim_id}", response={200: ClaimOut, **ERRORS}, summary="Get an expense claim")
def claim_detail(request: HttpRequest, claim_id: int) -> object:
    return sel.get_claim_for(member(request), claim_id)


@router.patch(
    "/expense-claims/{claim_id}",
    response={200: ClaimOut, **ERRORS},
    summary="Change a draft claim",
    description="Items, when given, replace all items. After submission: 409.",
)
def claim_change(request: HttpRequest, claim_id: int, payload: ClaimPatch) -> object:
    data = payload.dict(exclude_unset=True)
    return expenses.claim_update(
        actor=member(request), claim_id=claim_id, title=data.get("title"), items=data.get("items")
    )


@router.post("/expense-claims/{claim_id}/submit", response={200: ClaimOut, **ERRORS}, summary="Submit")
def claim_submit(request: HttpRequest, claim_id: int) -> object:
    return expenses.claim_submit(actor=member(request), claim_id=claim_id)


@router.post(
    "/expense-claims/{claim_id}/decide", response={200: ClaimOut, **ERRORS}, summary="Approve or reject"
)
def claim_decide(request: HttpRequest, claim_id: int, payload: DecideIn) -> object:
    return expenses.claim_decide(actor=member(request), claim_id=claim_id, **payload.dict())


@router.post(
    "/expense-claims/{claim_id}/reopen", response={200: ClaimOut, **ERRORS}, summary="Reopen a rejected claim"
)
def claim_reopen(request: HttpRequest, claim_id: int) -> object:
    return expenses.claim_reopen(actor=member(request), claim_id=claim_id)


@router.post("/expense-claims/{claim_id}/pay", response={200: ClaimOut, **ERRORS}, summary="Record payment")
def claim_pay(request: HttpRequest, claim_id: int) -> object:
    return expenses.claim_mark_paid(actor=member(request), claim_id=claim_id)


@router.post(
    "/expense-claims/{claim_id}/receipts",
    response={201: ReceiptOut, **ERRORS},
    summary="Upload a receipt (multipart, field 'file')",
    description="PDF, JPEG, PNG or WebP, recognised by content; at most 10 MB by default.",
)
def receipt_add(request: HttpRequest, claim_id: int, file: File[UploadedFile]) -> Status:
    receipt = expenses.receipt_add(
        actor=member(request), claim_id=claim_id, name=file.name or "", content=file, size=file.size
    )
    return Status(201, receipt)


@router.get(
    "/expense-claims/{claim_id}/receipts/{receipt_id}",
    response={200: None, **ERRORS},
    summary="Download a receipt",
)
def receipt_get(request: HttpRequest, claim_id: int, receipt_id: int) -> FileResponse:
    receipt = sel.get_receipt_for(member(request), claim_id, receipt_id)
    return receipt_response(receipt)


@router.delete(
    "/expense-claims/{claim_id}/receipts/{receipt_id}",
    response={204: None, **ERRORS},
    summary="Remove a receipt from a draft",
)
def receipt_remove(request: HttpRequest, claim_id: int, receipt_id: int) -> Status:
    expenses.receipt_delete(actor=member(request), claim_id=claim_id, receipt_id=receipt_id)
    return Status(204, None)


def receipt_response(receipt: object) -> FileResponse:
    """The receipt's bytes, as a download (never rendered inline: a PDF or image from a user stays inert)."""
    resp = FileResponse(
        receipt.file.open("rb"),  # type: ignore[attr-defined]
        content_type=receipt.content_type,  # type: ignore[attr-defined]
        as_attachment=True,
        filename=receipt.original_name,  # type: ignore[attr-defined]
    )
    resp["X-Content-Type-Options"] = "nosniff"
    return resp
