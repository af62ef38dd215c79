"""API routes of lead to cash (销售到回款): products, price lists, discount rules and approvals, quotes (with their
PDF), orders and returns. Reads through ``selectors_cash``, writes through the services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status

from guanxi.core.api_support import CURSOR_QUERY, LIMIT_QUERY, ErrorOut, member, page_of, paginate
from guanxi.sales import selectors_cash as sel
from guanxi.sales.pdf import quote_pdf
from guanxi.sales.services import orders, products, quotes
from guanxi.workspaces import permissions
from guanxi.workspaces.permissions import Module

router = Router(tags=["sales: lead to cash"])
ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 409, 422, 429)}


# --- products ----------------------------------------------------------------------------------------------------
class ProductOut(Schema):
    id: int
    sku: str
    name: str
    unit: str
    tax_rate: Decimal
    list_price: Decimal
    currency: str
    is_active: bool


class ProductIn(Schema):
    sku: str = Field(max_length=64)
    name: str = Field(max_length=200)
    unit: str = Field("件", max_length=20)
    tax_rate: Decimal = Field(Decimal("13"), description="VAT %: 13, 9, 6, 0 or any other rate")
    list_price: Decimal
    currency: str = Field("CNY", max_length=3)
    is_active: bool = True


class ProductPatch(Schema):
    sku: str | None = Field(None, max_length=64)
    name: str | None = Field(None, max_length=200)
    unit: str | None = Field(None, max_length=20)
    tax_rate: Decimal | None = None
    list_price: Decimal | None = None
    currency: str | None = Field(None, max_length=3)
    is_active: bool | None = None


def _sales_view(request: HttpRequest):  # noqa: ANN202
    actor = member(request)
    permissions.require(actor, Module.SALES, "view")
    return actor


@router.get("/products", response={200: page_of(ProductOut), **ERRORS}, summary="List products")
def product_index(request: HttpRequest, limit: int = LIMIT_QUERY, cursor: str | None = CURSOR_QUERY) -> dict:
    _sales_view(request)
    return paginate(sel.product_list(), order=("sku", "id"), limit=limit, cursor=cursor)


@router.post("/products", response={201: ProductOut, **ERRORS}, summary="Create a product")
def product_add(request: HttpRequest, payload: ProductIn) -> Status:
    return Status(201, products.product_create(actor=member(request), **payload.dict()))


@router.get("/products/{product_id}", response={200: ProductOut, **ERRORS}, summary="Get a product")
def product_detail(request: HttpRequest, product_id: int) -> object:
    _sales_view(request)
    return products.get_product(product_id)


@router.patch("/products/{product_id}", response={200: ProductOut, **ERRORS}, summary="Change a product")
def product_change(request: HttpRequest, product_id: int, payload: ProductPatch) -> object:
    data = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    return products.product_update(actor=member(request), product_id=product_id, **data)


# --- price lists and discount rules ------------------------------------------------------------------------------
class PriceItemIO(Schema):
    product_id: int
    price: Decimal


class PriceListOut(Schema):
    id: int
    name: str
    basis: str
    value: str
    currency: str
    is_active: bool
    items: list[PriceItemIO]

    @staticmethod
    def resolve_items(obj: object) -> list:
        return [{"product_id": i.product_id, "price": i.price} for i in obj.items.all()]  # type: ignore[attr-defined]


class PriceListIn(Schema):
    name: str = Field(max_length=100)
    basis: Literal["tier", "region"]
    value: str = Field(max_length=50, description="The customer tier (custom field 'tier') or the province.")
    currency: str = Field("CNY", max_length=3)
    is_active: bool = True
    items: list[PriceItemIO] = []


@router.get("/price-lists", response={200: list[PriceListOut], **ERRORS}, summary="List price lists")
def pricelist_index(request: HttpRequest) -> list:
    _sales_view(request)
    return list(sel.pricelist_list())


@router.post("/price-lists", response={201: PriceListOut, **ERRORS}, summary="Create a price list")
def pricelist_add(request: HttpRequest, payload: PriceListIn) -> Status:
    data = payload.dict()
    return Status(201, products.pricelist_save(actor=member(request), **data))


@router.put(
    "/price-lists/{pricelist_id}", response={200: PriceListOut, **ERRORS}, summary="Replace a price list"
)
def pricelist_put(request: HttpRequest, pricelist_id: int, payload: PriceListIn) -> object:
    actor = member(request)
    _sales_view(request)
    products.get_pricelist(pricelist_id)
    return products.pricelist_save(actor=actor, pricelist_id=pricelist_id, **payload.dict())


class DiscountRuleIn(Schema):
    role: str
    max_discount: Decimal


class DiscountRuleOut(Schema):
    role: str
    max_discount: Decimal


@router.put(
    "/discount-rules", response={200: DiscountRuleOut, **ERRORS}, summary="Set a role's discount limit"
)
def discountrule_put(request: HttpRequest, payload: DiscountRuleIn) -> object:
    return products.discountrule_set(actor=member(request), **payload.dict())


# --- quotes ------------------------------------------------------------------------------------------------------
class LineIn(Schema):
    product_id: int | None = None
    description: str = Field("", max_length=200)
    unit: str = Field("", max_length=20)
    quantity: Decimal
    unit_price: Decimal | None = Field(
        None, description="Default: the customer's price-list price of the product."
    )
    discount_pct: Decimal = Decimal("0")
    tax_rate: Decimal | None = Field(None, description="Default: the product's VAT rate.")


class LineOut(Schema):
    id: int
    product_id: int | None
    description: str
    unit: str
    quantity: Decimal
    unit_price: Decimal
    discount_pct: Decimal
    tax_rate: Decimal
    amount: Decimal
    discount_amount: Decimal
    tax_amount: Decimal
    total: Decimal


class QuoteOut(Schema):
    id: int
    number: str
    version: int
    customer_id: int
    opportunity_id: int | None
    title: str
    status: str
    currency: str
    valid_until: dt.date | None
    email: str
    notes: str
    subtotal: Decimal
    discount_total: Decimal
    tax_total: Decimal
    total: Decimal
    owner_id: int | None
    sent_at: dt.datetime | None
    created_at: dt.datetime
    lines: list[LineOut]

    @staticmethod
    def resolve_lines(obj: object) -> list:
        return list(obj.lines.all())  # type: ignore[attr-defined]


class QuoteIn(Schema):
    customer_id: int | None = None
    opportunity_id: int | None = None
    title: str = Field(max_length=200)
    currency: str = Field("CNY", max_length=3)
    valid_until: dt.date | None = None
    email: str = Field("", max_length=254)
    notes: str = Field("", max_length=5000)
    lines: list[LineIn]


class QuotePatch(Schema):
    title: str | None = Field(None, max_length=200)
    valid_until: dt.date | None = None
    email: str | None = Field(None, max_length=254)
    notes: str | None = Field(None, max_length=5000)
    lines: list[LineIn] | None = None


class CommentIn(Schema):
    comment: str = Field("", max_length=500)


class ReasonIn(Schema):
    reason: str = Field("", max_length=500)


class SendIn(Schema):
    email: str | None = Field(None, max_length=254)


class ApprovalOut(Schema):
    id: int
    quote_id: int
    max_discount: Decimal
    status: str
    requested_by_id: int | None
    request_comment: str
    decided_by_id: int | None
    decision_comment: str
    requested_at: dt.datetime
    decided_at: dt.datetime | None


class DecideIn(Schema):
    approve: bool
    comment: str = Field("", max_length=500)


def _lines(items: list[LineIn] | None) -> list[dict] | None:
    return None if items is None else [i.dict() for i in items]


@router.get("/quotes", response={200: page_of(QuoteOut), **ERRORS}, summary="List quotes")
def quote_index(request: HttpRequest, limit: int = LIMIT_QUERY, cursor: str | None = CURSOR_QUERY) -> dict:
    qs = sel.quote_list(actor=member(request)).prefetch_related("lines")
    return paginate(qs, order=("-created_at", "-id"), limit=limit, cursor=cursor)


@router.post("/quotes", response={201: QuoteOut, **ERRORS}, summary="Create a draft quote")
def quote_add(request: HttpRequest, payload: QuoteIn) -> Status:
    data = payload.dict()
    data["lines"] = _lines(payload.lines)
    return Status(201, quotes.quote_create(actor=member(request), **data))


@router.get("/quotes/{quote_id}", response={200: QuoteOut, **ERRORS}, summary="Get a quote version")
def quote_detail(request: HttpRequest, quote_id: int) -> object:
    return sel.get_quote_for(member(request), quote_id)


@router.patch(
    "/quotes/{quote_id}",
    response={200: QuoteOut, **ERRORS},
    summary="Edit a quote",
    description="A sent or rejected quote gets a new version, which is returned. An accepted quote: 409.",
)
def quote_change(request: HttpRequest, quote_id: int, payload: QuotePatch) -> object:
    data = payload.dict(exclude_unset=True)
    data["lines"] = _lines(payload.lines) if "lines" in data else None
    return quotes.quote_update(actor=member(request), quote_id=quote_id, **data)


@router.get("/quotes/{quote_id}/pdf", response={200: None, **ERRORS}, summary="The quote as PDF")
def quote_pdf_get(request: HttpRequest, quote_id: int) -> HttpResponse:
    quote = sel.get_quote_for(member(request), quote_id)
    resp = HttpResponse(quote_pdf(quote), content_type="application/pdf")
    resp["Content-Disposition"] = f'inline; filename="{quote.number}-v{quote.version}.pdf"'
    return resp


@router.post(
    "/quotes/{quote_id}/approval", response={201: ApprovalOut, **ERRORS}, summary="Ask for discount approval"
)
def quote_approval(request: HttpRequest, quote_id: int, payload: CommentIn) -> Status:
    return Status(
        201, quotes.quote_request_approval(actor=member(request), quote_id=quote_id, comment=payload.comment)
    )


@router.post("/quotes/{quote_id}/send", response={200: QuoteOut, **ERRORS}, summary="Send the quote by email")
def quote_send(request: HttpRequest, quote_id: int, payload: SendIn) -> object:
    return quotes.quote_send(actor=member(request), quote_id=quote_id, email=payload.email)


@router.post("/quotes/{quote_id}/accept", response={200: QuoteOut, **ERRORS}, summary="Record acceptance")
def quote_accept(request: HttpRequest, quote_id: int, payload: ReasonIn) -> object:
    return quotes.quote_accept(actor=member(request), quote_id=quote_id, reason=payload.reason)


@router.post("/quotes/{quote_id}/reject", response={200: QuoteOut, **ERRORS}, summary="Record rejection")
def quote_reject(request: HttpRequest, quote_id: int, payload: ReasonIn) -> object:
    return quotes.quote_reject(actor=member(request), quote_id=quote_id, reason=payload.reason)


@router.get(
    "/discount-approvals",
    response={200: list[ApprovalOut], **ERRORS},
    summary="Pending approvals I may decide",
)
def approval_index(request: HttpRequest) -> list:
    return list(sel.approval_list(actor=member(request))[:200])


@router.post(
    "/discount-approvals/{approval_id}/decide",
    response={200: ApprovalOut, **ERRORS},
    summary="Approve or reject",
)
def approval_decide(request: HttpRequest, approval_id: int, payload: DecideIn) -> object:
    return quotes.approval_decide(actor=member(request), approval_id=approval_id, **payload.dict())


# --- orders and returns ------------------------------------------------------------------------------------------
class OrderOut(Schema):
    id: int
    number: str
    customer_id: int
    quote_id: int | None
    status: str
    currency: str
    subtotal: Decimal
    discount_total: Decimal
    tax_total: Decimal
    total: Decimal
    owner_id: int | None
    ordered_at: dt.datetime
    external_id: str = Field(
        description="The order's id in the ERP or import file; empty for orders made here."
    )
    source: str = Field(description="manual, quote, import or erp.")
    lines: list[LineOut]

    @staticmethod
    def resolve_lines(obj: object) -> list:
        return list(obj.lines.all())  # type: ignore[attr-defined]


class OrderIn(Schema):
    customer_id: int | None = None
    quote_id: int | None = Field(None, description="Make the order from this accepted quote (lines copied).")
    currency: str = Field("CNY", max_length=3)
    lines: list[LineIn] = []


class StatusIn(Schema):
    status: str


class ReturnLineIO(Schema):
    order_line_id: int
    quantity: Decimal


class ReturnIn(Schema):
    reason: str = Field(max_length=500)
    refund_amount: Decimal | None = Field(None, description="Default: the returned lines' totals pro rata.")
    lines: list[ReturnLineIO]


class ReturnOut(Schema):
    id: int
    order_id: int
    reason: str
    refund_amount: Decimal
    status: str
    created_at: dt.datetime
    lines: list[ReturnLineIO]

    @staticmethod
    def resolve_lines(obj: object) -> list:
        return [{"order_line_id": ln.order_line_id, "quantity": ln.quantity} for ln in obj.lines.all()]  # type: ignore[attr-defined]


@router.get("/orders", response={200: page_of(OrderOut), **ERRORS}, summary="List orders")
def order_index(request: HttpRequest, limit: int = LIMIT_QUERY, cursor: str | None = CURSOR_QUERY) -> dict:
    qs = sel.order_list(actor=member(request)).prefetch_related("lines")
    return paginate(qs, order=("-ordered_at", "-id"), limit=limit, cursor=cursor)


@router.post(
    "/orders", response={201: OrderOut, **ERRORS}, summary="Create an order (by hand or from a quote)"
)
def order_add(request: HttpRequest, payload: OrderIn) -> Status:
    actor = member(request)
    if payload.quote_id is not None:
        return Status(201, orders.order_create_from_quote(actor=actor, quote_id=payload.quote_id))
    return Status(
        201,
        orders.order_create(
            actor=actor,
            customer_id=payload.customer_id,
            currency=payload.currency,
            lines=_lines(payload.lines) or [],
        ),
    )


@router.get("/orders/{order_id}", response={200: OrderOut, **ERRORS}, summary="Get an order")
def order_detail(request: HttpRequest, order_id: int) -> object:
    return sel.get_order_for(member(request), order_id)


@router.post(
    "/orders/{order_id}/status", response={200: OrderOut, **ERRORS}, summary="Change an order's status"
)
def order_status(request: HttpRequest, order_id: int, payload: StatusIn) -> object:
    return orders.order_set_status(actor=member(request), order_id=order_id, status=payload.status)


@router.get(
    "/orders/{order_id}/returns", response={200: list[ReturnOut], **ERRORS}, summary="Returns of an order"
)
def return_index(request: HttpRequest, order_id: int) -> list:
    order = sel.get_order_for(member(request), order_id)
    return list(order.returns.prefetch_related("lines"))


@router.post("/orders/{order_id}/returns", response={201: ReturnOut, **ERRORS}, summary="Record a return")
def return_add(request: HttpRequest, order_id: int, payload: ReturnIn) -> Status:
    return Status(
        201,
        orders.return_create(
            actor=member(request), order_id=order_id, reason=payload.reason, refund_amount=payload.refund_amount,
            lines=[ln.dict() for ln in payload.lines],
        ),
    )  # fmt: skip


@router.post(
    "/returns/{return_id}/status", response={200: ReturnOut, **ERRORS}, summary="Change a return's status"
)
def return_status(request: HttpRequest, return_id: int, payload: StatusIn) -> object:
    return orders.return_set_status(actor=member(request), return_id=return_id, status=payload.status)
